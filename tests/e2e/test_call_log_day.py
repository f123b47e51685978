"""A scripted day through the whole hotline, its report checked figure by figure.

About two hundred simulated callers dial in (gunicorn, the worker, the
carrier simulator playing Twilio): answered calls with the outcome each
caller's problem ends with, self-help that fixes the printer or does not,
short and long abandons in a queue nobody is free for, callers who hang up in
the voice menu, cold transfers, call backs (reached, and one never answered),
and a second part of the day where earlier callers call again, some about
the same problem. A hotliner lets her first offers ring out, and the worker
is SIGKILLed (and started again) while the call log is being written.

Every expected figure is counted here from the script (`Caller.kind`), never
from the code under test; the times (ASA, AHT) are the script's talk times
and the simulator's own clock, within a tolerance. Then the call log is
rebuilt from its own events into fresh databases: once straight, once by a
writer SIGKILLed mid-batch three times, and once replayed twice: the rows are
the same each time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session
from support import throwaway_database, wait_for

from calllog.buckets import local_day
from calllog.db import create_db_engine, upgrade
from calllog.models import AgentInterval, Call, CallEvent, CallSegment, StreamOffset
from calllog.reports import agent_time, report, thresholds
from calllog.writer import drain_events
from core.clock import utcnow
from core.keys import Keys
from queues.config import load_routing_config
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

SCALE = 0.05  # a simulated second lasts 50 ms
EMAIL = [f"e{n}" for n in range(1, 9)]
PRINTER = [f"p{n}" for n in range(1, 5)]


def _hotliner(agent_id: str, skills: str) -> str:
    return f"""  - id: {agent_id}
    name: "Hotliner {agent_id}"
    endpoint: "client:{agent_id}"
    skills: {{{skills}}}
    shifts: ["daily 00:00-00:00"]
"""


HOTLINERS = (
    "hotliners:\n"
    + "".join(_hotliner(a, "email: 3") for a in [*EMAIL, "mia"])
    + "".join(_hotliner(a, "printer: 3") for a in PRINTER)
    + _hotliner("acc", "account: 3")
    + _hotliner("hw", "hardware: 3")
)

ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 5
  wrapup_seconds: 2
  max_missed_offers: 2
  announce_every_seconds: 30
  preferred_agent_hours: 24
callback:
  key: "1"
  max_attempts: 2
  retry_seconds: 1
  ring_seconds: 5
"""

SL_SECONDS = {"email": 20, "printer": 20, "account": 20, "hardware": 20}
RESOLVED = ("resolved", "remote_takeover")


@dataclass
class Caller:
    """One call of the script and what it must end as."""

    number: str
    kind: str
    inputs: list[Digits]
    queue: str | None = None
    outcome: str | None = None
    talk: float = 30.0  # simulated seconds with the hotliner who ends it
    patience: float = 36_000.0
    hangup_after: float | None = None
    queue_inputs: list[Digits] = field(default_factory=list)
    repeats: str | None = None  # the number whose earlier call this one is about
    sid: str = ""


ANSWERED_KINDS = {
    "answered",
    "selfhelp_failed",
    "transfer",
    "callback_reached",
    "repeat_same",
    "repeat_other",
}
OFFERED_KINDS = ANSWERED_KINDS | {"short_abandon", "abandon", "callback_failed"}


