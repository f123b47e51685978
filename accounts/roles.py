"""Roles and what each may do: pure rules, tested without a database."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    HOTLINER = "hotliner"  # acts for themself: their state, their calls
    SUPERVISOR = "supervisor"  # acts for every hotliner, steers the line
    ADMIN = "admin"  # a supervisor who also manages accounts


def steers(role: Role) -> bool:
    """Supervisors and admins act for everyone (incident message, any state)."""
    return role in (Role.SUPERVISOR, Role.ADMIN)


def may_act_for(role: Role, user_id: str, agent_id: str) -> bool:
    """A hotliner acts only as themself; who steers acts for anyone."""
    return steers(role) or user_id == agent_id
