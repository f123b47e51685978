"""An app wired to the session's real Redis and a migrated SQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from support import ACCOUNT, PUBLIC, TOKEN, SignedPost, sign
from werkzeug.test import TestResponse

from calllog.db import upgrade
from core.settings import DEFAULT_CONFIG_DIR, Settings
from web import create_app


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def make_settings(redis_url: str, database_url: str, tmp_path: Path,
                  config_dir: Path = DEFAULT_CONFIG_DIR) -> Settings:
    return Settings.from_env({
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SECRET_KEY": "test",
        "PUBLIC_BASE_URL": PUBLIC,
        "HOTLINE_CONFIG": str(config_dir),
        "HOTLINE_INSTANCE": str(tmp_path / "instance"),
    })


@pytest.fixture
def app(redis_client: redis.Redis, redis_url: str, migrated_database: str,
        tmp_path: Path) -> Iterator[Flask]:
    flask_app = create_app({"SETTINGS": make_settings(redis_url, migrated_database,
                                                      tmp_path)})
    flask_app.testing = True
    yield flask_app
    flask_app.extensions["hotline"].runtime.engine.dispose()
    flask_app.extensions["hotline"].runtime.redis.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def signed_post(client: FlaskClient) -> SignedPost:
    """POST a form as Twilio would, signed for the public URL."""

    def post(path: str, form: dict[str, Any]) -> TestResponse:
        return client.post(path, data=form,
                           headers={"X-Twilio-Signature": sign(path, form)})

    return post
