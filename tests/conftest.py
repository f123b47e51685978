"""Shared fixtures: a real Redis server and a throw-away SQL database.

With `REDIS_URL` set (CI's second pass) tests use that server on a dedicated
DB index (`HOTLINE_TEST_REDIS_DB`, default 13), refuse it if it is not empty,
and flush it before and after each test. Without it, one embedded Valkey
server is started for the session. Same for SQL: `DATABASE_URL` pointing at
PostgreSQL gets a fresh database per session, else SQLite in tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support import throwaway_database

from core.embedded_redis import EmbeddedRedis

TEST_DB = int(os.environ.get("HOTLINE_TEST_REDIS_DB", "13"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis server dedicated to this test session."""
    external = os.environ.get("REDIS_URL")
    if external:
        base = external.rsplit("/", 1)[0] if external.count("/") > 2 else external
        url = f"{base.rstrip('/')}/{TEST_DB}"
        client = redis.Redis.from_url(url)
        try:
            if client.dbsize():
                pytest.exit(f"refusing to use non-empty Redis DB {url}", returncode=3)
        finally:
            client.close()
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("valkey"), persistent=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on an empty database, flushed again afterwards."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQL database shared by this session's tests (rows keyed by unique sids)."""
    with throwaway_database(tmp_path_factory.mktemp("sql")) as url:
        yield url


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """A SQL database of this test's own, for tests that count every row."""
    with throwaway_database(tmp_path) as url:
        yield url
