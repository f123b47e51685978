"""The major-incident announcement callers hear before the menu.

A supervisor publishes a live message ("messagerie indisponible, retour prévu
14h"); every caller hears it first and can confirm their call is about it,
which is counted and remembers their number for an SMS when it is fixed. One
incident at a time; it lives in Redis so every web process sees it at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis

from core.clock import now_ms
from core.keys import Keys
from core.text import as_text


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    messages: dict[str, str]  # language -> text
    since_ms: int
    confirmations: int


class IncidentStore:
    """Publish, read, confirm and resolve the current incident."""

    def __init__(
        self, client: redis.Redis, keys: Keys, mirrors: Sequence[Keys] = ()
    ) -> None:
        self.redis = client
        self.keys = keys
        self.key = keys.incident
        #: Each routing group's copy of the incident's id, which the router
        #: reads in its group's slot (on-call specialists take any caller
        #: during an incident); this hash stays the one the IVR reads.
        self.mirrors = [m.incident for m in mirrors if m.incident != self.key]

    def callers_key(self, incident_id: str) -> str:
        return self.keys.incident_callers(incident_id)

    def publish(self, messages: dict[str, str]) -> Incident:
        """Replace any current incident with this one."""
        incident_id = uuid.uuid4().hex[:12]
        since = now_ms()
        mapping = {"id": incident_id, "since": since, "confirmations": 0}
        mapping.update({f"msg:{lang}": text for lang, text in messages.items()})
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key)
        pipe.hset(self.key, mapping=mapping)
        pipe.execute()
        for mirror in self.mirrors:
            self.redis.hset(mirror, mapping={"id": incident_id, "since": since})
        return Incident(incident_id, dict(messages), since, 0)

    def current(self) -> Incident | None:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key))
        data = {as_text(k): as_text(v) for k, v in raw.items()}
        if not data.get("id"):
            return None
        messages = {
            k.removeprefix("msg:"): v for k, v in data.items() if k.startswith("msg:")
        }
        return Incident(
            data["id"],
            messages,
            int(data.get("since", "0")),
            int(data.get("confirmations", "0")),
        )

    def confirm(self, incident_id: str, number: str) -> bool:
        """A caller says their call is about it; False if it was resolved since."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(self.key, "id")
        result = pipe.execute()
        if result[0] is None or as_text(result[0]) != incident_id:
            return False
        # A retried webhook (or the same caller twice) is counted once.
        if number and not self.redis.sadd(self.callers_key(incident_id), number):
            return True
        self.redis.hincrby(self.key, "confirmations", 1)
        return True

    def resolve(self) -> tuple[Incident | None, list[str]]:
        """End the incident; returns it and the numbers to tell by SMS."""
        incident = self.current()
        if incident is None:
            return None, []
        members = cast(set[bytes], self.redis.smembers(self.callers_key(incident.id)))
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key)
        pipe.delete(self.callers_key(incident.id))
        pipe.execute()
        for mirror in self.mirrors:
            self.redis.delete(mirror)
        return incident, sorted(as_text(m) for m in members)
