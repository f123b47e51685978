"""The audit log of supervisors' controls (in the call log's database).

Steering a hotline changes what callers hear and who works: every control a
supervisor uses (the incident message, a queue opened or closed by hand, a
hotliner's state forced) is kept with who used it, when, on what, the state
before and after, and the reason given, and can be read back by supervisors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounts.models import AuditEntry
from core.clock import utcnow

#: Entries returned by one read at most.
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Audited:
    """One entry, as the API shows it."""

    id: int
    at: datetime
    actor_id: str
    actor_role: str
    action: str
    target: str
    before: Any
    after: Any
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor_id,
            "role": self.actor_role,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
        }


class AuditLog:
    """Append and read the audit log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        *,
        actor_id: str,
        actor_role: str,
        action: str,
        target: str,
        before: Any = None,
        after: Any = None,
        reason: str | None = None,
    ) -> int:
        """Keep one control used; its id."""
        entry = AuditEntry(
            at=utcnow(),
            actor_id=actor_id,
            actor_role=actor_role,
            action=action,
            target=target,
            before=before,
            after=after,
            reason=reason or None,
        )
        with Session(self.engine) as session:
            session.add(entry)
            session.commit()
            return entry.id

    def entries(
        self,
        *,
        limit: int = 50,
        before_id: int | None = None,
        action: str | None = None,
    ) -> list[Audited]:
        """Newest first; `before_id` pages back, `action` filters."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if action:
            query = query.where(AuditEntry.action == action)
        with Session(self.engine) as session:
            rows = session.scalars(query.limit(max(1, min(limit, MAX_PAGE)))).all()
            return [
                Audited(
                    r.id,
                    r.at,
                    r.actor_id,
                    r.actor_role,
                    r.action,
                    r.target,
                    r.before,
                    r.after,
                    r.reason,
                )
                for r in rows
            ]
