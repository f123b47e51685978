"""The event stream reaches the SQL call log exactly once, with every figure."""

from __future__ import annotations

import time

import pytest
import redis
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from agents.lifecycle import AgentState
from calllog.models import Call, CallEvent, StreamOffset
from calllog.writer import UNPROJECTED, drain_events
from core.keys import Keys
from queues.lifecycle import EventType
from queues.routing import QueueRule
from queues.store import RoutingStore


def test_whole_call_is_logged_with_wait_talk_agent_and_outcome(
    redis_client: redis.Redis, migrated_database: str
) -> None:
    keys = Keys(prefix="writer-test")
    store = RoutingStore(redis_client, keys)
    engine = create_engine(migrated_database)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    store.start_call("CAlog1", "+33611111111", "+33180000000", "fr-FR")
    store.note_call(
        "CAlog1", EventType.IVR_CHOICE, ivr_choice="file_imprimante", lang="fr-FR"
    )
    store.enqueue("CAlog1", "printer", 0)
    time.sleep(0.05)
    offer = store.match([QueueRule("printer", 1, 0, 1)], 15_000)
    assert offer is not None
    store.accept(offer.offer_id, "CAleg1")
    store.bridge("CAlog1")
    time.sleep(0.05)
    store.hang_up("CAlog1", "completed", wrapup_ms=30_000)
    store.record_outcome("CAlog1", "alice", "remote_takeover", "TeamViewer")
    applied = drain_events(redis_client, engine, keys)
    assert applied == 11
    assert drain_events(redis_client, engine, keys) == 0
    with Session(engine) as session:
        row = session.get(Call, "CAlog1")
        assert row is not None
        assert (row.status, row.queue, row.agent_id, row.outcome, row.ivr_choice) == (
            "completed",
            "printer",
            "alice",
            "remote_takeover",
            "file_imprimante",
        )
        assert row.wait_seconds is not None
        assert row.wait_seconds >= 0.05
        assert row.talk_seconds is not None
        assert row.talk_seconds >= 0.05
        assert row.offers == 1
        count = session.scalar(
            select(func.count())
            .select_from(CallEvent)
            .where(CallEvent.call_sid == "CAlog1")
        )
        assert count == 10  # all but the first "available" of the hotliner
    # applied entries are trimmed from the stream
    assert redis_client.xlen(keys.events) <= 1
    engine.dispose()


def test_abandoned_caller_is_logged_with_the_wait_before_hanging_up(
    redis_client: redis.Redis, migrated_database: str
) -> None:
    keys = Keys(prefix="writer-test2")
    store = RoutingStore(redis_client, keys)
    engine = create_engine(migrated_database)
    store.start_call("CAlog2", "+33622222222", "+33180000000", "fr-FR")
    store.enqueue("CAlog2", "network", 1)
    time.sleep(0.05)
    store.hang_up("CAlog2", "completed")
    drain_events(redis_client, engine, keys)
    with Session(engine) as session:
        row = session.get(Call, "CAlog2")
        assert row is not None
        assert (row.status, row.outcome) == ("abandoned", "abandoned")
        assert row.wait_seconds is not None
        assert row.wait_seconds >= 0.05
    engine.dispose()


def test_writer_resumes_after_the_committed_offset(
    redis_client: redis.Redis, migrated_database: str
) -> None:
    keys = Keys(prefix="writer-test3")
    store = RoutingStore(redis_client, keys)
    engine = create_engine(migrated_database)
    store.start_call("CAlog3", "+33633333333", "+33180000000", "fr-FR")
    assert drain_events(redis_client, engine, keys, batch=1, max_batches=1) == 1
    store.hang_up("CAlog3", "completed")
    # a writer that died without committing leaves the offset where it was
    assert drain_events(redis_client, engine, keys) == 1
    with Session(engine) as session:
        offset = session.get(StreamOffset, "events")
        assert offset is not None
        row = session.get(Call, "CAlog3")
        assert row is not None
        assert row.status == "abandoned"
        assert row.outcome == "abandoned_in_ivr"
    engine.dispose()


def test_only_one_writer_drains_at_a_time(
    redis_client: redis.Redis, migrated_database: str
) -> None:
    keys = Keys(prefix="writer-test4")
    store = RoutingStore(redis_client, keys)
    engine = create_engine(migrated_database)
    store.start_call("CAlog4", "+33644444444", "+33180000000", "fr-FR")
    redis_client.set(keys.calllog_lock, "someone-else", px=10_000)
    assert drain_events(redis_client, engine, keys) == 0
    redis_client.delete(keys.calllog_lock)
    assert drain_events(redis_client, engine, keys) == 1
    engine.dispose()


def test_an_event_of_unknown_type_is_kept_raw_counted_and_said(
    redis_client: redis.Redis, migrated_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    keys = Keys(prefix="writer-test5")
    store = RoutingStore(redis_client, keys)
    engine = create_engine(migrated_database)
    store.start_call("CAlog5", "+33655555555", "+33180000000", "fr-FR")
    redis_client.xadd(
        keys.events, {"type": "mystery", "call": "CAlog5", "agent": "", "at": "1"}
    )
    store.hang_up("CAlog5", "completed")
    before = UNPROJECTED["mystery"]
    assert drain_events(redis_client, engine, keys) == 3
    assert UNPROJECTED["mystery"] == before + 1
    assert "no projection for event type 'mystery'" in caplog.text
    with Session(engine) as session:
        kinds = session.scalars(
            select(CallEvent.type).where(CallEvent.call_sid == "CAlog5")
        ).all()
        assert sorted(kinds) == ["call_ended", "call_started", "mystery"]
        row = session.get(Call, "CAlog5")
        assert row is not None
        assert row.status == "abandoned"  # the events after it still applied
    engine.dispose()
