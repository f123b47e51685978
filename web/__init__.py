"""The Flask application: voice webhooks, the agent API, the status page.

`create_app` is the composition root of the web process: it reads settings,
loads the configuration, and connects to Redis and SQL. Views stay thin: they
translate HTTP and Twilio vocabulary into calls on `queues.store` and pure
IVR logic, and turn the result into TwiML or JSON.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from accounts.store import AccountStore
from calllog.db import create_db_engine
from core.errors import ConfigError
from core.settings import Settings
from ivr.config import IvrTree
from ivr.incident import IncidentStore
from queues.outage import LiveState, replay_when_back
from queues.runtime import Runtime, build_runtime, publish_wrapup_times
from queues.spool import Spool
from web.auth import csrf, init_auth
from web.config import HotlineConfig, config_files, load_config

#: Socket timeout of the consoles' feed client: past its longest XREAD block.
FEED_READ_TIMEOUT = 30.0


@dataclass(slots=True)
class WebServices:
    """What views need, built once per process; the voice menu reloads itself.

    A changed configuration folder is loaded again (at most once a second) and,
    if valid, its IVR tree and knowledge base serve new calls; a call already
    in the menu keeps the tree version it started with (URLs carry `v=`), so an
    edit never breaks a call in progress. An invalid edit is logged and ignored.
    """

    runtime: Runtime
    config_dir: Path
    live: LiveState
    incidents: IncidentStore
    engine: Engine  # the call log (pages read it; webhooks never do)
    accounts: AccountStore  # who logs in (same database)
    stop: threading.Event = field(default_factory=threading.Event)
    trees: dict[int, HotlineConfig] = field(default_factory=dict)
    version: int = 0
    stamp: tuple[tuple[str, float], ...] = ()
    checked_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    redis_url: str = ""
    _feed_redis: redis.Redis | None = None

    KEEP_VERSIONS = 8

    def install(
        self, config: HotlineConfig, stamp: tuple[tuple[str, float], ...]
    ) -> None:
        self.version += 1
        self.trees[self.version] = config
        self.stamp = stamp
        for old in sorted(self.trees)[: -self.KEEP_VERSIONS]:
            del self.trees[old]

    def current(self) -> HotlineConfig:
        """The newest valid configuration, reloading it if files changed."""
        now = time.monotonic()
        if now - self.checked_at >= 1.0:
            with self.lock:
                if now - self.checked_at >= 1.0:
                    self.checked_at = now
                    self._reload_if_changed()
        return self.trees[self.version]

    def feed_redis(self) -> redis.Redis:
        """A client for consoles' live feeds: their XREADs block for seconds,
        longer than the quick timeout webhooks' client is given."""
        if self._feed_redis is None:
            self._feed_redis = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=FEED_READ_TIMEOUT,
                socket_connect_timeout=1,
                health_check_interval=30,
                # Fail at once: a console waiting on retries holds a web
                # thread; its browser reconnects by itself.
                retry=Retry(NoBackoff(), 0),
            )
        return self._feed_redis

    def for_version(self, version: str | None) -> tuple[int, HotlineConfig]:
        """The configuration a call in progress started with (or the newest)."""
        current = self.current()
        try:
            wanted = int(version or "")
        except ValueError:
            return self.version, current
        found = self.trees.get(wanted)
        return (wanted, found) if found is not None else (self.version, current)

    def _reload_if_changed(self) -> None:
        stamp = file_stamp(self.config_dir)
        if stamp == self.stamp:
            return
        try:
            config = load_config(self.config_dir)
        except ConfigError as exc:
            logging.getLogger(__name__).error("configuration not reloaded: %s", exc)
            self.stamp = stamp  # report a broken edit once, not every second
            return
        self.install(config, stamp)
        logging.getLogger(__name__).info(
            "configuration reloaded (version %d)", self.version
        )

    @property
    def ivr(self) -> IvrTree:
        return self.current().ivr


