"""How each live-state event changes a call's row in the call log.

Pure: takes the row (or None) and one event, returns the row. Applying the
same stream twice gives the same rows, and the writer never applies one event
twice anyway (the stream offset is committed with the rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from calllog.buckets import DEFAULT_TZ, half_hour, local_day
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


#: Why an offer ended unanswered: the hotliner said no, or did not pick up
#: (a failed leg or our live state being away is no one's miss).
DECLINED = frozenset({"declined"})
MISSED = frozenset({"no-answer", "busy", "expired"})


def _arrived(row: Call, at: datetime, tz: ZoneInfo) -> None:
    row.started_at = at
    row.local_day = local_day(at, tz)
    row.local_halfhour = half_hour(at, tz)


def _time_wrapup(row: Call, d: dict[str, str], at: datetime) -> None:
    """A hotliner's wrap-up of this call, added to its handle time. Every
    hotliner's counts (a transferred call has several); one open at a time."""
    since = row.wrapup_since
    if since is not None and (d.get("from") == "wrapup" or d.get("state") == "wrapup"):
        if d.get("state") == "wrapup" and d.get("from") == "wrapup":
            return  # extended: the same wrap-up goes on
        started = since if since.tzinfo is not None else since.replace(tzinfo=at.tzinfo)
        row.wrapup_seconds = round(
            (row.wrapup_seconds or 0.0) + max(0.0, (at - started).total_seconds()), 3
        )
        row.wrapup_since = None
    if d.get("state") == "wrapup":
        row.wrapup_since = at


#: The outcome of a call whose wrap-up timed out before the hotliner gave one.
OUTCOME_MISSING = "outcome_missing"

#: Event types that say something of a hotliner or of a moment, not of the
#: call's row (they are kept in `call_events` all the same).
NOT_ON_THE_ROW = frozenset(
    {
        EventType.AGENT_STATE,
        EventType.CALLER_LEFT,
        EventType.HOLD,
        # A warm transfer under way changes nothing on the row until it is
        # done (`transferred`); its steps stay in the call's events.
        EventType.CONSULT_OFFERED,
        EventType.CONSULT_JOINED,
        EventType.CONSULT_ENDED,
        EventType.CONTROL,  # a supervisor's: about no call
    }
)


def apply_event(
    row: Call | None, event: StreamEvent, tz: ZoneInfo = DEFAULT_TZ
) -> Call | None:
    """The call row after `event`; None for events that concern no call.

    `UnknownEvent` for a type `EventType` does not name: a new event must get
    its projection here before the scripts emit it. `tz` is the hotline's
    timezone: the local day and half hour a report counts the call in.
    """
    try:
        kind = EventType(event.type)
    except ValueError:
        raise UnknownEvent(event.type) from None
    d = event.data
    if kind is EventType.AGENT_STATE and row is not None and event.call_sid:
        _time_wrapup(row, d, from_ms(event.at_ms))
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
            _arrived(row, at, tz)
        case EventType.CALLBACK_SCHEDULED:
            row.from_number = d.get("from", "")
            row.to_number = d.get("to", "")
            row.language = d.get("lang", "")
            _arrived(row, at, tz)
            row.status = "scheduled"
            row.queue = d.get("queue")
            row.callback_number = d.get("from")
            row.previous_call_sid = d.get("previous_call") or None
            row.notes = d.get("notes") or None
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
        case EventType.OFFER_REJECTED:
            row.status = "queued"
            if d.get("reason") in DECLINED:
                row.declined_offers = (row.declined_offers or 0) + 1
            elif d.get("reason") in MISSED:
                row.missed_offers = (row.missed_offers or 0) + 1
        case EventType.REQUEUED:
            row.status = "queued"
        case EventType.TRANSFERRED if d.get("kind") in {"warm", "external"}:
            # The specialist the hotliner briefed has the caller now.
            row.queue = d.get("queue") or row.queue
            row.transfers = (row.transfers or 0) + 1
            row.agent_id = d.get("to") or row.agent_id
        case EventType.TRANSFERRED:
            row.queue = d.get("queue") or row.queue
            row.priority = int(d["priority"]) if d.get("priority") else row.priority
            row.transfers = (row.transfers or 0) + 1
            row.status = "queued"
        case EventType.CALLBACK_REQUESTED:
            row.callback_number = d.get("number")
        case EventType.CALLBACK_FAILED:
            # The hotliner took the call back but the caller did not answer:
            # not an answer (the next attempt, if any, may be one).
            row.status = "callback_wait"
            row.answered_at = None
            row.wait_seconds = None
        case EventType.ACCEPTED:
            row.agent_id = event.agent_id
            if row.answered_at is None:
                # The first answer: a caller passed on to another queue has
                # been answered once, and waited once (ASA, service level).
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
                if row.outcome == "self_service_resolved" and d.get("detail"):
                    row.selfhelp_tried = d["detail"]
            elif row.status == "voicemail":
                row.outcome = "voicemail"
                row.recording_url = d.get("recording_url") or None
                queued = _ms(d.get("queued_at"))
                if queued is not None:
                    row.wait_seconds = _seconds(queued, event.at_ms)
            elif row.status == "abandoned":
                row.outcome = row.outcome or _abandon_outcome(d)
                if d.get("reason") == "callback_failed":
                    row.answered_at = None  # the last attempt, not answered
                queued = _ms(d.get("queued_at"))
                if queued is not None:
                    row.wait_seconds = _seconds(queued, event.at_ms)
            else:
                row.talk_seconds = _seconds(_ms(d.get("talk_started")), event.at_ms)
        case EventType.RECAP_SENT:
            row.recap_sent = d.get("channels") or row.recap_sent
        case EventType.OUTCOME if d.get("segment") == "transferred":
            pass  # the outcome of the part of whoever passed the call on
        case EventType.OUTCOME:
            row.outcome = d.get("outcome")
            row.notes = d.get("notes") or None
            row.fixed_by = d.get("fixed_by") or None
            row.remote_session = d.get("remote") or None
            row.agent_id = event.agent_id or row.agent_id
        case (
            EventType.AGENT_STATE
            | EventType.CALLER_LEFT
            | EventType.HOLD
            | EventType.CONSULT_OFFERED
            | EventType.CONSULT_JOINED
            | EventType.CONSULT_ENDED
            | EventType.CONTROL
        ):  # pragma: no cover
            pass  # NOT_ON_THE_ROW: returned above
    return row
