"""The whole hotline as a user runs it: gunicorn, an RQ worker, the simulator.

`running_hotline` builds a configuration folder for the test (the shipped IVR
and queues, the test's own hotliners), starts the carrier simulator and the
real processes with `cli.stack.Stack` (what `hotline run` uses), and stops
everything afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from support import supervisor_token

from calllog.db import upgrade
from cli.stack import Stack
from core.embedded_redis import free_port
from core.settings import (
    DEFAULT_CONFIG_DIR,
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
)
from simulator.carrier import Carrier, CarrierConfig


@dataclass
class RunningHotline:
    url: str
    carrier: Carrier
    stack: Stack
    database_url: str
    token: str  # a supervisor's API token: acts for every hotliner
    config_dir: Path


HotlineFactory = Callable[..., "contextmanager[RunningHotline]"]


def write_config(
    folder: Path,
    hotliners_yaml: str,
    routing: str,
    queues_patch: tuple[str, str] | list[tuple[str, str]] | None = None,
) -> Path:
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    (folder / "hotliners.yaml").write_text(hotliners_yaml, encoding="utf-8")
    if queues_patch is not None:
        queues = (folder / "queues.yaml").read_text(encoding="utf-8")
        for old, new in (
            queues_patch if isinstance(queues_patch, list) else [queues_patch]
        ):
            assert old in queues
            queues = queues.replace(old, new)
        (folder / "queues.yaml").write_text(queues, encoding="utf-8")
    hotline = (folder / "hotline.yaml").read_text(encoding="utf-8")
    head = hotline[: hotline.index("routing:")]
    (folder / "hotline.yaml").write_text(head + routing, encoding="utf-8")
    return folder


@pytest.fixture
def running_hotline(
    redis_client: redis.Redis, redis_url: str, fresh_database_url: str, tmp_path: Path
) -> Iterator[Callable[..., RunningHotline]]:
    """Start the hotline with given hotliners; returns a starter function."""
    started: list[tuple[Stack, Carrier]] = []
    database_url = fresh_database_url
    upgrade(database_url)

    def start(
        hotliners_yaml: str,
        routing: str,
        time_scale: float,
        queues_patch: tuple[str, str] | list[tuple[str, str]] | None = None,
        *,
        env: dict[str, str] | None = None,
        workers: int = 1,
        carrier_cps: float = 0.0,
    ) -> RunningHotline:
        config_dir = write_config(
            tmp_path / "config", hotliners_yaml, routing, queues_patch
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        carrier = Carrier(
            CarrierConfig(
                account_sid=SIMULATOR_ACCOUNT_SID,
                auth_token=SIMULATOR_AUTH_TOKEN,
                voice_url=f"{url}/voice/incoming",
                status_callback_url=f"{url}/voice/status",
                hotline_number="+33180000000",
                time_scale=time_scale,
                console_origins=(url,),  # the console's simulated softphone
                calls_per_second=carrier_cps,
            )
        )
        carrier.start(host="127.0.0.1", port=0)
        environment = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
            "TWILIO_API_BASE_URL": carrier.api_base_url,
            "PUBLIC_BASE_URL": url,
            "HOTLINE_CONFIG": str(config_dir),
            "HOTLINE_INSTANCE": str(tmp_path / "instance"),
            "SECRET_KEY": "",
            **(env or {}),
        }
        stack = Stack(environment, port, tmp_path / "logs", workers=workers)
        started.append((stack, carrier))
        stack.start()
        return RunningHotline(
            token=supervisor_token(database_url),
            url=url,
            carrier=carrier,
            stack=stack,
            database_url=database_url,
            config_dir=config_dir,
        )

    yield start
    for stack, carrier in started:
        carrier.stop()
        stack.stop()
        for log in sorted((tmp_path / "logs").glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name} ---\n{text[-6000:]}")
