"""An edit of the configuration is live in every process within 2 s.

The whole hotline as `hotline run` starts it, with two gunicorn workers and
two RQ workers (plus the consoles' feed), on a Valkey of its own and the
carrier simulator. While Nina talks with a caller, a supervisor adds a queue
("licences"), a hotliner who takes it (Léa) and a key of the welcome menu
that leads there, writing the three files one after the other. Then:

- every process logs the new version (its content hash) within 2 s of the
  last write: both web workers, the feed, both RQ workers;
- Léa logs in through the API (either web worker answers) and a new caller
  who presses 7 is queued in "licences" and talks with her;
- the call in progress is not disturbed: it goes on and ends as it began,
  and the carrier saw no error.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from support import round_the_clock, supervisor_token

from calllog.db import normalise_url, upgrade
from calllog.models import Call
from cli.stack import Stack
from core.embedded_redis import EmbeddedRedis, free_port
from core.settings import (
    DEFAULT_CONFIG_DIR,
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
)
from simulator.carrier import Carrier, CarrierConfig
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile
from web.config_versions import content_version, read_files

pytestmark = pytest.mark.e2e

TIME_SCALE = 0.1  # a simulated second lasts 100 ms
CONVERGE_SECONDS = 2.0

NEW_QUEUE = """  - id: licences
    skill: licence
    name: {fr-FR: "licences", en-US: "licences"}
"""
NEW_HOTLINER = """  - id: lea
    name: "Léa Licences"
    endpoint: "client:lea"
    skills: {licence: 3}
    shifts: ["daily 00:00-00:00"]
"""
NEW_OPTION = """      - key: "7"
        label: {fr-FR: licences, en-US: licences}
        keywords: {fr-FR: [licence], en-US: [licence]}
        goto: file_licences
"""
NEW_NODE = """  file_licences:
    type: queue
    queue: licences
    priority: 0
    announce:
      fr-FR: "Nous vous mettons en relation avec le service des licences."
      en-US: "We are putting you through to the licences desk."
"""


class Running:
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        upgrade(database_url)
        self.database_url = database_url
        self.config_dir = tmp_path / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, self.config_dir)
        (self.config_dir / "hotliners.yaml").write_text(
            round_the_clock(("nina", "Nina")), encoding="utf-8"
        )
        self.valkey = EmbeddedRedis(tmp_path / "valkey")
        self.valkey.start()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.carrier = Carrier(
            CarrierConfig(
                account_sid=SIMULATOR_ACCOUNT_SID,
                auth_token=SIMULATOR_AUTH_TOKEN,
                voice_url=f"{self.url}/voice/incoming",
                status_callback_url=f"{self.url}/voice/status",
                time_scale=TIME_SCALE,
            )
        )
        self.carrier.start(host="127.0.0.1", port=0)
        self.logs = tmp_path / "logs"
        self.stack = Stack(
            {
                "REDIS_URL": self.valkey.url,
                "DATABASE_URL": database_url,
                "TWILIO_ACCOUNT_SID": "",
                "TWILIO_AUTH_TOKEN": "",
                "SECRET_KEY": "",
                "TWILIO_API_BASE_URL": self.carrier.api_base_url,
                "PUBLIC_BASE_URL": self.url,
                "HOTLINE_CONFIG": str(self.config_dir),
                "HOTLINE_INSTANCE": str(tmp_path / "instance"),
            },
            port,
            self.logs,
            workers=2,
            web_workers=2,
        )
        self.stack.start()
        self.console = AgentConsoleClient(
            self.url, token=supervisor_token(database_url)
        )

    def stop(self) -> None:
        self.carrier.stop()
        self.stack.stop()
        self.valkey.stop()

    def append(self, name: str, after: str, text: str) -> None:
        path = self.config_dir / name
        old = path.read_text(encoding="utf-8")
        assert after in old, (name, after)
        path.write_text(old.replace(after, after + text, 1), encoding="utf-8")

    def reloaded(self, version: str) -> dict[str, set[str]]:
        """Per log file, the processes that logged `version`."""
        found: dict[str, set[str]] = {}
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace")
            pids = re.findall(
                rf"configuration reloaded: version {version} \(process (\d+)\)", text
            )
            if pids:
                found[log.stem] = set(pids)
        return found


@pytest.fixture
def running(tmp_path: Path, fresh_database_url: str) -> Iterator[Running]:
    hotline = Running(tmp_path, fresh_database_url)
    try:
        yield hotline
    finally:
        hotline.stop()


def test_an_edit_adding_a_queue_and_a_hotliner_is_live_everywhere_within_two_seconds(
    running: Running,
) -> None:
    carrier = running.carrier
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=60.0,  # six real seconds: talking during the edit
            console=running.console,
        )
    )
    before = carrier.place_call(
        CallerScript(from_number="+33630000001", inputs=[Digits("4")])
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        transcript = carrier.calls[before.sid].transcript
        if any(e.kind == "connected" for e in transcript):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the first caller never reached Nina")

    running.append("queues.yaml", "queues:\n", NEW_QUEUE)
    running.append("hotliners.yaml", "hotliners:\n", NEW_HOTLINER)
    running.append("ivr.yaml", "    options:\n", NEW_OPTION)
    running.append("ivr.yaml", "nodes:\n", NEW_NODE)
    edited = time.monotonic()
    version = content_version(read_files(running.config_dir))
    seen: dict[str, set[str]] = {}
    while time.monotonic() - edited < 10:
        seen = running.reloaded(version)
        if len(seen.get("web", ())) == 2 and {"feed", "worker-0", "worker-1"} <= set(
            seen
        ):
            break
        time.sleep(0.05)
    converged = time.monotonic() - edited
    print(f"version {version} in every process after {converged:.2f} s: {seen}")
    assert len(seen.get("web", ())) == 2, seen
    assert {"feed", "worker-0", "worker-1"} <= set(seen), seen
    assert converged <= CONVERGE_SECONDS

    # The first call is still going on, untouched.
    assert carrier.calls[before.sid].is_live

    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="lea",
            endpoint="client:lea",
            answer_after_seconds=1.0,
            talk_seconds=10.0,
            console=running.console,
        )
    )
    after = carrier.place_call(
        CallerScript(from_number="+33630000002", inputs=[Digits("7")])
    )
    assert carrier.wait_idle(timeout=60.0)
    assert carrier.errors == []
    heard = " ".join(
        e.detail for e in carrier.calls[after.sid].transcript if e.kind == "say"
    )
    assert "service des licences" in heard
    engine = sa.create_engine(normalise_url(running.database_url))
    rows: dict[str, Call] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with Session(engine) as session:
            rows = {r.call_sid: r for r in session.scalars(sa.select(Call))}
        if all(
            sid in rows and rows[sid].status == "completed"
            for sid in (before.sid, after.sid)
        ):
            break
        time.sleep(0.3)
    engine.dispose()
    first, second = rows[before.sid], rows[after.sid]
    assert (first.status, first.queue, first.agent_id) == ("completed", "email", "nina")
    assert (second.status, second.queue, second.agent_id) == (
        "completed",
        "licences",
        "lea",
    )
