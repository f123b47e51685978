"""Each hotliner's time in each state, from the event stream (pure).

Occupancy needs how long a hotliner was available, ringing, talking, in
wrap-up or not ready. Most moves say so in an `agent_state` event; the
router's own moves say it in theirs (an offer reserves the hotliner, an
answer makes them busy, a rejected offer frees them unless they were set
away just before). `agent_moves` reads one event into those moves; the writer
closes the hotliner's open interval and opens the next (`AgentInterval`).
"""

from __future__ import annotations

from dataclasses import dataclass

from calllog.projection import StreamEvent
from queues.lifecycle import EventType


@dataclass(frozen=True, slots=True)
class AgentMove:
    agent_id: str
    state: str
    reason: str = ""
    only_from: str = ""  # apply only if the open interval is in this state


def agent_moves(event: StreamEvent) -> list[AgentMove]:
    """The state moves of hotliners an event says (often none)."""
    d = event.data
    agent = event.agent_id
    kind = event.type
    if kind == EventType.AGENT_STATE and agent:
        return [AgentMove(agent, d.get("state", ""), d.get("reason", ""))]
    if kind in (EventType.OFFERED, EventType.CONSULT_OFFERED) and agent:
        return [AgentMove(agent, "reserved")]
    if kind in (EventType.ACCEPTED, EventType.CONSULT_JOINED) and agent:
        return [AgentMove(agent, "busy")]
    if kind == EventType.OFFER_REJECTED and agent:
        return [AgentMove(agent, "available", "offer_rejected", only_from="reserved")]
    if (
        kind == EventType.CONSULT_ENDED
        and d.get("specialist")
        and not d.get("external")
    ):
        # a specialist whose phone rang for a warm transfer that did not happen
        return [
            AgentMove(
                d["specialist"], "available", "consult_ended", only_from="reserved"
            )
        ]
    return []
