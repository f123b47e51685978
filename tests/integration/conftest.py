"""An app wired to the session's real Redis and a migrated SQL database."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from support import (
    ROUND_THE_CLOCK,
    RecordingTelephony,
    SignedPost,
    bearer_client,
    log_in,
    make_settings,
    off_shift_hotliner,
    provision,
    sign,
)
from werkzeug.test import TestResponse

from agents.lifecycle import AgentState
from calllog.db import upgrade
from core.settings import DEFAULT_CONFIG_DIR
from queues.routing import memberships
from web import create_app


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture
def telephony() -> RecordingTelephony:
    """The carrier as the webhook tests see it: it records what it is asked."""
    return RecordingTelephony()


#: Builds a test app: `hotliners.yaml` text, then keyword options.
AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(
    redis_client: redis.Redis,
    redis_url: str,
    migrated_database: str,
    tmp_path: Path,
    telephony: RecordingTelephony,
) -> Iterator[AppFactory]:
    """An app on the shipped configuration with the given hotliners (and
    queues, if given), the
    recording carrier, `accounts` provisioned as hotliners, `settings`
    changes (`dataclasses.replace`) and Flask `config` values; closed after."""
    made: list[Flask] = []

    def build(
        hotliners_yaml: str,
        *,
        accounts: tuple[str, ...] = (),
        settings: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        queues_yaml: str | None = None,
    ) -> Flask:
        config_dir = tmp_path / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
        (config_dir / "hotliners.yaml").write_text(hotliners_yaml, encoding="utf-8")
        if queues_yaml is not None:
            (config_dir / "queues.yaml").write_text(queues_yaml, encoding="utf-8")
        base = make_settings(redis_url, migrated_database, tmp_path, config_dir)
        flask_app = create_app(
            {"SETTINGS": replace(base, **(settings or {})), "TELEPHONY": telephony}
        )
        flask_app.testing = True
        flask_app.config.update(config or {})
        made.append(flask_app)
        for agent_id in accounts:
            provision(flask_app.extensions["hotline"].accounts, agent_id, "hotliner")
        return flask_app

    yield build
    for flask_app in made:
        flask_app.extensions["hotline"].stop.set()
        flask_app.extensions["hotline"].engine.dispose()
        flask_app.extensions["hotline"].runtime.redis.close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    flask_app = make_app(ROUND_THE_CLOCK + off_shift_hotliner("dan"))
    rt = flask_app.extensions["hotline"].runtime
    # Logged in but on a break: queues are staffed, nobody is offered a call
    # (tests of the hand-off make her available themselves).
    for state in (AgentState.AVAILABLE, AgentState.BREAK):
        rt.store.agents.set_state(
            "nina", state, memberships(rt.routing.hotliners["nina"], rt.routing)
        )
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def signed_post(client: FlaskClient) -> SignedPost:
    """POST a form as Twilio would, signed for the public URL."""

    def post(path: str, form: dict[str, Any]) -> TestResponse:
        response = client.post(
            path, data=form, headers={"X-Twilio-Signature": sign(path, form)}
        )
        response.get_data()
        response.close()  # as a WSGI server does: what runs after the answer runs
        return response

    return post


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """A test client acting as a supervisor, by API token."""
    token = provision(app.extensions["hotline"].accounts, "sup-tests", "supervisor")
    return bearer_client(app, token)


@pytest.fixture
def supervisor_session(app: Flask) -> FlaskClient:
    """A test client logged in as a supervisor through the login form."""
    provision(app.extensions["hotline"].accounts, "sup-pages", "supervisor")
    client = app.test_client()
    log_in(client, "sup-pages")
    return client
