"""The softphone: a person answers hotliner legs in a browser, as with Twilio's SDK.

Twilio's Voice JavaScript SDK registers a browser as `client:<identity>` with
an access token the app issues (`AccessToken` + `VoiceGrant(incoming_allow)`);
calls to that client then ring in the page until the person accepts or rejects
them. The simulator plays the carrier's side over plain HTTP, and
`web/static/sim-device.js` plays the SDK's `Twilio.Device` on top of it:

    GET  /softphone/api/events                  text/event-stream (?token= allowed:
                                                EventSource cannot send headers)
    POST /softphone/api/calls/<leg>/accept      answers the ringing leg
    POST /softphone/api/calls/<leg>/reject      the ringing leg ends "busy"
    POST /softphone/api/calls/<leg>/hangup      answered: "completed"; ringing: reject
    POST /softphone/api/calls/<leg>/digits      {"digits": "12#"}: DTMF on the call

Events: `ready` {identity}, `incoming` {CallSid, From, To}, `cancel` {CallSid}
(the leg stopped ringing unanswered: caller gone, app ended it, ring timeout,
or a reject, which the person's other tabs see too), `accept` {CallSid}
(answered), `disconnect` {CallSid} (ended after being answered); a
`: keepalive` comment every `softphone_keepalive_seconds`.

While one events stream of `alice` is open, `client:alice` is a person: the
simulated hotliner registered there steps aside, and comes back
`softphone_grace_seconds` after the last stream closed. Everything else (status
callbacks, the answer webhook, conferences) is the carrier's usual call engine.

Authentication is the access token only (no Twilio basic auth: a browser holds
the token, never the account's credentials); errors answer `{"error": reason}`.
Pages served from `CarrierConfig.console_origins` may call the API (CORS).

`Softphone` drives the same operations from Python, for end-to-end tests.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jwt
from flask import Blueprint, Response, current_app, g, jsonify, request

from simulator.errors import SimulatorError
from simulator.state import Call, SoftphoneEvent, SoftphoneFeed

if TYPE_CHECKING:
    from simulator.carrier import Carrier

_DIGITS = re.compile(r"^[0-9*#]{1,20}$")

softphone = Blueprint("softphone", __name__, url_prefix="/softphone")


class SoftphoneError(SimulatorError):
    """A softphone request the carrier refuses; `.status` is the HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


# Access tokens -----------------------------------------------------------------


