"""A level-2 specialist on call at night is rung only for what the config
sends them: callers of their queue at the priority their rule names, or any
of them while a major incident is announced; never ordinary calls.

Bruno works the network desk on weekdays 08:00-20:00. Yann is on call for
the network at night and at weekends, on his mobile (no console), for
priority 5 and up or during an incident. On a Tuesday at 22:00 (Paris), on a
real Redis, through the admission every caller goes through and the match.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis

from calllog.db import upgrade
from core.settings import DEFAULT_CONFIG_DIR, Settings
from ivr.incident import IncidentStore
from queues import jobs
from queues.admission import Admission, admit
from queues.outage import LiveState
from queues.routing import rule_for
from queues.runtime import Runtime, build_runtime
from queues.spool import Spool

HOTLINERS = """hotliners:
  - id: bruno
    name: Bruno
    endpoint: "client:bruno"
    skills: {network: 3}
    shifts: ["mon-fri 08:00-20:00"]
  - id: yann
    name: "Yann (astreinte réseau)"
    endpoint: "+33612345678"
    skills: {network: 5}
    shifts: ["mon-fri 20:00-08:00", "sat,sun 00:00-00:00"]
    on_call: {min_priority: 5, incident: true}
"""


@pytest.fixture
def live(
    redis_client: redis.Redis, redis_url: str, database_url: str, tmp_path: Path
) -> Iterator[LiveState]:
    upgrade(database_url)
    config_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    (config_dir / "hotliners.yaml").write_text(HOTLINERS, encoding="utf-8")
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "HOTLINE_INSTANCE": str(tmp_path / "instance"),
            "HOTLINE_CONFIG": str(config_dir),
        }
    )
    rt = build_runtime(settings)
    try:
        yield LiveState(rt, Spool(tmp_path / "spool.sqlite3"))
    finally:
        rt.redis.close()


def at_clock(rt: Runtime, moment: datetime) -> datetime:
    """Every move of the store from now on happens at `moment`."""
    ms = int(moment.timestamp() * 1000)
    rt.store.clock = rt.store.agents.clock = lambda: ms
    return moment


def caller(live: LiveState, sid: str, queue: str, priority: int, at: datetime) -> str:
    assert live.rt.store.start_call(sid, "+33611112222", "+33180000000", "fr-FR")
    return admit(live, sid, queue, priority, at=at).value


def test_the_specialist_on_call_is_rung_only_for_what_the_rule_sends_him(
    live: LiveState,
) -> None:
    rt = live.rt
    paris = rt.routing.hotline.timezone
    network = rule_for(rt.routing.queues["network"])  # type: ignore[index]
    night = at_clock(rt, datetime(2026, 11, 24, 22, 0, tzinfo=paris))  # Tuesday
    jobs.end_shifts(rt, at=night)
    yann = rt.store.agents.get("yann")
    assert (yann["state"], yann["min_priority"], yann["incident_any"]) == (
        "available",
        "5",
        "1",
    )
    assert rt.store.agents.get("bruno").get("state", "offline") == "offline"

    # An ordinary network caller: nobody on duty for them (callback/message).
    assert caller(live, "CAoc1", "network", 0, night) == Admission.UNSTAFFED
    assert rt.store.match([network], ring_ms=15_000) is None
    # Even queued past the admission (a callback's retry), Yann is not offered it.
    assert rt.store.enqueue("CAoc1", "network", 0) == 1
    assert rt.store.match([network], ring_ms=15_000) is None

    # Priority 5: that is what Yann is on call for.
    assert caller(live, "CAoc2", "network", 5, night) == Admission.QUEUED
    urgent = rt.store.match([network], ring_ms=15_000)
    assert urgent is not None
    assert (urgent.call_sid, urgent.agent_id) == ("CAoc2", "yann")
    rejected = rt.store.reject(urgent.offer_id, "declined", 3, counts_as_miss=False)
    assert rejected is not None
    assert rt.store.agents.get("yann")["state"] == "available"
    rt.redis.delete(rt.keys.queue("network"))  # those two are served elsewhere

    # A major incident announced: any network caller reaches him.
    IncidentStore(rt.redis, rt.keys).publish({"fr-FR": "Panne du réseau."})
    assert caller(live, "CAoc3", "network", 0, night) == Admission.QUEUED
    during = rt.store.match([network], ring_ms=15_000)
    assert during is not None
    assert (during.call_sid, during.agent_id) == ("CAoc3", "yann")
    # Never a queue outside his skills, whatever the priority.
    assert caller(live, "CAoc4", "printer", 9, night) == Admission.UNSTAFFED

    # Wednesday 10:00: his night is over; once off the call the rota logs
    # him out, and Bruno's desk is back.
    assert rt.store.reject(during.offer_id, "declined", 3, counts_as_miss=False)
    morning = at_clock(rt, datetime(2026, 11, 25, 10, 0, tzinfo=paris))
    assert jobs.end_shifts(rt, at=morning) == 1
    assert rt.store.agents.get("yann")["state"] == "offline"
    assert caller(live, "CAoc5", "network", 9, morning) == Admission.UNSTAFFED