def file_stamp(folder: Path) -> tuple[tuple[str, float], ...]:
    stamps = []
    for path in config_files(folder):
        try:
            stamps.append((str(path), path.stat().st_mtime))
        except OSError:
            continue
    return tuple(stamps)


def services() -> WebServices:
    """The services of the current app (inside a request)."""
    return current_app.extensions["hotline"]  # type: ignore[no-any-return]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; `test_config` may carry `SETTINGS`, `KEYS` and
    `TELEPHONY` (a stand-in for the carrier's REST API)."""
    test_config = test_config or {}
    settings: Settings = test_config.get("SETTINGS") or Settings.from_env(os.environ)
    if settings.redis_url is None:
        raise RuntimeError(
            "REDIS_URL is not set: start the hotline with `hotline run`, which "
            "starts an embedded Redis, or point REDIS_URL at a server"
        )
    config = load_config(settings.config_dir)
    runtime = build_runtime(
        settings,
        keys=test_config.get("KEYS"),
        routing=config.routing,
        telephony=test_config.get("TELEPHONY"),
    )

    publish_wrapup_times(runtime)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    if settings.trusted_proxies:
        # Each browser's own address, not the proxy's (login throttling).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n
        )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TWILIO_AUTH_TOKEN=settings.twilio_auth_token,
        PUBLIC_BASE_URL=settings.public_base_url,
        JSON_SORT_KEYS=False,
        # Twilio's webhooks and the console's JSON are small: a bigger body is
        # refused (413) before anyone parses it.
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    live = LiveState(runtime, Spool(settings.instance_dir / "spool.sqlite3"))
    engine = create_db_engine(settings.effective_database_url)
    web_services = WebServices(
        runtime=runtime,
        config_dir=settings.config_dir,
        live=live,
        incidents=IncidentStore(runtime.redis, runtime.keys),
        engine=engine,
        accounts=AccountStore(engine),
        redis_url=settings.redis_url,
    )
    web_services.install(config, file_stamp(settings.config_dir))
    web_services.checked_at = time.monotonic()
    app.extensions["hotline"] = web_services
    # Replays what webhooks journaled while Redis was unreachable, once it is back.
    threading.Thread(
        target=replay_when_back,
        args=(live, web_services.stop),
        daemon=True,
        name="hotline-replay",
    ).start()

    from web import api, console, status, voice

    init_auth(
        app,
        redis_url=settings.redis_url,
        secure_cookies=(settings.public_base_url or "").startswith("https://"),
    )
    # Twilio signs its webhooks (no CSRF token); the API checks CSRF itself on
    # writes made with a session (`web.auth.api_account`).
    for blueprint in (*voice.ALL, api.bp):
        csrf.exempt(blueprint)
    app.register_blueprint(voice.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(console.bp)

    @app.errorhandler(413)
    def _too_large(exc: Exception) -> tuple[dict[str, str], int]:
        return {"error": "request body too large (64 KiB at most)"}, 413

    @app.errorhandler(redis.RedisError)
    def _live_state_unreachable(exc: redis.RedisError) -> tuple[dict[str, str], int]:
        """Pages and the API say what is down (voice webhooks never get here)."""
        logging.getLogger(__name__).warning("live state unreachable: %s", exc)
        return {"error": "live state (Redis) unreachable; try again shortly"}, 503

    @app.errorhandler(SQLAlchemyError)
    def _call_log_unreachable(exc: SQLAlchemyError) -> tuple[dict[str, str], int]:
        logging.getLogger(__name__).warning("call log unreachable: %s", exc)
        return {"error": "call log (SQL) unreachable; try again shortly"}, 503

    logging.getLogger(__name__).info(
        "hotline web ready: %d queues, %d hotliners, simulated=%s",
        len(config.routing.queues),
        len(config.routing.hotliners),
        settings.simulated,
    )
    return app
