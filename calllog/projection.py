"""How each live-state event changes a call's row in the call log.

Pure: takes the row (or None) and one event, returns the row. Applying the
same stream twice gives the same rows, and the writer never applies one event
twice anyway (the stream offset is committed with the rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calllog.models import Call
from core.clock import from_ms


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


def apply_event(row: Call | None, event: StreamEvent) -> Call | None:
    """The call row after `event`; None for events that concern no call."""
    if not event.call_sid or event.type == "agent_state":
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
    d = event.data
    match event.type:
        case "call_started":
            row.from_number = d.get("from", "")
            row.to_number = d.get("to", "")
            row.language = d.get("lang", "")
            row.started_at = at
        case "ivr_choice" | "language" | "ivr_note":
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
        case "enqueued":
            row.queue = d.get("queue")
            row.priority = int(d["priority"]) if d.get("priority") else None
            queued = _ms(d.get("queued_at"))
            row.queued_at = from_ms(queued) if queued else at
            row.status = "queued"
        case "offered":
            row.offers = (row.offers or 0) + 1
            row.status = "offered"
        case "offer_rejected" | "requeued":
            row.status = "queued"
        case "callback_requested":
            row.callback_number = d.get("number")
        case "callback_failed":
            row.status = "callback_wait"
        case "accepted":
            row.agent_id = event.agent_id
            row.answered_at = at
            row.wait_seconds = _seconds(_ms(d.get("queued_at")), event.at_ms)
            row.status = "connected"
        case "talking":
            row.talk_started_at = at
            row.status = "talking"
        case "call_ended":
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
        case "outcome":
            row.outcome = d.get("outcome")
            row.notes = d.get("notes") or None
            row.agent_id = event.agent_id or row.agent_id
        case _:
            pass
    return row