def first_part() -> list[Caller]:
    """The morning: every kind of call but repeats."""
    out: list[Caller] = []
    number = iter(range(10_000, 99_999))

    def add(kind: str, count: int, **kw: Any) -> None:
        for _ in range(count):
            out.append(Caller(f"+3361{next(number):05d}", kind, **kw))

    # Call backs first: they wait for "acc" until the afternoon.
    add(
        "callback_reached",
        2,
        inputs=[Digits("5"), Digits("3")],
        queue="account",
        outcome="resolved",
        queue_inputs=[Digits("1")],
    )
    add(
        "callback_failed",
        1,
        inputs=[Digits("5"), Digits("3")],
        queue="account",
        queue_inputs=[Digits("1")],
    )
    outcomes = ["resolved"] * 3 + ["remote_takeover", "escalated"]
    mixed: list[Caller] = []
    for n in range(60):
        mixed.append(
            Caller(
                "",
                "answered",
                [Digits("4")],
                queue="email",
                outcome=outcomes[n % 5],
                talk=20.0 + 10 * (n % 3),
            )
        )
    for _ in range(30):
        mixed.append(
            Caller(
                "",
                "answered",
                [Digits("2"), Digits("4")],
                queue="printer",
                outcome="resolved",
                talk=25.0,
            )
        )
    for _ in range(12):  # the second step fixes it
        mixed.append(
            Caller(
                "",
                "deflected",
                [Digits("2"), Digits("1"), Digits("2"), Digits("1")],
            )
        )
    for _ in range(8):  # three steps, none fixes it: a printer technician
        mixed.append(
            Caller(
                "",
                "selfhelp_failed",
                [Digits("2"), Digits("1"), Digits("2"), Digits("2"), Digits("2")],
                queue="printer",
                outcome="resolved",
                talk=30.0,
            )
        )
    # Nobody is free for hardware (its hotliner is on a break): they leave,
    # 1 s or 8 s after joining the queue (short abandons are under 5 s).
    for _ in range(5):
        mixed.append(
            Caller("", "short_abandon", [Digits("6")], queue="hardware", patience=20.0)
        )
    for _ in range(5):
        mixed.append(
            Caller("", "abandon", [Digits("6")], queue="hardware", patience=160.0)
        )
    for _ in range(6):  # hang up during the welcome
        mixed.append(Caller("", "ivr_hangup", [], hangup_after=2.0))
    for _ in range(4):  # email, then passed on to the printer queue
        mixed.append(
            Caller(
                "",
                "transfer",
                [Digits("4")],
                queue="printer",
                outcome="resolved",
                talk=25.0,
            )
        )
    random.Random(20261202).shuffle(mixed)
    for caller in mixed:
        caller.number = f"+3361{next(number):05d}"
    return out + mixed


def second_part(morning: list[Caller]) -> list[Caller]:
    """The afternoon: earlier callers call again, and new ones."""
    emails = [c for c in morning if c.kind == "answered" and c.queue == "email"]
    out: list[Caller] = []
    for earlier in emails[:12]:  # "yes, the same problem"
        out.append(
            Caller(
                earlier.number,
                "repeat_same",
                [Digits("1")],
                queue="email",
                outcome="resolved",
                repeats=earlier.number,
            )
        )
    for earlier in emails[12:18]:  # "no, something else": the menu, email
        out.append(
            Caller(
                earlier.number,
                "repeat_other",
                [Digits("2"), Digits("4")],
                queue="email",
                outcome="resolved",
            )
        )
    for n in range(20):
        out.append(
            Caller(
                f"+3362{n:05d}",
                "answered",
                [Digits("4")],
                queue="email",
                outcome="resolved",
            )
        )
    for n in range(30):
        out.append(
            Caller(
                f"+3363{n:05d}",
                "answered",
                [Digits("2"), Digits("4")],
                queue="printer",
                outcome="resolved",
            )
        )
    return out


class Day:
    """The script's callers and what the simulated people say and do."""

    def __init__(self) -> None:
        self.morning = first_part()
        self.afternoon = second_part(self.morning)
        self.by_number: dict[str, Caller] = {}

    @property
    def callers(self) -> list[Caller]:
        return self.morning + self.afternoon

    def current(self, number: str) -> Caller | None:
        return self.by_number.get(number)

    def talk(self, number: str) -> float:
        caller = self.current(number)
        if caller is None:
            return 30.0
        return caller.talk

    def email_talk(self, number: str) -> float:
        """An email hotliner talks until a transfer takes the caller away."""
        caller = self.current(number)
        if caller is not None and caller.kind == "transfer":
            return 100_000.0
        return self.talk(number)

    def outcome(self, number: str) -> str:
        caller = self.current(number)
        if caller is None or caller.outcome is None:
            return "resolved"
        return caller.outcome

    def email_outcome(self, number: str) -> str:
        caller = self.current(number)
        if caller is not None and caller.kind == "transfer":
            return "escalated"  # the email hotliner's part: passed on
        return self.outcome(number)


