"""How each live-state event changes a call's row in the call log.

Pure: takes the row (or None) and one event, returns the row. Applying the
same stream twice gives the same rows, and the writer never applies one event
twice anyway (the stream offset is committed with the rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calllog.models import Call
from core.clock import from_ms
from core.errors import HotlineError
from queues.lifecycle import EventType


class UnknownEvent(HotlineError):
    """An event type the projection does not know: refused, never guessed."""

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(f"no projection for event type {event_type!r}")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One entry of the Redis event stream, decoded."""

    stream_id: str
    type: str
    call_sid: str
    agent_id: str
    at_ms: int
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, stream_id: str, fields: dict[str, str]) -> StreamEvent:
        known = {"type", "call", "agent", "at"}
        return cls(
            stream_id=stream_id,
            type=fields.get("type", ""),
            call_sid=fields.get("call", ""),
            agent_id=fields.get("agent", ""),
            at_ms=int(fields.get("at") or 0),
            data={k: v for k, v in fields.items() if k not in known},
        )


def _ms(value: str | None) -> int | None:
    return int(value) if value else None


def _seconds(start_ms: int | None, end_ms: int) -> float | None:
    return None if start_ms is None else round(max(0, end_ms - start_ms) / 1000, 3)


def _abandon_outcome(data: dict[str, str]) -> str:
    if data.get("reason") == "callback_failed":
        return "callback_failed"
    return "abandoned_in_ivr" if data.get("stage") == "ivr" else "abandoned"


#: The outcome of a call whose wrap-up timed out before the hotliner gave one.
OUTCOME_MISSING = "outcome_missing"

#: Event types that say something of a hotliner or of a moment, not of the
#: call's row (they are kept in `call_events` all the same).
NOT_ON_THE_ROW = frozenset({EventType.AGENT_STATE, EventType.CALLER_LEFT})


def apply_event(row: Call | None, event: StreamEvent) -> Call | None:
    """The call row after `event`; None for events that concern no call.

    `UnknownEvent` for a type `EventType` does not name: a new event must get
    its projection here before the scripts emit it.
    """
    try:
        kind = EventType(event.type)
    except ValueError:
        raise UnknownEvent(event.type) from None
    d = event.data
    if (
        kind is EventType.AGENT_STATE
        and row is not None
        and d.get("from") == "wrapup"
        and d.get("state") != "wrapup"
        and row.agent_id == event.agent_id
        and not row.outcome
    ):
        # Wrap-up ended (timed out, or left by hand) before the hotliner gave
        # the outcome: said, so the call shows on their list of calls to
        # complete (never silently none). The outcome event, when it comes
        # first, is applied before the hotliner's move to available.
        row.outcome = OUTCOME_MISSING
        return row
    if not event.call_sid or kind in NOT_ON_THE_ROW:
        return row
    if row is None:
        row = Call(
            call_sid=event.call_sid,
            status="ivr",
            offers=0,
            from_number="",
            to_number="",
            language="",
        )
    at = from_ms(event.at_ms)
    match kind:
        case EventType.CALL_STARTED:
            row.from_number = d.get("from", "")
            row.to_number = d.get("to", "")
            row.language = d.get("lang", "")
            row.started_at = at
        case EventType.IVR_CHOICE | EventType.LANGUAGE | EventType.IVR_NOTE:
            if "ivr_choice" in d:
                row.ivr_choice = d["ivr_choice"]
            if "lang" in d:
                row.language = d["lang"]
            if "previous_call" in d:
                row.previous_call_sid = d["previous_call"]
            if "kb_fault" in d:
                row.kb_fault = d["kb_fault"]
            if "selfhelp_tried" in d:
                row.selfhelp_tried = d["selfhelp_tried"]
        case EventType.ENQUEUED:
            row.queue = d.get("queue")
            row.priority = int(d["priority"]) if d.get("priority") else None
            queued = _ms(d.get("queued_at"))
            row.queued_at = from_ms(queued) if queued else at
            row.status = "queued"
        case EventType.OFFERED:
            row.offers = (row.offers or 0) + 1
            row.status = "offered"
        case EventType.OFFER_REJECTED | EventType.REQUEUED:
            row.status = "queued"
        case EventType.CALLBACK_REQUESTED:
            row.callback_number = d.get("number")
        case EventType.CALLBACK_FAILED:
            row.status = "callback_wait"
        case EventType.ACCEPTED:
            row.agent_id = event.agent_id
            row.answered_at = at
            row.wait_seconds = _seconds(_ms(d.get("queued_at")), event.at_ms)
            row.status = "connected"
        case EventType.TALKING:
            row.talk_started_at = at
            row.status = "talking"
        case EventType.CALL_ENDED:
            row.ended_at = at
            row.status = d.get("state", "completed")
            row.end_reason = d.get("reason")
            if row.status == "self_served":
                row.outcome = d.get("outcome") or "self_service_resolved"
                if d.get("detail"):
                    row.selfhelp_tried = d["detail"]
            elif row.status == "voicemail":
                row.outcome = "voicemail"
                row.recording_url = d.get("recording_url") or None
                queued = _ms(d.get("queued_at"))
                if queued is not None:
                    row.wait_seconds = _seconds(queued, event.at_ms)
            elif row.status == "abandoned":
                row.outcome = row.outcome or _abandon_outcome(d)
                queued = _ms(d.get("queued_at"))
                if queued is not None:
                    row.wait_seconds = _seconds(queued, event.at_ms)
            else:
                row.talk_seconds = _seconds(_ms(d.get("talk_started")), event.at_ms)
        case EventType.OUTCOME:
            row.outcome = d.get("outcome")
            row.notes = d.get("notes") or None
            row.fixed_by = d.get("fixed_by") or None
            row.remote_session = d.get("remote") or None
            row.agent_id = event.agent_id or row.agent_id
        case EventType.AGENT_STATE | EventType.CALLER_LEFT:  # pragma: no cover
            pass  # NOT_ON_THE_ROW: returned above
    return row
