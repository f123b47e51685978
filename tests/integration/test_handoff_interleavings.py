"""Every order of ring, answer, set-leg and hang-ups, on a real Redis.

One caller, one hotliner. A model of the carrier (`World`) plays Twilio's
side: legs that ring and answer, a caller in Twilio's queue or in the
conference (both ends `endConferenceOnExit`), REST requests, and webhooks
in flight, which Twilio may deliver in any order. The hotline's side is the
real code: `queues.handoff` and the store's Lua scripts, called exactly as
the webhooks and the worker call them.

At each step the explorer picks one of: a webhook in flight (the REST answer
to "ring the hotliner", i.e. set-leg; the answer webhook; status callbacks;
the caller fetching /voice/caller/connect...), a person's action (the
hotliner answers, hangs up, does not answer; the caller hangs up), an offer
expiring, or, once nothing is in flight, time passing (the worker's timers).
`test_every_interleaving...` walks every order (depth-first, each path
replayed from an empty Redis); `test_random_interleavings...` samples long
paths with re-offers.

What must hold:
- whenever nothing is in flight: a caller in a conference without their
  hotliner has an `alone:` timer that will move them out; a caller in
  Twilio's queue is queued or offered in Redis (never lost); a hotliner busy
  in Redis has a live leg, a reserved one a ringing leg, one in wrap-up a
  timer that ends it;
- at the end (everyone has hung up, timers fired): the call is over in Redis
  (completed or abandoned), the hotliner is available, no offer is live.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from support import ROUND_THE_CLOCK

from agents.lifecycle import AgentState
from core.settings import DEFAULT_CONFIG_DIR, Settings
from core.telephony import TelephonyError
from queues import handoff, routing
from queues.runtime import Runtime, build_runtime
from queues.store import Offer

CALLER = "CAcaller0000000000000000000000000001"
AGENT = "nina"
QUEUE = "email"
MAX_OFFERS = 2  # a requeued caller may be offered once more

Step = tuple[str, ...]


@dataclass
class Leg:
    sid: str
    offer: str
    state: str = "ringing"  # ringing | answering | whisper | conference | gone
    answered: bool = False


@dataclass
class World:
    """The carrier as Twilio would behave, and the webhooks it has in flight."""

    caller: str = "queue"  # queue | fetching | conference | after | gone
    legs: list[Leg] = field(default_factory=list)
    conference: set[str] = field(default_factory=set)  # 'caller', leg sids
    in_flight: list[tuple[Step, handoff.Next | None]] = field(default_factory=list)
    caller_hung_up: bool = False
    met: bool = False  # caller and hotliner were in the conference together
    offers: dict[str, Offer] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # what a person would resent

    def join(self, who: str) -> None:
        self.conference.add(who)
        if "caller" in self.conference and len(self.conference) > 1:
            self.met = True

    def send(self, step: Step, todo: handoff.Next | None = None) -> None:
        self.in_flight.append((step, todo))

    def leg(self, sid: str) -> Leg | None:
        return next((leg for leg in self.legs if leg.sid == sid), None)

    @property
    def live_leg(self) -> Leg | None:
        return next((leg for leg in self.legs if leg.state != "gone"), None)

    # -- the conference: both ends leave it with endConferenceOnExit ----------

    def leave_conference(self, who: str) -> None:
        if who not in self.conference:
            return
        self.conference.discard(who)
        for other in list(self.conference):  # the conference ends: all kicked
            self.conference.discard(other)
            if other == "caller":
                self.caller = "after"
                self.send(("caller_after",))
            else:
                self.hang_up_leg(other, "completed")

    def hang_up_leg(self, sid: str, status: str) -> None:
        leg = self.leg(sid)
        if leg is None or leg.state == "gone":
            return
        self.leave_conference(sid)
        leg.state = "gone"
        self.send(("leg_final", sid, status))

    def caller_leaves(self, *, said_goodbye: bool = False) -> None:
        if said_goodbye and not self.met:
            self.faults.append("caller sent away without meeting a hotliner")
        self.caller = "gone"
        self.leave_conference("caller")
        self.send(("caller_final",))

    # -- Telephony (what the hotline asks of the carrier) -------------------------

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> str:
        offer = parse_qs(urlsplit(url).query)["offer"][0]
        leg = Leg(sid=f"CAleg{len(self.legs) + 1}", offer=offer)
        self.legs.append(leg)
        return leg.sid

    def redirect(self, call_sid: str, url: str) -> None:
        if call_sid != CALLER or self.caller in ("gone", "after"):
            raise TelephonyError("Call is not in-progress. Cannot redirect.")
        self.leave_conference("caller")
        self.caller = "fetching"
        path = urlsplit(url).path
        self.send(("connect",) if path.endswith("/connect") else ("requeue",))

    def end(self, call_sid: str) -> None:
        leg = self.leg(call_sid)
        if (
            leg is not None
            and leg.state in ("whisper", "conference")
            and (self.caller != "gone")
        ):
            self.faults.append(f"hung up on {leg.sid}, who answered a waiting caller")
        if leg is not None:
            self.hang_up_leg(
                call_sid, "canceled" if leg.state == "ringing" else "completed"
            )

    def status(self, call_sid: str) -> str | None:
        if call_sid == CALLER:
            return "completed" if self.caller == "gone" else "in-progress"
        leg = self.leg(call_sid)
        if leg is None:
            return None
        return {"ringing": "ringing", "gone": "completed"}.get(leg.state, "in-progress")

    def send_sms(self, *, to: str, from_: str, body: str) -> None:
        raise AssertionError("no text in these scenarios")


class Scenario:
    """One path: the hotline's code and the world, moved one step at a time."""

    def __init__(self, rt: Runtime, wrapup_seconds: int, max_offers: int) -> None:
        self.rt = rt
        self.max_offers = max_offers
        self.world = World()
        rt._telephony = self.world
        rt.redis.flushdb()
        self.wrapup_ms = wrapup_seconds * 1000
        hotline = rt.routing.hotline
        object.__setattr__(hotline, "wrapup_seconds", wrapup_seconds)
        object.__setattr__(hotline, "max_missed_offers", 1000)  # never away here
        nina = rt.routing.hotliners[AGENT]  # type: ignore[index]
        rt.store.agents.set_state(
            AGENT, AgentState.AVAILABLE, routing.memberships(nina, rt.routing)
        )
        rt.store.start_call(CALLER, "+33611111111", "+33180000000", "fr-FR")
        assert rt.store.enqueue(CALLER, QUEUE, 0) == 1
        self.world.send(("carry_out",), handoff.Next(dispatch=True))

    # -- what can happen next -------------------------------------------------------

    def choices(self) -> list[Step]:
        w = self.world
        options: list[Step] = [("deliver", str(i)) for i in range(len(w.in_flight))]
        leg = w.live_leg
        if leg is not None and leg.state == "ringing":
            options += [("hotliner_answers",), ("no_answer",)]
        if leg is not None and leg.state in ("whisper", "conference"):
            options.append(("hotliner_hangs_up",))
        if w.caller != "gone" and not w.caller_hung_up:
            options.append(("caller_hangs_up",))
        if self.rt.store.expired_offers(at_ms=2**50):
            options.append(("offer_expires",))
        if not w.in_flight and self._due_timers():
            options.append(("time_passes",))
        return options

    def _due_timers(self) -> list[str]:
        return self.rt.store.due_timers(at_ms=2**50)

    def take(self, choice: Step) -> None:
        w, rt = self.world, self.rt
        w.log.append(" ".join(choice))
        kind = choice[0]
        if kind == "deliver":
            step, todo = w.in_flight.pop(int(choice[1]))
            w.log[-1] = "deliver " + " ".join(step)
            self.deliver(step, todo)
        elif kind == "hotliner_answers":
            leg = w.live_leg
            assert leg is not None
            leg.state, leg.answered = "answering", True
            w.send(("answer", leg.sid))
        elif kind == "no_answer":
            leg = w.live_leg
            assert leg is not None
            w.hang_up_leg(leg.sid, "no-answer")
        elif kind == "hotliner_hangs_up":
            leg = w.live_leg
            assert leg is not None
            w.hang_up_leg(leg.sid, "completed")
        elif kind == "caller_hangs_up":
            w.caller_hung_up = True
            w.caller_leaves()
        elif kind == "offer_expires":
            for offer_id in rt.store.expired_offers(at_ms=2**50):
                rt.redis.zadd(rt.keys.offers, {offer_id: 0})
            self.carry_out(_expire(rt))
        elif kind == "time_passes":
            for member in self._due_timers():
                lease = rt.store.claim_timer(member, at_ms=2**50)
                if lease is not None:
                    w.log.append(f"  timer {member}")
                    self.carry_out(handoff.fire_timer(rt, member))
                    rt.store.release_timer(member, lease)

    def deliver(self, step: Step, todo: handoff.Next | None) -> None:
        """A webhook (or a REST answer) reaches the hotline."""
        w, rt = self.world, self.rt
        kind = step[0]
        if kind == "carry_out":
            assert todo is not None
            self.carry_out(todo)
        elif kind == "leg_placed":
            handoff.leg_placed(rt, w.offers[step[1]], step[2])
        elif kind == "answer":
            leg = w.leg(step[1])
            assert leg is not None
            accepted = handoff.hotliner_answered(rt, leg.offer, leg.sid)
            if leg.state == "gone":
                return  # hung up meanwhile: the TwiML goes nowhere
            if accepted is None:  # "offer gone": the hotliner's leg hangs up
                w.hang_up_leg(leg.sid, "completed")
                return
            leg.state = "whisper"
            w.send(("joins", leg.sid))
            self.carry_out(handoff.Next(connect=accepted.call_sid))
        elif kind == "joins":
            leg = w.leg(step[1])
            assert leg is not None
            if leg.state == "whisper":
                leg.state = "conference"
                w.join(leg.sid)
        elif kind == "connect":
            if w.caller != "fetching":
                return
            state = rt.store.bridge(CALLER)
            if state == "talking":
                w.caller = "conference"
                w.join("caller")
            elif state in handoff.HOLDING:
                w.caller = "queue"
                self.carry_out(handoff.Next(dispatch=True))
            else:
                w.caller_leaves(said_goodbye=w.caller != "gone")
        elif kind == "requeue":
            if w.caller != "fetching":
                return
            requeued = rt.store.requeue_alone(CALLER)
            if requeued or rt.store.call(CALLER).get("state") in handoff.HOLDING:
                w.caller = "queue"
                self.carry_out(handoff.Next(dispatch=True))
            else:
                w.caller_leaves(said_goodbye=True)
        elif kind == "caller_after":
            rt.store.conference_over(CALLER)
            if w.caller == "after":
                w.caller_leaves(said_goodbye=True)  # goodbye, then the call ends
        elif kind == "leg_final":
            leg = w.leg(step[1])
            assert leg is not None
            self.carry_out(
                handoff.hotliner_leg_ended(rt, leg.offer, AGENT, leg.sid, step[2])
            )
        elif kind == "caller_final":
            self.carry_out(handoff.caller_gone(rt, CALLER, "completed"))
        else:
            raise AssertionError(step)

    def carry_out(self, todo: handoff.Next) -> None:
        """`handoff.carry_out`, with the ring split at its REST answer."""
        rt, w = self.rt, self.world
        for leg in todo.end_legs:
            handoff.end_leg(rt, leg)
        if todo.connect:
            handoff.connect_caller(rt, todo.connect)
        if todo.dispatch and len(w.offers) < self.max_offers:
            offer = rt.store.match(routing.rules(rt.routing), 60_000)
            if offer is not None:
                w.offers[offer.offer_id] = offer
                leg = handoff.place_leg(rt, offer)
                assert leg is not None
                w.send(("leg_placed", offer.offer_id, leg))

    # -- what must hold ---------------------------------------------------------

    def check_quiet(self) -> None:
        """Nothing in flight: no caller lost, alone for good, no hotliner stuck."""
        w, rt = self.world, self.rt
        call = rt.store.call(CALLER)
        agent = rt.store.agents.get(AGENT)
        timers = set(rt.store.due_timers(at_ms=2**50))
        where = (
            f"{w.caller} conf={w.conference} call={call} agent={agent} timers={timers}"
        )
        legs_in_conf = [s for s in w.conference if s != "caller"]
        if w.caller == "conference" and not legs_in_conf:
            assert f"alone:{CALLER}" in timers, f"caller alone for good: {where}"
        if w.caller == "queue":
            assert call["state"] in ("queued", "offered") or (
                call["state"] == "connected" and f"bridge:{CALLER}" in timers
            ), f"caller in Twilio's queue but not waiting in ours: {where}"
        if w.caller == "gone":
            assert call["state"] in ("completed", "abandoned"), where
        live = w.live_leg
        if agent.get("state") == "busy":
            assert live is not None, where
            assert live.sid == agent.get("leg"), where
            assert live.state in ("whisper", "conference"), where
        if agent.get("state") == "reserved":
            assert live is not None, where
            assert live.state == "ringing", where
        if agent.get("state") == "wrapup":
            assert f"wrapup:{AGENT}" in timers, where

    def check_end(self) -> None:
        assert self.world.faults == [], f"{self.world.faults} after {self.world.log}"
        rt = self.rt
        call = rt.store.call(CALLER)
        agent = rt.store.agents.get(AGENT)
        assert call["state"] in ("completed", "abandoned"), call
        assert agent["state"] == "available", agent
        assert agent.get("call_sid", "") == "", agent
        assert agent.get("leg", "") == "", agent
        assert rt.store.expired_offers(at_ms=2**50) == []
        assert rt.store.due_timers(at_ms=2**50) == []
        assert all(leg.state == "gone" for leg in self.world.legs)


