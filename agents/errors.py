"""Errors about hotliners.

HotlineError
└── AgentError
    ├── UnknownAgent        (no hotliner with that id in the configuration)
    └── IllegalAgentMove    (a state change the lifecycle table forbids)
"""

from __future__ import annotations

from core.errors import HotlineError


class AgentError(HotlineError):
    """Something about a hotliner went wrong."""


class UnknownAgent(AgentError):
    """No hotliner with that id is configured."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"unknown hotliner {agent_id!r}")


class IllegalAgentMove(AgentError):
    """The requested state change is not allowed from the current state."""

    def __init__(self, agent_id: str, current: str, requested: str) -> None:
        self.agent_id = agent_id
        self.current = current
        self.requested = requested
        super().__init__(
            f"hotliner {agent_id!r} cannot go from {current!r} to {requested!r}"
        )
