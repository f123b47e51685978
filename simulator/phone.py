"""The "try it" phone page: call the hotline from a browser, through the simulator.

Whoever edits the voice menu places a call here, reads (and hears) each prompt
as the caller would, answers with the keypad or a typed phrase, and follows
the call into a queue and to a hotliner. The page is plain HTML and JavaScript
served by the carrier's Flask app; the call is an ordinary simulated call whose
caller is a `CallerInbox` filled by the page.

Routes (no Twilio auth: a local tool, served on loopback with the carrier):

    GET  /phone                              the page
    POST /phone/api/calls                    {"from": "+336…"} -> 201 {"sid": …}
    GET  /phone/api/calls/<sid>/events?after=N   state + transcript entries >= N
    POST /phone/api/calls/<sid>/keys         {"keys": "2"} -> {"heard": bool}
    POST /phone/api/calls/<sid>/speech       {"text": "…"} -> {"heard": bool}
    POST /phone/api/calls/<sid>/hangup       -> {"ended": bool}

POST bodies must be JSON: a cross-site form cannot send that without a CORS
preflight this app never grants, so another web page cannot place calls.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
)

from simulator.errors import SimulatorError
from simulator.inbox import CallerInbox
from simulator.scripts import CallerScript
from simulator.state import Call

if TYPE_CHECKING:
    from simulator.carrier import Carrier

#: A call whose page has not polled for this long (real seconds) is hung up.
ABANDON_AFTER_SECONDS = 120.0
_NUMBER = re.compile(r"^\+?[0-9]{4,15}$")
_KEYS = re.compile(r"^[0-9*#]{1,20}$")
_MAX_PHRASE = 300

phone = Blueprint(
    "phone",
    __name__,
    url_prefix="/phone",
    template_folder="templates",
    static_folder="static",
)


class PhoneError(SimulatorError):
    """A phone page request the simulator cannot serve; `.status` is the HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class PhoneLines:
    """The calls placed from the page, and when each page last asked about it."""

    def __init__(self, abandon_after: float = ABANDON_AFTER_SECONDS) -> None:
        self.abandon_after = abandon_after
        self._lock = threading.Lock()
        self._last_seen: dict[str, float] = {}

    def add(self, call_sid: str) -> None:
        with self._lock:
            self._last_seen[call_sid] = time.monotonic()

    def seen(self, call_sid: str) -> None:
        with self._lock:
            if call_sid in self._last_seen:
                self._last_seen[call_sid] = time.monotonic()

    def owns(self, call_sid: str) -> bool:
        with self._lock:
            return call_sid in self._last_seen

    def hang_up_abandoned(self, carrier: Carrier) -> list[str]:
        """Hangs up the calls whose page went away without hanging up."""
        cutoff = time.monotonic() - self.abandon_after
        with self._lock:
            stale = [sid for sid, seen in self._last_seen.items() if seen < cutoff]
            for sid in stale:
                del self._last_seen[sid]
        return [sid for sid in stale if carrier.hang_up(sid, "phone page closed")]


def place_interactive_call(
    carrier: Carrier, from_number: str, *, to_number: str | None = None
) -> Call:
    """An inbound call whose caller is a person (or a test) using the inbox.

    The caller never loses patience in a queue: they hang up themselves.
    """
    script = CallerScript(
        from_number,
        inbox=CallerInbox(),
        patience_seconds=math.inf,
        to_number=to_number,
    )
    return carrier.place_call(script)


def _carrier() -> Carrier:
    carrier: Carrier = current_app.extensions["simulator.carrier"]
    return carrier


def _lines() -> PhoneLines:
    lines = current_app.extensions.setdefault("simulator.phone", PhoneLines())
    assert isinstance(lines, PhoneLines)
    return lines


@phone.errorhandler(PhoneError)
def phone_error(error: PhoneError) -> tuple[Response, int]:
    return jsonify({"error": str(error)}), error.status


@phone.before_request
def sweep() -> None:
    if request.endpoint != "phone.static":
        _lines().hang_up_abandoned(_carrier())