def _expire(rt: Runtime) -> handoff.Next:
    """`handoff.expire_offers` without its carry-out (the scenario does it)."""
    todo = handoff.NOTHING
    for offer_id in rt.store.expired_offers():
        leg = rt.store.offer(offer_id).get("leg")
        if rt.store.reject(offer_id, "expired", 1000) is not None:
            todo |= handoff.Next(end_legs=(leg,) if leg else (), dispatch=True)
    return todo


def run_path(
    rt: Runtime,
    wrapup_seconds: int,
    choose: Callable[[list[Step]], int],
    max_offers: int = 1,
    max_steps: int = 80,
) -> Scenario:
    scenario = Scenario(rt, wrapup_seconds, max_offers)
    for _ in range(max_steps):
        options = scenario.choices()
        if not options:
            break
        if not scenario.world.in_flight:
            scenario.check_quiet()
        scenario.take(options[choose(options)])
    else:
        raise AssertionError(f"path longer than {max_steps}: {scenario.world.log}")
    scenario.check_quiet()
    scenario.check_end()
    return scenario


@pytest.fixture
def runtime(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> Iterator[Runtime]:
    config_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    (config_dir / "hotliners.yaml").write_text(ROUND_THE_CLOCK, encoding="utf-8")
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
            "HOTLINE_CONFIG": str(config_dir),
            "HOTLINE_INSTANCE": str(tmp_path / "instance"),
        }
    )
    rt = build_runtime(settings, telephony=World())
    try:
        yield rt
    finally:
        rt.redis.close()


