"""Whether a caller who chose a queue may wait in it, as a named result."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from agents.lifecycle import AgentState
from queues.admission import Admission, admit, enqueued

SUNDAY_NOON = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)  # software queue closed
TUESDAY_NOON = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)


def test_the_store_codes_have_names() -> None:
    assert [enqueued(code) for code in (1, 0, -1, -2)] == [
        Admission.QUEUED,
        Admission.ALREADY_QUEUED,
        Admission.NOT_IN_MENU,
        Admission.UNKNOWN_CALL,
    ]


def test_a_caller_enters_an_open_staffed_queue_once(app: Flask) -> None:
    services = app.extensions["hotline"]
    services.runtime.store.start_call("CAad1", "+33611111111", "+33180000000", "fr-FR")
    assert admit(services.live, "CAad1", "printer", 0) is Admission.QUEUED
    assert admit(services.live, "CAad1", "printer", 0) is Admission.ALREADY_QUEUED
    assert services.runtime.store.call("CAad1")["state"] == "queued"


def test_an_unknown_call_is_refused_by_name(app: Flask) -> None:
    services = app.extensions["hotline"]
    assert admit(services.live, "CAnobody", "printer", 0) is Admission.UNKNOWN_CALL


def test_a_closed_queue_turns_the_caller_away_without_queueing_them(app: Flask) -> None:
    services = app.extensions["hotline"]
    rt = services.runtime
    rt.store.start_call("CAad2", "+33622222222", "+33180000000", "fr-FR")
    assert admit(services.live, "CAad2", "software", 0, SUNDAY_NOON) is (
        Admission.CLOSED
    )
    assert admit(services.live, "CAad2", "software", 0, TUESDAY_NOON) is (
        Admission.QUEUED
    )


def test_a_queue_nobody_serves_turns_the_caller_away(app: Flask) -> None:
    services = app.extensions["hotline"]
    rt = services.runtime
    ok, _ = rt.store.agents.set_state("nina", AgentState.OFFLINE, [])
    assert ok
    rt.store.start_call("CAad3", "+33633333333", "+33180000000", "fr-FR")
    assert admit(services.live, "CAad3", "printer", 0) is Admission.UNSTAFFED
    assert rt.store.call("CAad3")["state"] == "ivr"
