"""`hotline shifts coverage`: the call log's demand against the rota, checked
against figures worked out by hand for a small scripted history.

History: on each of the four Mondays before Monday 30 November 2026 (2, 9,
16 and 23 November), 100 email calls arrived between 09:00 and 09:30 Paris
time (08:00-08:30 UTC in November), each handled in 180 s (talk, no hold,
no wrap-up). The email queue's target is the default 80 % within 20 s.

By hand:
- calls per half hour on Monday 09:00: 4 x 100 calls / 4 Mondays = 100;
- AHT 180 s, so traffic A = 100 x 180 / 1800 s = 10 Erlangs;
- hotliners needed: 14, the published figure for exactly this case (100
  calls in 30 min, AHT 180 s, 80/20: callcentrehelper.com's Erlang C worked
  example, reproduced by the R package ErlangC's README, 14 agents, SL
  88.8 %); every other half hour had no call: 0 needed;
- on shift with email at 09:00-09:30 on Monday 30 November: Nina (mon-fri
  08:00-16:00) 1, Omar (mon-fri 09:15-17:00) half the half hour 0.5, Paul
  (mon-fri 08:00-16:00) is sick that day 0, Rémi (printer only) does not
  count: 1.5, so 12.5 missing: understaffed;
- at 10:00: 0 needed, Nina and Omar on shift 2.0 > 0 + slack 1: overstaffed;
- at 07:00: nobody needed, nobody on shift: ok.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calllog.buckets import half_hour, local_day
from calllog.coverage import coverage_report
from calllog.db import create_db_engine, upgrade
from calllog.models import Call
from cli.main import main
from core.settings import DEFAULT_CONFIG_DIR
from queues.config import RoutingConfig, load_routing_config
from queues.staffing import CoverageStatus

HOTLINERS = """hotliners:
  - id: nina
    name: Nina
    endpoint: "client:nina"
    skills: {email: 3}
    shifts: ["mon-fri 08:00-16:00"]
  - id: omar
    name: Omar
    endpoint: "client:omar"
    skills: {email: 2, printer: 2}
    shifts: ["mon-fri 09:15-17:00"]
  - id: paul
    name: Paul
    endpoint: "client:paul"
    skills: {email: 2}
    shifts: ["mon-fri 08:00-16:00"]
    exceptions: ["sick 2026-11-30"]
  - id: remi
    name: Rémi
    endpoint: "client:remi"
    skills: {printer: 3}
    shifts: ["mon-fri 08:00-16:00"]
"""
MONDAYS = (2, 9, 16, 23)  # November 2026


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    (folder / "hotliners.yaml").write_text(HOTLINERS, encoding="utf-8")
    return folder


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    calls = []
    for day in MONDAYS:
        for n in range(100):
            # 08:00 UTC + n x 18 s: every one within 09:00-09:30 Paris.
            at = datetime(2026, 11, day, 8, 0, tzinfo=UTC) + timedelta(seconds=18 * n)
            calls.append(
                Call(
                    call_sid=f"CAcov{day:02d}{n:03d}",
                    status="completed",
                    queue="email",
                    offers=1,
                    started_at=at,
                    queued_at=at,
                    answered_at=at,
                    local_day=local_day(at),
                    local_halfhour=half_hour(at),
                    handle_talk_seconds=180,
                    hold_seconds=0,
                    wrapup_seconds=0,
                )
            )
    assert {(c.local_day, c.local_halfhour) for c in calls[:100]} == {
        ("2026-11-02", 18)
    }
    with Session(engine) as session:
        session.add_all(calls)
        session.commit()
    try:
        yield engine
    finally:
        engine.dispose()


def test_needed_and_on_shift_match_the_figures_worked_out_by_hand(
    engine: Engine, config_dir: Path
) -> None:
    routing: RoutingConfig = load_routing_config(config_dir)
    rows = coverage_report(engine, routing, date(2026, 11, 30), 1, weeks=4)
    email = {row.start.strftime("%H:%M"): row for row in rows if row.skill == "email"}
    assert len(email) == 48
    nine = email["09:00"]
    assert nine.calls == pytest.approx(100.0)
    assert nine.needed == 14
    assert nine.on_shift == pytest.approx(1.5)
    assert nine.gap == pytest.approx(12.5)
    assert nine.status is CoverageStatus.UNDERSTAFFED
    ten = email["10:00"]
    assert ten.needed == 0
    assert ten.on_shift == pytest.approx(2.0)
    assert ten.status is CoverageStatus.OVERSTAFFED
    seven = email["07:00"]
    assert (seven.needed, seven.on_shift, seven.status) == (0, 0.0, CoverageStatus.OK)
    # Omar counts for printers too (with Rémi) at 10:00: 2 on shift.
    printer_ten = next(
        r for r in rows if r.skill == "printer" and r.start.strftime("%H:%M") == "10:00"
    )
    assert printer_ten.on_shift == pytest.approx(2.0)


def test_the_command_prints_the_same_figures_as_a_table_and_as_csv(
    engine: Engine, config_dir: Path, fresh_database_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": fresh_database_url,
        "HOTLINE_CONFIG": str(config_dir),
        "HOTLINE_INSTANCE": str(tmp_path / "instance"),
        "REDIS_URL": "",
    }
    runner = CliRunner()
    args = ["shifts", "coverage", "--from", "2026-11-30", "--days", "1"]
    csv_out = runner.invoke(main, [*args, "--format", "csv"], env=env)
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.splitlines()
    header = lines[0].split(",")
    nine = next(
        dict(zip(header, line.split(","), strict=True))
        for line in lines
        if line.startswith("2026-11-30T09:00") and ",email," in line
    )
    assert (nine["needed"], nine["status"]) == ("14", "understaffed")
    table = runner.invoke(main, args, env=env)
    assert table.exit_code == 0, table.output
    row = next(
        line
        for line in table.output.splitlines()
        if "T09:00" in line and " email " in line
    )
    assert row.split()[3:] == ["14", "1.50", "+12.50", "understaffed"]
    bad = runner.invoke(main, ["shifts", "coverage", "--from", "30/11/2026"], env=env)
    assert bad.exit_code == 2
    assert "is not a day like" in bad.output