class Explorer:
    """Depth-first over every choice, each path replayed from the start."""

    def __init__(self) -> None:
        self.prefix: list[int] = []
        self.trail: list[tuple[int, int]] = []  # (chosen, options) of this path

    def choose(self, options: list[Step]) -> int:
        depth = len(self.trail)
        chosen = self.prefix[depth] if depth < len(self.prefix) else 0
        self.trail.append((chosen, len(options)))
        return chosen

    def next_path(self) -> bool:
        while self.trail:
            chosen, count = self.trail.pop()
            if chosen + 1 < count:
                self.prefix = [c for c, _ in self.trail] + [chosen + 1]
                self.trail = []
                return True
        return False


@pytest.mark.parametrize("wrapup_seconds", [0, 30])
def test_every_interleaving_of_ring_answer_set_leg_and_hang_ups(
    runtime: Runtime, wrapup_seconds: int
) -> None:
    explorer = Explorer()
    paths = 0
    seen_answer_before_set_leg = 0
    seen_alone_recovered = 0
    while True:
        try:
            scenario = run_path(runtime, wrapup_seconds, explorer.choose)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\npath: {explorer.trail}") from exc
        paths += 1
        log = scenario.world.log
        if any(s.startswith("deliver answer") for s in log) and log.index(
            next(s for s in log if s.startswith("deliver answer"))
        ) < log.index(next(s for s in log if s.startswith("deliver leg_placed"))):
            seen_answer_before_set_leg += 1
        if any("timer alone:" in s for s in log):
            seen_alone_recovered += 1
        if not explorer.next_path():
            break
    print(
        f"{paths} paths, answer before set-leg in {seen_answer_before_set_leg}, "
        f"alone timer fired in {seen_alone_recovered}"
    )
    assert paths > 1000
    assert seen_answer_before_set_leg > 100
    assert seen_alone_recovered > 0


def test_random_long_interleavings_with_re_offers(runtime: Runtime) -> None:
    rng = random.Random(int(os.environ.get("HOTLINE_SEED", "20261202")))
    for n in range(int(os.environ.get("HOTLINE_PATHS", "400"))):
        try:
            run_path(
                runtime,
                rng.choice((0, 30)),
                lambda options: rng.randrange(len(options)),
                MAX_OFFERS,
            )
        except AssertionError as exc:
            raise AssertionError(f"random path {n}: {exc}") from exc
