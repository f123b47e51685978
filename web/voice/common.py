"""What every voice webhook shares: the `voice` blueprint, its error handler
that never answers 5xx, and the helpers views answer with.

Live state is reached only through `live()` (`queues.outage.LiveState`): a
view never touches Redis directly, so with Redis down it still answers at
once, journals what it could not write and holds the caller.
"""

from __future__ import annotations

import logging
from typing import TypeAlias

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from queues import handoff, webhooks
from queues.lifecycle import EventType
from queues.outage import LiveState
from web import services, twiml
from web.effects import after_response

log = logging.getLogger(__name__)

#: The parent of the voice blueprints (`menu`, `waiting`, `legs`,
#: `callbacks`); their routes are the full paths of `queues.webhooks`.
bp = Blueprint("voice", __name__)


@bp.errorhandler(Exception)
def never_fail(exc: Exception) -> Response:
    """Any failure becomes an apology the caller hears, never a 5xx: Twilio
    would play its own error message and drop the caller."""
    if isinstance(exc, HTTPException):
        return exc  # type: ignore[return-value]
    log.exception(
        "voice webhook failed path=%s call_sid=%s",
        request.path,
        request.form.get("CallSid", "-"),
    )
    return xml_response(twiml.apology(language(request.args.get("lang"))))


#: TwiML as built (`twilio.twiml`) or as kept already rendered (menus).
Twiml: TypeAlias = VoiceResponse | str


def xml_response(response: Twiml) -> Response:
    return Response(str(response), mimetype="text/xml")


def absolute_url(path: str) -> str:
    """The URL Twilio must use for `path` (a `queues.webhooks` builder's)."""
    return services().runtime.public_url(path)


def language(value: str | None) -> str:
    """`value` if the hotline speaks it, else its default language."""
    languages = services().runtime.routing.hotline.languages
    return value if value in languages else languages[0]


def live() -> LiveState:
    """Redis when it answers; else writes are journaled and reads defaulted."""
    return services().live


def note(sid: str, kind: EventType = EventType.IVR_NOTE, **fields: str) -> None:
    """Keep a fact learnt about the call (journaled if Redis is down)."""
    store = services().runtime.store
    live().run(
        lambda: store.note_facts(sid, kind, fields),
        False,
        ("note_call", [sid, kind.value, fields]),
    )


def int_arg(name: str, default: int) -> int:
    """A non-negative number from the URL, `default` if it is not one."""
    try:
        return max(0, int(request.args.get(name, str(default))))
    except ValueError:
        return default


def held_arg() -> bool:
    """Whether the caller is held outside Twilio's queue (`webhooks.wait`)."""
    return request.args.get("held") == "1"


def queue_arg() -> str:
    """The queue named in the URL, or the general queue if it names none."""
    routing_config = services().runtime.routing
    queue_id = request.args.get("queue", "")
    if routing_config.queue(queue_id) is None:  # a forged or stale URL
        return routing_config.hotline.general_queue
    return queue_id


def hold_in_queue(queue_id: str, lang: str, announce: str) -> VoiceResponse:
    """Twilio's `<Enqueue>` with our wait loop and our record of how it ended."""
    return twiml.join_queue(
        queue_id,
        announce,
        lang,
        wait_url=absolute_url(webhooks.wait(queue_id, lang)),
        action_url=absolute_url(webhooks.queue_result(lang, queue_id)),
    )


def caller_gone(call_sid: str, reason: str) -> None:
    """The caller's call ended: close it, and free whoever it held."""
    rt = services().runtime
    todo = live().run(
        lambda: handoff.caller_gone(rt, call_sid, reason),
        handoff.NOTHING,
        ("caller_gone", [call_sid, reason]),
    )
    after_response(rt, todo)
