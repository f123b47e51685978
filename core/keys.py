"""Every Redis key the hotline uses, built in one place.

All routing keys share one hash tag (`{hl}` by default) so that the scripts
that touch a caller, a queue and a hotliner at once stay in one cluster slot.
The prefix lets several hotlines (or test runs) share one Redis server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder for one hotline's live state."""

    prefix: str = "hotline"
    tag: str = "hl"

    @property
    def base(self) -> str:
        """Common start of every key; Lua scripts derive ids' keys from it."""
        return f"{self.prefix}:{{{self.tag}}}:"

    def group(self, name: str) -> Keys:
        """The keys of one routing group (`queues.groups`): its own hash tag,
        so a cluster may place each group on its own master."""
        return Keys(prefix=self.prefix, tag=f"{self.tag}:{name}")

    def call_group(self, call_sid: str) -> str:
        """The routing group a call moved to (`queues.partition`), in a slot
        of the call's own: reading it costs no group's master anything."""
        return f"{self.prefix}:{{{self.tag}:route:{call_sid}}}:group"

    @property
    def config_current(self) -> str:
        """The newest configuration version (`web.config_versions`)."""
        return f"{self.base}config:current"

    def config_files(self, version: str) -> str:
        """A configuration version's files (JSON: relative path -> text)."""
        return f"{self.base}config:files:{version}"

    def call(self, call_sid: str) -> str:
        return f"{self.base}call:{call_sid}"

    def queue(self, queue_id: str) -> str:
        return f"{self.base}queue:{queue_id}"

    def agent(self, agent_id: str) -> str:
        return f"{self.base}agent:{agent_id}"

    def caller(self, number: str) -> str:
        """Summary of a caller number's last calls (`queues.history`)."""
        return f"{self.base}caller:{number}"

    @property
    def counters(self) -> str:
        """Running totals for /metrics (hash: `offers` made by the router,
        `events_dropped` by the event stream's cap, `core.lua`, and how many
        of those the call log writer has said, `events_dropped_reported`)."""
        return f"{self.base}counters"

    def stats(self, queue_id: str) -> str:
        """Hash of a queue's measured averages (talk_ms, wrapup_ms)."""
        return f"{self.base}stats:{queue_id}"

    def available(self, queue_id: str, level: int) -> str:
        """Sorted set of available hotliners of a queue at one skill level."""
        return f"{self.base}available:{queue_id}:{level}"

    def offer(self, offer_id: str) -> str:
        return f"{self.base}offer:{offer_id}"

    @property
    def offers(self) -> str:
        """Sorted set of live offers by expiry (ms), for the sweeper."""
        return f"{self.base}offers"

    @property
    def incident(self) -> str:
        """Hash of the major incident announced to callers (one at a time)."""
        return f"{self.base}incident"

    def incident_callers(self, incident_id: str) -> str:
        """Set of the numbers of callers who confirmed an incident (to text)."""
        return f"{self.base}incident:{incident_id}:callers"

    def account_cache(self, key: str) -> str:
        """An account as last read from SQL (by id or by token hash), for the
        web to go on authenticating while SQL is unreachable."""
        return f"{self.base}account:{key}"

    @property
    def queue_overrides(self) -> str:
        """Hash of queues opened or closed by a supervisor, whatever their
        opening hours say: queue id -> 'open' | 'closed' (`queues.overrides`)."""
        return f"{self.base}queue-overrides"

    @property
    def pace(self) -> str:
        """Hash of the offers' token bucket (`tokens`, `at` ms): offers are
        made at the carrier's calls per second (`scripts.MATCH`)."""
        return f"{self.base}pace"

    @property
    def timers(self) -> str:
        """Sorted set of things due at a time (ms): 'wrapup:<agent>' (end of
        wrap-up), 'bridge:<call>' (caller not in the conference yet),
        'alone:<call>' (caller maybe alone in a conference), 'dispatch'
        (offers paced: the next may be made); the worker fires them on time."""
        return f"{self.base}timers"

    @property
    def active_calls(self) -> str:
        """Sorted set of calls not yet ended, by start time (ms)."""
        return f"{self.base}calls:active"

    @property
    def agents(self) -> str:
        """Set of hotliner ids that have a live state hash."""
        return f"{self.base}agents"

    @property
    def events(self) -> str:
        """Stream of every state change, consumed by the call log writer;
        capped (`core.lua`: the oldest events go past the cap, counted)."""
        return f"{self.base}events"

    def agent_events(self, agent_id: str) -> str:
        """A hotliner's share of `events` (the Lua `emit` writes both), capped
        in length: their console's live feed, replayed from `Last-Event-ID`."""
        return f"{self.events}:agent:{agent_id}"

    @property
    def wrapup_times(self) -> str:
        """Hash of wrap-up ms per queue that has its own (read by the scripts)."""
        return f"{self.base}wrapup"

    @property
    def kb_fixes(self) -> str:
        """Hash of calls fixed per known fault, from hotliners' outcomes."""
        return f"{self.base}kb:fixes"

    @property
    def repair_lock(self) -> str:
        """Throttles the sweeper's repairs that ask Twilio (REST)."""
        return f"{self.base}lock:repair"

    @property
    def audit_kept(self) -> str:
        """List of supervisors' controls (JSON) the audit log could not take
        when they were used (SQL unreachable), oldest first: the worker
        writes them there once it can (`accounts.audit.AuditLog`)."""
        return f"{self.base}audit:kept"

    @property
    def audit_lock(self) -> str:
        """Held by the one process writing kept audit entries to SQL."""
        return f"{self.base}lock:audit"

    @property
    def calllog_lock(self) -> str:
        """Held by the one call log writer draining the event stream."""
        return f"{self.base}lock:calllog"
