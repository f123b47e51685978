"""Every state a hotliner can be in, and which moves are allowed.

This file is the single table of the agent lifecycle (h11-style): the Lua
scripts in `queues.scripts` check the same rules atomically, and tests compare
both. Moves into and out of `reserved`/`busy` belong to the router (an offer,
an accepted call, a hang-up); a person at the console only asks for the
"manual" moves.
"""

from __future__ import annotations

from enum import StrEnum


class AgentState(StrEnum):
    OFFLINE = "offline"  # not logged in
    AVAILABLE = "available"  # waiting for a call
    RESERVED = "reserved"  # a call is ringing at the hotliner (an offer)
    BUSY = "busy"  # talking to a caller
    WRAPUP = "wrapup"  # call over, filling the outcome form
    BREAK = "break"  # pause, lunch, training
    AWAY = "away"  # missed offers in a row: logged in but not routed to


#: States a person may ask for from the console, and from which states.
MANUAL_MOVES: dict[AgentState, frozenset[AgentState]] = {
    AgentState.AVAILABLE: frozenset(
        {
            AgentState.OFFLINE,
            AgentState.BREAK,
            AgentState.AWAY,
            AgentState.WRAPUP,
            AgentState.AVAILABLE,
        }
    ),
    AgentState.BREAK: frozenset(
        {AgentState.AVAILABLE, AgentState.AWAY, AgentState.WRAPUP, AgentState.BREAK}
    ),
    AgentState.OFFLINE: frozenset(
        {
            AgentState.AVAILABLE,
            AgentState.BREAK,
            AgentState.AWAY,
            AgentState.WRAPUP,
            AgentState.OFFLINE,
        }
    ),
}


def can_request(current: AgentState, requested: AgentState) -> bool:
    """Whether a hotliner in `current` may ask to move to `requested`."""
    allowed_from = MANUAL_MOVES.get(requested)
    return allowed_from is not None and current in allowed_from
