"""The consoles' live feed in processes of its own (`web.create_feed_app`).

A hotliner logs in on the web; their page reads its feed from the feed's
port of the same host with the same session cookie (CORS with credentials,
same host only). The feed app serves nothing else: no page, no webhook, no API.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from support import csrf_token, log_in, make_settings, provision, round_the_clock

from core.settings import DEFAULT_CONFIG_DIR
from web import create_app, create_feed_app

FEED_PORT = 5999
PAGE = "http://localhost"  # the test client's host
SAME_HOST = "http://localhost:5000"


@pytest.fixture
def apps(
    redis_client: redis.Redis,
    redis_url: str,
    migrated_database: str,
    tmp_path: Path,
) -> Iterator[tuple[Flask, Flask]]:
    config_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    (config_dir / "hotliners.yaml").write_text(
        round_the_clock(("nina", "Nina Nuit-et-Jour")), encoding="utf-8"
    )
    settings = replace(
        make_settings(redis_url, migrated_database, tmp_path, config_dir),
        feed_port=FEED_PORT,
    )
    web = create_app({"SETTINGS": settings})
    feed = create_feed_app({"SETTINGS": settings})
    for app in (web, feed):
        app.testing = True
        app.config["CONSOLE_BLOCK_MS"] = 300
    provision(web.extensions["hotline"].accounts, "nina", "hotliner")
    yield web, feed
    for app in (web, feed):
        app.extensions["hotline"].stop.set()
        app.extensions["hotline"].engine.dispose()
        app.extensions["hotline"].runtime.redis.close()


def _logged_in(web: Flask, feed: Flask) -> tuple[FlaskClient, FlaskClient]:
    """Nina on the web, and the same browser's cookie sent to the feed."""
    page = web.test_client()
    log_in(page, "nina")
    cookie = page.get_cookie("session")
    assert cookie is not None
    reader = feed.test_client()
    reader.set_cookie("session", cookie.value, domain="localhost")
    return page, reader


def _messages(response: object, wanted: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    buffer = ""
    for chunk in response.response:  # type: ignore[attr-defined]
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            for line in block.splitlines():
                if line.startswith("data: "):
                    out.append(json.loads(line[6:]))
        if len(out) >= wanted:
            return out
    raise AssertionError(f"the stream ended after {out}")


def test_the_feed_app_serves_the_feed_and_nothing_else(
    apps: tuple[Flask, Flask],
) -> None:
    _, feed = apps
    anonymous = feed.test_client()
    refused = anonymous.get("/console/events")
    assert refused.status_code == 401
    assert "error" in refused.get_json()
    assert anonymous.get("/healthz").status_code == 200
    for method, path in (
        ("GET", "/console"),
        ("GET", "/login"),
        ("GET", "/status"),
        ("POST", "/voice/incoming"),
        ("GET", "/api/agents"),
        ("GET", "/console/kb?q=imprimante"),
    ):
        assert anonymous.open(path, method=method).status_code == 404, path


def test_a_session_from_the_web_reads_its_feed_live_on_the_feed_app(
    apps: tuple[Flask, Flask],
) -> None:
    web, feed = apps
    page, reader = _logged_in(web, feed)
    response = reader.get(
        "/console/events", headers={"Origin": SAME_HOST}, buffered=False
    )
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert response.headers["Access-Control-Allow-Origin"] == SAME_HOST
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        (snapshot,) = _messages(response, 1)
        assert snapshot["type"] == "snapshot"
        assert snapshot["state"] == "offline"
        # A change made on the web reaches the feed's stream.
        token = csrf_token(page.get("/console").get_data(as_text=True))
        moved = page.post(
            "/api/agents/nina/state",
            json={"state": "available"},
            headers={"X-CSRFToken": token},
        )
        assert moved.status_code == 200, moved.get_data(as_text=True)
        (state,) = _messages(response, 1)
        assert state["type"] == "state"
        assert state["state"] == "available"
    finally:
        response.close()


def test_only_a_page_of_the_same_host_may_read_the_feed_across_ports(
    apps: tuple[Flask, Flask],
) -> None:
    web, feed = apps
    _, reader = _logged_in(web, feed)
    elsewhere = reader.get(
        "/console/events", headers={"Origin": "http://evil.example:5000"}
    )
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    https_page = reader.get(
        "/console/events", headers={"Origin": "https://localhost:5000"}
    )
    assert "Access-Control-Allow-Origin" not in https_page.headers
    # The reconnect's Last-Event-ID header makes the browser ask first; the
    # answer needs no session (a preflight carries no cookie).
    preflight = feed.test_client().options(
        "/console/events",
        headers={
            "Origin": SAME_HOST,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == SAME_HOST
    assert preflight.headers["Access-Control-Allow-Headers"] == "Last-Event-ID"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.get_data() == b""


def test_the_page_reads_its_feed_on_the_feed_port_of_its_own_host(
    apps: tuple[Flask, Flask],
) -> None:
    web, _ = apps
    page = web.test_client()
    log_in(page, "nina")
    response = page.get("/console")
    found = re.search(
        r'id="console-setup">(.*?)</script>', response.get_data(as_text=True)
    )
    assert found is not None
    setup = json.loads(html.unescape(found[1]))
    assert setup["feed_url"] == f"{PAGE}:{FEED_PORT}"
    connect = re.search(
        r"connect-src ([^;]+);", response.headers["Content-Security-Policy"]
    )
    assert connect is not None
    assert f"{PAGE}:{FEED_PORT}" in connect[1].split()
