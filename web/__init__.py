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

from accounts.audit import AuditLog
from accounts.store import AccountStore
from calllog.db import create_db_engine
from core.connections import routing_client
from core.keys import Keys
from core.mail import Mailer
from core.settings import Settings
from ivr.config import IvrTree
from ivr.incident import IncidentStore
from queues.outage import LiveState, replay_when_back
from queues.runtime import Runtime, build_runtime, publish_wrapup_times, use_routing
from queues.spool import Spool
from web.auth import csrf, init_auth
from web.config import HotlineConfig
from web.config_versions import ConfigVersions

#: Socket timeout of the consoles' feed client: past its longest XREAD block.
FEED_READ_TIMEOUT = 30.0


#: Menus' TwiML kept at most (`WebServices.menu_twiml`).
MENU_MEMO = 4096
#: What a menu's TwiML depends on: tree version, node, language, attempt,
#: preamble, help instead of the prompt.
MenuKey = tuple[str, str, str, int, str, bool]


@dataclass(slots=True)
class WebServices:
    """What views need, built once per process; the configuration reloads
    itself (`web.config_versions`): an edit serves new calls within a second,
    a call in the menu keeps the version it started with (`v=` in its URLs),
    an invalid edit is logged and the running version stays."""

    runtime: Runtime
    config_dir: Path
    live: LiveState
    incidents: IncidentStore
    engine: Engine  # the call log (pages read it; webhooks never do)
    accounts: AccountStore  # who logs in (same database)
    audit: AuditLog  # supervisors' controls used (same database)
    configs: ConfigVersions
    mailer: Mailer | None = None  # the help desk's SMTP server (`SMTP_URL`)
    stop: threading.Event = field(default_factory=threading.Event)
    routing_redis_url: str = ""  # where the routing state and its stream live
    _feed_redis: redis.Redis | None = None
    #: A menu's TwiML by (tree version, node, language, attempt, preamble,
    #: help): the same for every caller, so each is built once. About a
    #: fifth of a menu step's CPU went to building it with `twilio.twiml`.
    menu_twiml: dict[MenuKey, str] = field(default_factory=dict)

    def remember_menu(self, key: MenuKey, xml: str) -> None:
        """Keep a menu's TwiML; a preamble can be a returning caller's own
        sentence, so the memo starts afresh past MENU_MEMO entries."""
        if len(self.menu_twiml) >= MENU_MEMO:
            self.menu_twiml.clear()
        self.menu_twiml[key] = xml

    def current(self) -> HotlineConfig:
        """The newest valid configuration."""
        return self.configs.current()[1]

    @property
    def version(self) -> str:
        return self.configs.version

    def feed_redis(self) -> redis.Redis:
        """A client for consoles' live feeds: their XREADs block for seconds,
        longer than the quick timeout webhooks' client is given."""
        if self._feed_redis is None:
            self._feed_redis = routing_client(
                self.routing_redis_url,
                socket_timeout=FEED_READ_TIMEOUT,
                socket_connect_timeout=1,
                health_check_interval=30,
                # Fail at once: a console waiting on retries holds a web
                # thread; its browser reconnects by itself.
                retry=Retry(NoBackoff(), 0),
            )
        return self._feed_redis

    def for_version(self, version: str | None) -> tuple[str, HotlineConfig]:
        """The configuration a call in progress started with (or the newest)."""
        return self.configs.get(version)

    @property
    def ivr(self) -> IvrTree:
        return self.current().ivr


def services() -> WebServices:
    """The services of the current app (inside a request)."""
    return current_app.extensions["hotline"]  # type: ignore[no-any-return]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; `test_config` may carry `SETTINGS`, `KEYS` and
    `TELEPHONY` (a stand-in for the carrier's REST API)."""
    return _build(test_config or {}, feed_only=False)


def create_feed_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the consoles' live feed alone (`/console/events`, `/healthz`).

    Run in processes of its own (`hotline run`, the Procfile's `feed`), the
    feeds' long-lived requests and their work on every offer never take a
    thread or the interpreter lock from the web's workers that answer Twilio.
    """
    return _build(test_config or {}, feed_only=True)


def _build(test_config: dict[str, Any], *, feed_only: bool) -> Flask:
    settings: Settings = test_config.get("SETTINGS") or Settings.from_env(os.environ)
    if settings.redis_url is None:
        raise RuntimeError(
            "REDIS_URL is not set: start the hotline with `hotline run`, which "
            "starts an embedded Redis, or point REDIS_URL at a server"
        )
    configs = ConfigVersions(
        settings.config_dir, None, test_config.get("KEYS") or Keys()
    )
    config = configs.load()
    runtime = build_runtime(
        settings,
        keys=test_config.get("KEYS"),
        routing=config.routing,
        telephony=test_config.get("TELEPHONY"),
    )
    configs.redis = runtime.redis
    configs.on_install = lambda _version, new: use_routing(runtime, new.routing)
    configs.publish()
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
        incidents=IncidentStore(runtime.redis, runtime.keys, runtime.store.group_keys),
        engine=engine,
        accounts=AccountStore(engine),
        audit=AuditLog(engine, runtime.redis, runtime.keys),
        configs=configs,
        routing_redis_url=settings.routing_redis_url or "",
        mailer=Mailer.from_url(settings.smtp_url, settings.mail_from)
        if settings.smtp_url
        else None,
    )
    app.extensions["hotline"] = web_services

    from web import (
        agent_controls,  # noqa: F401 - its routes join the api blueprint
        api,
        call_controls,  # noqa: F401 - its routes join the api blueprint
        console,
        history,
        metrics,
        openapi,
        rota,
        status,
        voice,
        wallboard,
    )

    init_auth(
        app,
        redis_url=settings.redis_url,
        secure_cookies=(settings.public_base_url or "").startswith("https://"),
        pages=not feed_only,
    )
    # Every process looks for configuration edits by itself.
    threading.Thread(
        target=configs.watch,
        args=(web_services.stop,),
        daemon=True,
        name="hotline-config",
    ).start()
    if feed_only:
        app.register_blueprint(console.feed_bp)
        app.register_blueprint(wallboard.feed_bp)
        app.add_url_rule("/healthz", view_func=status.healthz)
        _add_error_handlers(app)
        logging.getLogger(__name__).info("hotline consoles' feed ready")
        return app
    # Replays what webhooks journaled while Redis was unreachable, once it is back.
    threading.Thread(
        target=replay_when_back,
        args=(live, web_services.stop),
        daemon=True,
        name="hotline-replay",
    ).start()
    # Twilio signs its webhooks (no CSRF token); the API checks CSRF itself on
    # writes made with a session (`web.auth.api_account`).
    for blueprint in (*voice.ALL, api.bp, history.api_bp):
        csrf.exempt(blueprint)
    app.register_blueprint(voice.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(console.feed_bp)
    app.register_blueprint(wallboard.bp)
    app.register_blueprint(wallboard.feed_bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(history.api_bp)
    app.register_blueprint(rota.page_bp)
    app.register_blueprint(openapi.bp)  # the API's description, for any account
    app.register_blueprint(metrics.bp)
    metrics.init_metrics(app)
    _add_error_handlers(app)
    logging.getLogger(__name__).info(
        "hotline web ready: %d queues, %d hotliners, simulated=%s",
        len(config.routing.queues),
        len(config.routing.hotliners),
        settings.simulated,
    )
    return app


def _add_error_handlers(app: Flask) -> None:
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