def place(carrier: Any, day: Day, callers: list[Caller], every: float) -> None:
    for caller in callers:
        day.by_number[caller.number] = caller
        handle = carrier.place_call(
            CallerScript(
                from_number=caller.number,
                inputs=list(caller.inputs),
                queue_inputs=list(caller.queue_inputs),
                patience_seconds=caller.patience,
                hangup_after_seconds=caller.hangup_after,
            )
        )
        caller.sid = handle.sid
        time.sleep(every)


def transfer_when_talking(
    hotline: Any, carrier: Any, callers: list[Caller], stop: float
) -> None:
    """Pass each transfer caller on to the printer queue once they talk."""
    headers = {"Authorization": f"Bearer {hotline.token}"}
    pending = list(callers)
    while pending and time.monotonic() < stop:
        for caller in list(pending):
            with carrier.board.lock:
                call = carrier.calls.get(caller.sid)
                talking = call is not None and any(
                    e.kind == "connected" for e in call.transcript
                )
            if not talking:
                continue
            answer = requests.post(
                f"{hotline.url}/api/calls/{caller.sid}/transfer",
                json={"queue": "printer", "notes": "imprimante, pas la messagerie"},
                headers=headers,
                timeout=5,
            )
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code == 200:
                pending.remove(caller)
        time.sleep(0.05)
    assert not pending, [c.sid for c in pending]


# -- the call log rebuilt from its events ------------------------------------------

TABLES = (Call, CallSegment, AgentInterval)


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projected tables (ids aside), sorted, and the events."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Session(engine) as session:
        for model in TABLES:
            columns = [c for c in model.__table__.columns if c.key != "id"]
            rows = session.execute(sa.select(*columns)).all()
            out[model.__tablename__] = sorted(
                (tuple(_plain(v) for v in row) for row in rows), key=repr
            )
        events = session.execute(
            sa.select(CallEvent.stream_id, CallEvent.type, CallEvent.call_sid)
        ).all()
        out["call_events"] = sorted(tuple(e) for e in events)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, float):
        return round(value, 3)
    return value


def stream_of(engine: sa.Engine) -> list[tuple[str, dict[str, str]]]:
    """The event stream as the worker drained it, from the events the call
    log keeps (with their stream ids)."""
    with Session(engine) as session:
        events = session.scalars(sa.select(CallEvent)).all()
    entries = []
    for e in events:
        fields = {
            "type": e.type,
            "call": e.call_sid or "",
            "agent": e.agent_id or "",
            "at": str(round(e.at.timestamp() * 1000)),
            **{k: str(v) for k, v in (e.data or {}).items()},
        }
        entries.append((e.stream_id, fields))
    return sorted(entries, key=lambda x: tuple(int(p) for p in x[0].split("-")))


def load_stream(
    client: redis.Redis, keys: Keys, entries: list[tuple[str, dict[str, str]]]
) -> None:
    client.delete(keys.events)
    pipe = client.pipeline(transaction=False)
    for stream_id, fields in entries:
        pipe.xadd(keys.events, fields, id=stream_id)  # type: ignore[arg-type]
    pipe.execute()


WRITER = """
import sys, redis
from calllog.db import create_db_engine
from calllog.writer import drain_events
from core.keys import Keys
client = redis.Redis.from_url(sys.argv[1])
engine = create_db_engine(sys.argv[2])
keys = Keys(prefix=sys.argv[3])
while drain_events(client, engine, keys, batch=50, max_batches=1):
    pass
"""


def offset_of(engine: sa.Engine) -> str:
    with Session(engine) as session:
        row = session.get(StreamOffset, "events")
        return row.last_id if row is not None else "0-0"


