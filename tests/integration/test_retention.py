"""Retention: old calls lose their personal data and keep their figures."""

from __future__ import annotations

import shutil
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from calllog.buckets import local_day
from calllog.db import create_db_engine, upgrade
from calllog.models import Call, CallEvent
from calllog.reports import report
from calllog.retention import anonymise_before
from cli.main import main
from core.clock import utcnow
from core.settings import DEFAULT_CONFIG_DIR


def calls_and_events(days_ago: int, sid: str) -> list[Any]:
    at = utcnow() - timedelta(days=days_ago)
    return [
        Call(
            call_sid=sid,
            from_number="+33611112222",
            callback_number="+33611112222",
            status="completed",
            outcome="resolved",
            notes="M. Dupont, bureau 214, mot de passe expiré",
            queue="account",
            queued_at=at,
            answered_at=at,
            wait_seconds=12,
            handle_talk_seconds=240,
            wrapup_seconds=30,
            started_at=at,
            local_day=local_day(at),
            local_halfhour=20,
            offers=1,
        ),
        CallEvent(
            stream_id=f"{sid}-1",
            type="call_started",
            call_sid=sid,
            at=at,
            data={"from": "+33611112222", "to": "+33180000000", "lang": "fr-FR"},
        ),
        CallEvent(
            stream_id=f"{sid}-2",
            type="ivr_note",
            call_sid=sid,
            at=at,
            data={
                "path:0000000000001": "accueil|key|5",
                "path:0000000000002": "menu_compte|said|je suis Jean Dupont",
            },
        ),
        CallEvent(
            stream_id=f"{sid}-3",
            type="outcome",
            call_sid=sid,
            agent_id="nina",
            at=at,
            data={"outcome": "resolved", "notes": "bureau 214"},
        ),
    ]


@pytest.fixture
def engine(fresh_database_url: str) -> Any:
    upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    with Session(engine) as session:
        session.add_all(calls_and_events(400, "CAold") + calls_and_events(10, "CAnew"))
        session.commit()
    yield engine
    engine.dispose()


def test_old_calls_lose_personal_data_and_keep_their_figures(engine: Any) -> None:
    with Session(engine) as session:
        old_day = session.get(Call, "CAold").local_day  # type: ignore[union-attr]
    assert old_day is not None
    figures = report(engine, old_day, old_day, "all", rollups=False)[0].as_json()
    before = utcnow() - timedelta(days=365)

    counted = anonymise_before(engine, before, dry_run=True)
    assert (counted.calls, counted.events) == (1, 3)
    with Session(engine) as session:
        assert session.get(Call, "CAold").from_number == "+33611112222"  # type: ignore[union-attr]

    done = anonymise_before(engine, before)
    assert (done.calls, done.events) == (1, 3)
    with Session(engine) as session:
        old = session.get(Call, "CAold")
        assert old is not None
        assert (old.from_number, old.callback_number, old.notes) == ("", "", None)
        assert old.anonymised_at is not None
        events = {
            e.type: e.data
            for e in session.scalars(
                select(CallEvent).where(CallEvent.call_sid == "CAold")
            )
        }
        assert events["call_started"]["from"] == ""
        assert events["call_started"]["to"] == "+33180000000"  # the hotline's
        assert events["ivr_note"] == {
            "path:0000000000001": "accueil|key|5",  # a key pressed stays
            "path:0000000000002": "menu_compte|said|",  # words said go
        }
        assert events["outcome"] == {"outcome": "resolved", "notes": ""}
        new = session.get(Call, "CAnew")
        assert new is not None
        assert (new.from_number, new.notes) == (
            "+33611112222",
            "M. Dupont, bureau 214, mot de passe expiré",
        )
    after = report(engine, old_day, old_day, "all", rollups=False)[0].as_json()
    assert after == figures
    assert anonymise_before(engine, before).calls == 0  # once only


def test_the_purge_command(engine: Any, fresh_database_url: str, tmp_path: Any) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": fresh_database_url}
    dry = runner.invoke(
        main, ["calllog", "purge", "--days", "365", "--dry-run"], env=env
    )
    assert dry.exit_code == 0, dry.output
    assert "would anonymise 1 calls" in dry.output
    real = runner.invoke(main, ["calllog", "purge", "--days", "365"], env=env)
    assert real.exit_code == 0, real.output
    assert "anonymised 1 calls" in real.output
    # without --days: hotline.yaml's period (365 days shipped), nothing left
    shipped = runner.invoke(main, ["calllog", "purge"], env=env)
    assert shipped.exit_code == 0, shipped.output
    assert "anonymised 0 calls" in shipped.output
    # and with no period configured, it says what to set
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    hotline = config / "hotline.yaml"
    hotline.write_text(
        hotline.read_text(encoding="utf-8").replace(
            "retention_days: 365", "retention_days: 0"
        ),
        encoding="utf-8",
    )
    none = runner.invoke(
        main, ["calllog", "purge"], env=env | {"HOTLINE_CONFIG": str(config)}
    )
    assert none.exit_code != 0
    assert "calllog.retention_days" in none.output