def verify_access_token(token: str, *, account_sid: str, secret: str) -> str:
    """The identity a Voice access token registers; `SoftphoneError(401)` if none.

    Checks what Twilio checks before letting a Device receive calls: the
    signature (HS256 with the API key's secret), the expiry, the account
    (`sub`), an identity and a voice grant that allows incoming calls.
    """
    if not token:
        raise SoftphoneError(401, "no access token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise SoftphoneError(401, "the access token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise SoftphoneError(401, f"invalid access token: {exc}") from None
    if claims["sub"] != account_sid:
        raise SoftphoneError(401, "the access token is for another account")
    grants = claims.get("grants")
    if not isinstance(grants, dict):
        raise SoftphoneError(401, "the access token has no grants")
    identity = grants.get("identity")
    if not isinstance(identity, str) or not identity:
        raise SoftphoneError(401, "the access token has no identity")
    voice = grants.get("voice")
    incoming = voice.get("incoming") if isinstance(voice, dict) else None
    if not isinstance(incoming, dict) or incoming.get("allow") is not True:
        raise SoftphoneError(401, "the access token does not allow incoming calls")
    return identity


# What a softphone does (the routes and `Softphone` share these) ------------------


def accept_call(carrier: Carrier, identity: str, call_sid: str) -> None:
    """Answers the ringing leg; the call's thread then fetches the app's TwiML."""
    with carrier.board.lock:
        call = _leg(carrier, identity, call_sid)
        if not carrier.board.is_ringing_softphone(call):
            raise SoftphoneError(409, f"{call_sid} is not ringing ({call.status})")
        call.answer_requested = True
        call.wake.set()


def reject_call(carrier: Carrier, identity: str, call_sid: str) -> None:
    """The person declines: the leg ends `busy`, what Twilio reports for it."""
    with carrier.board.lock:
        call = _leg(carrier, identity, call_sid)
        if not carrier.board.is_ringing_softphone(call):
            raise SoftphoneError(409, f"{call_sid} is not ringing ({call.status})")
        carrier.board.request_end(call, "busy", "rejected on the softphone")


def hang_up_call(carrier: Carrier, identity: str, call_sid: str) -> None:
    """Ends the person's leg: a ringing one is rejected."""
    with carrier.board.lock:
        call = _leg(carrier, identity, call_sid)
        if carrier.board.is_ringing_softphone(call):
            carrier.board.request_end(call, "busy", "rejected on the softphone")
        elif call.is_live and call.end_requested is None and call.answer_requested:
            carrier.board.request_end(call, "completed", "hotliner hung up")
        else:
            raise SoftphoneError(409, f"{call_sid} is not live ({call.status})")


def send_digits(carrier: Carrier, identity: str, call_sid: str, digits: str) -> bool:
    """DTMF the person types during the call; True if a `<Gather>` of the leg
    heard it (elsewhere, in a conference say, the tones just go down the line)."""
    if not _DIGITS.match(digits):
        raise SoftphoneError(400, "digits are 1 to 20 of 0-9, * and #")
    with carrier.board.lock:
        call = _leg(carrier, identity, call_sid)
        if call.status != "in-progress" or call.end_requested is not None:
            raise SoftphoneError(409, f"{call_sid} is not answered ({call.status})")
        call.note("digits", digits)
        inbox = call.inbox
    return inbox is not None and inbox.press(digits)


def _leg(carrier: Carrier, identity: str, call_sid: str) -> Call:
    """The person's leg (lock held): 404 unknown, 403 someone else's."""
    call = carrier.board.calls.get(call_sid)
    if call is None:
        raise SoftphoneError(404, f"no call {call_sid}")
    if call.to != f"client:{identity}":
        raise SoftphoneError(403, f"{call_sid} does not ring at client:{identity}")
    return call


class Softphone:
    """A person's softphone driven from Python: what the browser page does.

    Open, it holds `client:<identity>` exactly like an events stream, so an
    end-to-end test can answer the app's legs as a person would:

        with Softphone(carrier, "alice") as phone:
            ringing = phone.wait_for("incoming")
            phone.accept(ringing.data["CallSid"])
    """

    def __init__(self, carrier: Carrier, identity: str) -> None:
        self.carrier = carrier
        self.identity = identity
        self.feed = carrier.connect_softphone(identity)
        self.events: list[SoftphoneEvent] = []
        self._open = True

    def __enter__(self) -> Softphone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """The page goes away (the simulated hotliner returns after the grace)."""
        if self._open:
            self._open = False
            self.carrier.disconnect_softphone(self.feed)

    def wait_for(
        self, name: str, call_sid: str | None = None, timeout: float = 10.0
    ) -> SoftphoneEvent:
        """The next event `name` (about `call_sid`), keeping the others read."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.feed.get(max(0.0, deadline - time.monotonic()))
            if event is None:
                raise SimulatorError(
                    f"softphone {self.identity} got no {name!r} event: {self.events}"
                )
            self.events.append(event)
            if event.name == name and call_sid in (None, event.data.get("CallSid")):
                return event

    def accept(self, call_sid: str) -> None:
        accept_call(self.carrier, self.identity, call_sid)

    def reject(self, call_sid: str) -> None:
        reject_call(self.carrier, self.identity, call_sid)

    def hang_up(self, call_sid: str) -> None:
        hang_up_call(self.carrier, self.identity, call_sid)

    def send_digits(self, call_sid: str, digits: str) -> bool:
        return send_digits(self.carrier, self.identity, call_sid, digits)


# HTTP --------------------------------------------------------------------------


def _carrier() -> Carrier:
    carrier: Carrier = current_app.extensions["simulator.carrier"]
    return carrier


def _identity() -> str:
    identity: str = g.softphone_identity
    return identity


@softphone.errorhandler(SoftphoneError)
def softphone_error(error: SoftphoneError) -> tuple[Response, int]:
    return jsonify({"error": str(error)}), error.status


@softphone.before_request
def authenticate() -> Response | None:
    if request.method == "OPTIONS":
        return Response(status=204)  # a CORS preflight carries no token
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    config = _carrier().config
    g.softphone_identity = verify_access_token(
        token or request.args.get("token", ""),
        account_sid=config.account_sid,
        secret=config.access_token_secret,
    )
    return None


@softphone.after_request
def allow_console_origin(response: Response) -> Response:
    """CORS for the console page, served from the app's origin, not ours."""
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin is not None and origin in _carrier().config.console_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


@softphone.get("/api/events")
def events() -> Response:
    """The person's events stream; while it is open, `client:<identity>` is them."""
    carrier = _carrier()
    if carrier.is_stopping:
        raise SoftphoneError(503, "the carrier is stopping")
    identity = _identity()
    keepalive = carrier.config.softphone_keepalive_seconds

    def stream() -> Iterator[str]:
        # Connected on the first read, so a stream the server never starts
        # writing cannot hold the endpoint; a closed page is found by the next
        # write failing (the keepalive at the latest), which closes this.
        try:
            feed: SoftphoneFeed = carrier.connect_softphone(identity)
        except SimulatorError:
            return
        try:
            while True:
                event = feed.get(keepalive)
                if event is not None:
                    data = json.dumps(dict(event.data), separators=(",", ":"))
                    yield f"event: {event.name}\ndata: {data}\n\n"
                elif feed.closed:
                    return
                else:
                    yield ": keepalive\n\n"
        finally:
            carrier.disconnect_softphone(feed)

    return Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@softphone.post("/api/calls/<call_sid>/accept")
def accept(call_sid: str) -> Response:
    accept_call(_carrier(), _identity(), call_sid)
    return jsonify({"CallSid": call_sid})


@softphone.post("/api/calls/<call_sid>/reject")
def reject(call_sid: str) -> Response:
    reject_call(_carrier(), _identity(), call_sid)
    return jsonify({"CallSid": call_sid})


@softphone.post("/api/calls/<call_sid>/hangup")
def hang_up(call_sid: str) -> Response:
    hang_up_call(_carrier(), _identity(), call_sid)
    return jsonify({"CallSid": call_sid})


@softphone.post("/api/calls/<call_sid>/digits")
def digits(call_sid: str) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("digits"), str):
        raise SoftphoneError(400, 'send JSON {"digits": "12#"}')
    heard = send_digits(_carrier(), _identity(), call_sid, body["digits"])
    return jsonify({"CallSid": call_sid, "digits": body["digits"], "heard": heard})