@phone.get("")
@phone.get("/")
def page() -> str:
    carrier = _carrier()
    return render_template(
        "phone.html",
        hotline_number=carrier.config.hotline_number,
        default_caller="+336" + "".join(random.choices("0123456789", k=8)),
        time_scale=carrier.config.time_scale,
    )


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise PhoneError(415, "send a JSON body (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise PhoneError(400, "the JSON body must be an object")
    return body


def _phone_inbox(call_sid: str) -> CallerInbox:
    """The inbox of a call placed from the page (only those take input)."""
    call = _carrier().calls.get(call_sid)
    if call is None:
        raise PhoneError(404, f"no call {call_sid}")
    inbox = call.script.inbox if call.script is not None else None
    if inbox is None or not _lines().owns(call_sid):
        raise PhoneError(409, f"{call_sid} was not placed from the phone page")
    _lines().seen(call_sid)
    return inbox


@phone.post("/api/calls")
def create_call() -> tuple[Response, int]:
    body = _json_body()
    from_number = str(body.get("from") or "").replace(" ", "")
    if not _NUMBER.match(from_number):
        raise PhoneError(400, "the caller number must look like +33612345678")
    try:
        call = place_interactive_call(_carrier(), from_number)
    except SimulatorError as exc:
        raise PhoneError(503, str(exc)) from exc
    _lines().add(call.sid)
    return jsonify({"sid": call.sid, "from": call.from_number, "to": call.to}), 201


@phone.get("/api/calls/<call_sid>/events")
def events(call_sid: str) -> Response:
    """What happened on the call since entry `after`, and where it is now."""
    carrier = _carrier()
    board = carrier.board
    try:
        after = max(0, int(request.args.get("after", "0")))
    except ValueError:
        raise PhoneError(400, "after must be an integer") from None
    _lines().seen(call_sid)
    with board.lock:
        call = carrier.calls.get(call_sid)
        if call is None:
            raise PhoneError(404, f"no call {call_sid}")
        entries = list(call.transcript)
        queue = call.queue
        queue_state = (
            None
            if queue is None
            else {
                "name": queue.name,
                "position": (
                    queue.members.index(call) + 1 if call in queue.members else None
                ),
                "size": len(queue.members),
            }
        )
        connected = board.is_connected(call)
        state = {
            "sid": call.sid,
            "from": call.from_number,
            "to": call.to,
            "status": call.status,
            "live": call.is_live,
            "queue": queue_state,
            "connected": connected,
        }
    inbox = call.script.inbox if call.script is not None else None
    listening = inbox.listening if inbox is not None else None
    state["listening"] = (
        None
        if listening is None
        else {
            "verb": listening.verb,
            "input": sorted(listening.input),
            "language": listening.language,
            "num_digits": listening.num_digits,
            "finish_on_key": listening.finish_on_key,
            "prompting": inbox.prompting if inbox is not None else False,
        }
    )
    state["events"] = [
        {
            "n": n,
            "kind": entry.kind,
            "detail": entry.detail,
            "language": entry.language,
            "queue": entry.queue,
        }
        for n, entry in enumerate(entries)
        if n >= after
    ]
    state["next"] = len(entries)
    return jsonify(state)


@phone.post("/api/calls/<call_sid>/keys")
def press(call_sid: str) -> Response:
    keys = str(_json_body().get("keys") or "")
    if not _KEYS.match(keys):
        raise PhoneError(400, "keys are 0-9, * and #")
    return jsonify({"heard": _phone_inbox(call_sid).press(keys)})


@phone.post("/api/calls/<call_sid>/speech")
def speak(call_sid: str) -> Response:
    text = " ".join(str(_json_body().get("text") or "").split())
    if not text or len(text) > _MAX_PHRASE:
        raise PhoneError(400, f"say between 1 and {_MAX_PHRASE} characters")
    return jsonify({"heard": _phone_inbox(call_sid).say(text)})


@phone.post("/api/calls/<call_sid>/hangup")
def hang_up(call_sid: str) -> Response:
    _json_body()
    _phone_inbox(call_sid)
    return jsonify({"ended": _carrier().hang_up(call_sid)})
