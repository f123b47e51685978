"""The routing invariants, checked on the event stream a run left.

Shared by the tests that hammer the routing state from several processes: the
stores' own (`tests/integration/test_routing_properties.py`) and the whole
hotline's on a Redis Cluster (`tests/e2e/test_redis_cluster_stack.py`,
`tests/e2e/test_routing_groups_stack.py`, which read the events back from the
call log: `logged_run`).
"""

from __future__ import annotations

from typing import Any


def replay(entries: list[tuple[str, dict[str, str]]]) -> dict[str, str]:
    """Each call's state as the event stream tells it, checking every offer.

    Fails if a caller is offered while not waiting (so never to two hotliners
    at once) or a hotliner is offered a caller while still holding another.
    """
    calls: dict[str, str] = {}
    live_offer: dict[str, str] = {}
    holding: dict[str, str] = {}  # hotliner -> caller offered or being served
    consults: dict[str, str] = {}  # caller -> specialist of a warm transfer
    handed: set[str] = set()  # callers just handed to their specialist
    for entry_id, ev in entries:
        kind, sid, agent = ev["type"], ev["call"], ev["agent"]
        where = f"{entry_id} {ev}"
        if kind == "call_started":
            assert sid not in calls, where
            calls[sid] = "ivr"
        elif kind == "enqueued":
            assert calls[sid] == "ivr", where
            calls[sid] = "queued"
        elif kind == "offered":
            assert calls[sid] == "queued", f"caller offered twice: {where}"
            assert agent not in holding, f"hotliner holds {holding[agent]}: {where}"
            calls[sid], live_offer[sid], holding[agent] = "offered", ev["offer"], sid
        elif kind == "offer_rejected":
            assert live_offer.pop(sid) == ev["offer"], where
            assert calls[sid] == "offered", where
            calls[sid] = "queued"
            assert holding.pop(agent) == sid, where
        elif kind == "accepted":
            assert calls[sid] == "offered", where
            assert holding[agent] == sid, where
            del live_offer[sid]
            calls[sid] = "connected"
        elif kind == "talking" and sid in handed:
            handed.discard(sid)  # the specialist of a warm transfer talks now
            assert calls[sid] == "talking", where
            assert holding.get(agent) == sid, where
        elif kind == "talking":
            assert calls[sid] == "connected", where
            calls[sid] = "talking"
        elif kind == "consult_offered":
            assert calls[sid] == "talking", where
            assert sid not in consults, f"two transfers at once: {where}"
            assert agent not in holding, f"hotliner holds {holding[agent]}: {where}"
            consults[sid], holding[agent] = agent, sid
        elif kind == "consult_joined":
            assert consults[sid] == agent, where
        elif kind == "consult_ended":
            specialist = consults.pop(sid)
            assert specialist == ev["specialist"], where
            if holding.get(specialist) == sid:
                del holding[specialist]
        elif kind == "transferred":
            assert ev["kind"] == "warm", where
            assert calls[sid] == "talking", where
            assert consults.pop(sid) == ev["to"], where
            assert holding.get(ev["to"]) == sid, where
            handed.add(sid)
        elif kind == "requeued":
            # the hotliner left before the caller met them: back in place
            assert calls[sid] in ("connected", "talking"), where
            calls[sid] = "queued"
            for holder in [a for a, held in holding.items() if held == sid]:
                del holding[holder]
        elif kind == "call_ended":
            assert calls[sid] in ("ivr", "queued", "offered", "connected", "talking")
            if calls[sid] == "offered":
                del live_offer[sid]
                assert holding.pop(agent) == sid, where
            calls[sid] = ev["state"]
        elif kind == "agent_state" and ev.get("reason") != "missed":
            held = holding.pop(agent, None)
            if held is not None:  # a hotliner leaves only a finished call...
                over = (
                    ("completed", "talking")
                    if ev.get("reason") in ("leg_ended", "transferred")
                    else ("completed",)
                )  # ...or one their own leg left, or handed over
                assert calls[held] in over, f"left {held} live: {where}"
    return calls


def logged_run(
    database_url: str, calls: int
) -> tuple[dict[str, Any], list[tuple[str, dict[str, str]]]]:
    """Once `calls` calls are in the call log completed with an outcome: the
    rows by CallSid, and every event the log kept as a stream entry, in the
    order the stream had them (by time: routing groups' streams, whose ids
    the log marks by group, merged)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session
    from support import wait_for

    from calllog.models import Call, CallEvent

    engine = create_engine(database_url)

    def all_logged() -> bool:
        with Session(engine) as session:
            rows = session.scalars(select(Call)).all()
            return (
                sum(1 for r in rows if r.status == "completed" and r.outcome) == calls
            )

    wait_for(all_logged, 60.0, f"{calls} calls ended with their outcome, logged")
    with Session(engine) as session:
        rows = {r.call_sid: r for r in session.scalars(select(Call)).all()}
        events = session.scalars(select(CallEvent)).all()
    engine.dispose()
    entries = [
        (
            e.stream_id,
            {
                "type": e.type,
                "call": e.call_sid or "",
                "agent": e.agent_id or "",
                **{k: str(v) for k, v in e.data.items()},
            },
        )
        for e in events
    ]
    return rows, sorted(entries, key=lambda entry: stream_order(entry[0]))


def stream_order(stream_id: str) -> tuple[int, int]:
    """(ms, sequence) of a stream entry's id (a routing group's mark aside)."""
    ms, seq = stream_id.rpartition(":")[2].split("-")
    return int(ms), int(seq)