# -- the day --------------------------------------------------------------------


def test_a_scripted_day_figure_by_figure(
    running_hotline: Callable[..., Any],
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, SCALE)
    carrier = hotline.carrier
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    day = Day()

    def answering(
        agent_id: str,
        talk: Callable[[str], float] = day.talk,
        outcome: Callable[[str], str] = day.outcome,
    ) -> HotlinerProfile:
        """A hotliner who answers at once, talks and ends as the script says."""
        return HotlinerProfile(
            agent_id=agent_id,
            endpoint=f"client:{agent_id}",
            answer_after_seconds=1.0,
            console=console,
            talk_time=talk,
            outcome_of=outcome,
        )

    for agent_id in EMAIL:
        carrier.add_hotliner(answering(agent_id, day.email_talk, day.email_outcome))
    carrier.add_hotliner(  # lets her first two offers ring out: then away
        HotlinerProfile(
            agent_id="mia", endpoint="client:mia", answers=False, console=console
        )
    )
    for agent_id in PRINTER:
        carrier.add_hotliner(answering(agent_id))
    # On duty, not free: the hardware queue takes callers nobody answers; the
    # account queue's hotliner comes back from her break in the afternoon.
    for agent_id in ("hw", "acc"):
        console.set_state(agent_id, "available")
        console.set_state(agent_id, "break")
    started = utcnow()

    # Morning: 133 callers, one every 0.25 s; the worker is killed meanwhile.
    transfers = [c for c in day.morning if c.kind == "transfer"]
    mover = threading.Thread(
        target=transfer_when_talking,
        args=(hotline, carrier, transfers, time.monotonic() + 120),
        daemon=True,
    )
    placing = threading.Thread(
        target=place, args=(carrier, day, day.morning, 0.25), daemon=True
    )
    placing.start()
    time.sleep(3.0)
    mover.start()
    time.sleep(6.0)
    worker = next(c for c in hotline.stack.children if c.name == "worker-0")
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)  # mid-stream: the call log is being written
    time.sleep(0.5)
    worker.restart()
    placing.join()
    mover.join()
    # The call backs wait, their callers gone: everyone else is done.
    assert carrier.wait_idle(timeout=120.0), carrier.snapshot()

    # Afternoon: acc is back (the call backs are made), earlier callers call again.
    for caller in day.morning:
        if caller.kind == "callback_reached":
            carrier.add_hotliner(
                HotlinerProfile(
                    agent_id=f"phone{caller.number}",
                    endpoint=caller.number,
                    answer_after_seconds=1.0,
                    talk_seconds=100_000.0,
                )
            )
        elif caller.kind == "callback_failed":
            carrier.add_hotliner(
                HotlinerProfile(
                    agent_id=f"phone{caller.number}",
                    endpoint=caller.number,
                    answers=False,
                )
            )
    carrier.add_hotliner(answering("acc"))
    place(carrier, day, day.afternoon, 0.1)
    assert carrier.wait_idle(timeout=180.0), carrier.snapshot()
    assert carrier.errors == []

    engine = create_db_engine(hotline.database_url)
    sids = {c.sid for c in day.callers}

    def all_logged() -> bool:
        with Session(engine) as session:
            rows = session.scalars(sa.select(Call).where(Call.call_sid.in_(sids))).all()
        final = {"completed", "abandoned", "self_served"}
        return len(rows) == len(sids) and all(
            r.status in final and (r.status != "completed" or r.outcome) for r in rows
        )

    wait_for(all_logged, 60.0, "every call of the day in the call log")
    calls = day.callers
    n = {
        kind: sum(1 for c in calls if c.kind == kind)
        for kind in {c.kind for c in calls}
    }

    # -- figures, counted from the script --------------------------------------
    today = local_day(started)
    routing = load_routing_config(hotline.config_dir)
    limits = thresholds(routing)
    (row,) = report(engine, today, local_day(utcnow()), "all", limits)
    t = row.totals
    offered = sum(n.get(k, 0) for k in OFFERED_KINDS)
    answered = sum(n.get(k, 0) for k in ANSWERED_KINDS)
    abandoned = n["short_abandon"] + n["abandon"] + n["callback_failed"]
    assert t.calls == len(calls) == 201
    assert (t.self_served, t.abandoned_in_ivr, t.voicemail) == (
        n["deflected"],
        n["ivr_hangup"],
        0,
    )
    assert t.offered == offered
    assert t.answered == answered
    assert (t.abandoned, t.short_abandoned) == (abandoned, n["short_abandon"])
    # In time: every answer but the call backs, made in the afternoon.
    in_sl = answered - n["callback_reached"]
    assert t.answered_in_sl == in_sl
    counted = offered - n["short_abandon"]
    assert row.service_level == pytest.approx(in_sl / counted, abs=1e-4)
    assert row.abandon_rate == pytest.approx(
        (abandoned - n["short_abandon"]) / counted, abs=1e-4
    )
    assert t.handled == answered
    outcome = {c.sid: c.outcome for c in calls}
    resolved = sum(
        1 for c in calls if c.kind in ANSWERED_KINDS and outcome[c.sid] in RESOLVED
    )
    escalated = sum(
        1 for c in calls if c.kind in ANSWERED_KINDS and outcome[c.sid] == "escalated"
    )
    assert (t.resolved, t.escalated) == (resolved, escalated)
    assert row.resolution_rate == pytest.approx(resolved / answered, abs=1e-4)
    assert row.escalation_rate == pytest.approx(escalated / answered, abs=1e-4)
    assert t.transferred == n["transfer"]
    assert row.transfer_rate == pytest.approx(n["transfer"] / answered, abs=1e-4)
    callbacks = n["callback_reached"] + n["callback_failed"]
    assert (t.callbacks, t.callbacks_reached) == (callbacks, n["callback_reached"])
    assert row.self_service_rate == pytest.approx(n["deflected"] / len(calls), abs=1e-4)
    # First contacts: handled calls that name no earlier one; resolved with no
    # repeat: the morning calls called again "about the same problem" are out.
    repeated = {c.repeats for c in calls if c.kind == "repeat_same"}
    first = [c for c in calls if c.kind in ANSWERED_KINDS and c.kind != "repeat_same"]
    resolved_first = [
        c
        for c in first
        if outcome[c.sid] in RESOLVED
        and not (c in day.morning and c.number in repeated)
    ]
    assert t.first_contacts == len(first)
    assert t.resolved_first == len(resolved_first)
    assert row.fcr_rate == pytest.approx(len(resolved_first) / len(first), abs=1e-4)
    # Times: the script's talks (AHT: no wrap-up, no hold), within 0.5 s.
    talks = [c.talk * SCALE for c in calls if c.kind in ANSWERED_KINDS]
    expected_aht = sum(talks) / len(talks)
    assert row.aht_seconds is not None
    assert abs(row.aht_seconds - expected_aht) < 0.5, (row.aht_seconds, expected_aht)

    # -- by queue, by fault, by hotliner ---------------------------------------
    last = local_day(utcnow())
    queues = {r.key: r for r in report(engine, today, last, "queue", limits)}
    hardware = queues["hardware"]
    assert (
        hardware.totals.offered,
        hardware.totals.abandoned,
        hardware.totals.short_abandoned,
        hardware.service_level,
    ) == (10, 10, 5, 0.0)
    account = queues["account"]
    assert (
        account.totals.offered,
        account.totals.answered,
        account.totals.answered_in_sl,
        account.totals.abandoned,
    ) == (3, 2, 0, 1)
    assert account.callback_success_rate == pytest.approx(2 / 3, abs=1e-4)
    # The email queue: its calls were each queued once (the transfers left it
    # for the printer queue); its ASA is the simulator's own queue waits.
    email_callers = [c for c in calls if c.queue == "email"]
    assert queues["email"].totals.answered == len(email_callers)
    assert queues["printer"].totals.answered == sum(
        1 for c in calls if c.queue == "printer"
    )
    with carrier.board.lock:
        waits = [carrier.calls[c.sid].queue_time * SCALE for c in email_callers]
    email_asa = queues["email"].asa_seconds
    assert email_asa is not None
    assert abs(email_asa - sum(waits) / len(waits)) < 0.3, (email_asa, waits)
    faults = {r.key: r for r in report(engine, today, last, "fault", limits)}
    offline = faults["printer-offline"]
    assert (offline.totals.selfhelp, offline.totals.deflected) == (
        n["deflected"] + n["selfhelp_failed"],
        n["deflected"],
    )
    assert offline.deflection_rate == pytest.approx(
        n["deflected"] / (n["deflected"] + n["selfhelp_failed"]), abs=1e-4
    )
    people = {a.agent_id: a for a in agent_time(engine, today, last)}
    # Mia let two offers ring out (then she was away); nobody else missed one.
    assert (people["mia"].missed_offers, people["mia"].declined_offers) == (2, 0)
    assert sum(a.missed_offers + a.declined_offers for a in people.values()) == 2

    # -- the call log rebuilt from its own events ----------------------------------
    app_keys = Keys()

    def drained() -> bool:
        last = redis_client.xrevrange(app_keys.events, count=1)
        return not last or last[0][0].decode() == offset_of(engine)

    wait_for(drained, 30.0, "the writer to apply the whole stream")
    hotline.stack.stop()
    live = snapshot(engine)
    entries = stream_of(engine)
    engine.dispose()
    assert len(entries) == len(live["call_events"]) > 1000
    keys = Keys(prefix="day-replay")
    end = entries[-1][0]
    for name in ("straight", "killed"):
        (tmp_path / name).mkdir()
    with (
        throwaway_database(tmp_path / "straight") as straight_url,
        throwaway_database(tmp_path / "killed") as killed_url,
    ):
        # Straight, in batches of another size than the day's.
        upgrade(straight_url)
        straight = create_db_engine(straight_url)
        load_stream(redis_client, keys, entries)
        while drain_events(redis_client, straight, keys, batch=97):
            pass
        assert snapshot(straight) == live
        # The whole stream again, from its start: nothing changes.
        load_stream(redis_client, keys, entries)
        with Session(straight) as session:
            offset = session.get(StreamOffset, "events")
            assert offset is not None
            offset.last_id = "0-0"
            session.commit()
        assert drain_events(redis_client, straight, keys, max_batches=10**6) == len(
            entries
        )
        assert snapshot(straight) == live
        straight.dispose()

        # A writer SIGKILLed mid-batch, three times, then left to finish.
        upgrade(killed_url)
        killed = create_db_engine(killed_url)
        load_stream(redis_client, keys, entries)
        kills = []
        for _ in range(3):
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, redis_url, killed_url, keys.prefix]
            )
            before = offset_of(killed)
            # Once it has committed a batch, the next one is under way: kill.
            wait_for(lambda b=before: offset_of(killed) != b, 30.0, "a batch")
            time.sleep(random.uniform(0.0, 0.02))
            writer.send_signal(signal.SIGKILL)
            writer.wait(10)
            kills.append(offset_of(killed))
            redis_client.delete(keys.calllog_lock)  # its lease, lapsed
        assert kills[-1] != end, "the writer finished before it was killed"
        assert len(set(kills)) == 3
        while drain_events(redis_client, killed, keys):
            pass
        assert offset_of(killed) == end
        assert snapshot(killed) == live
        killed.dispose()
    print(
        f"day: {t.calls} calls, SL {row.service_level}, abandon {row.abandon_rate}, "
        f"ASA {row.asa_seconds} s, AHT {row.aht_seconds} s "
        f"(script {expected_aht:.2f}), "
        f"FCR {row.fcr_rate}, deflection printer-offline {offline.deflection_rate}; "
        f"{len(entries)} events rebuilt 3 ways equal; writer killed at {kills}"
    )
