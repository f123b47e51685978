"""The audit log of supervisors' controls (in the call log's database).

Steering a hotline changes what callers hear and who works: every control a
supervisor uses (the incident message, a queue opened or closed by hand, a
hotliner's state forced) is kept with who used it, when, on what, the state
before and after, and the reason given, and can be read back by supervisors.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from accounts.models import AuditEntry
from core.clock import utcnow
from core.keys import Keys
from core.lua import RELEASE_LOCK

log = logging.getLogger(__name__)

#: Kept entries written to SQL by one pass at most.
KEPT_BATCH = 200
#: How long one process holds the right to write kept entries (ms).
KEPT_LOCK_MS = 30_000

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
    """Append and read the audit log.

    A control has already changed live state when it is audited, so an
    entry SQL cannot take then (the database unreachable) is not dropped:
    with `redis` given it is kept there, in order, and `write_kept` (the
    worker's) writes it to SQL later with the time it was used.
    """

    def __init__(
        self,
        engine: Engine,
        client: redis.Redis | None = None,
        keys: Keys | None = None,
    ) -> None:
        self.engine = engine
        self.redis = client
        self.keys = keys or Keys()

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
    ) -> int | None:
        """Keep one control used; its id, or None if it was kept in Redis
        for later (SQL unreachable). Raises only if neither could take it."""
        fields: dict[str, Any] = {
            "at": utcnow(),
            "actor_id": actor_id,
            "actor_role": actor_role,
            "action": action,
            "target": target,
            "before": before,
            "after": after,
            "reason": reason or None,
        }
        try:
            with Session(self.engine) as session:
                entry = AuditEntry(**fields)
                session.add(entry)
                session.commit()
                return entry.id
        except SQLAlchemyError:
            if self.redis is None:
                raise
            log.warning(
                "audit log unreachable: %s on %s kept for later", action, target
            )
            kept = {**fields, "at": fields["at"].isoformat()}
            self.redis.rpush(self.keys.audit_kept, json.dumps(kept, default=str))
            return None

    def write_kept(self) -> int:
        """Write the entries kept while SQL was unreachable, oldest first;
        how many. One process at a time (a lock); a crash between SQL's
        commit and the list's trim writes a batch twice, never loses one."""
        if self.redis is None:
            return 0
        lock, token = self.keys.audit_lock, uuid.uuid4().hex
        if not self.redis.set(lock, token, nx=True, px=KEPT_LOCK_MS):
            return 0
        try:
            raw = cast(
                list[bytes], self.redis.lrange(self.keys.audit_kept, 0, KEPT_BATCH - 1)
            )
            if not raw:
                return 0
            entries = []
            for item in raw:
                fields = json.loads(item)
                fields["at"] = datetime.fromisoformat(fields["at"])
                entries.append(AuditEntry(**fields))
            with Session(self.engine) as session:
                session.add_all(entries)
                session.commit()
            self.redis.ltrim(self.keys.audit_kept, len(raw), -1)
            return len(raw)
        finally:
            self.redis.eval(RELEASE_LOCK, 1, lock, token)

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
