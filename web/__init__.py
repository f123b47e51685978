"""The Flask application: voice webhooks, the agent API, the status page.

`create_app` is the composition root of the web process: it reads settings,
loads the configuration, and connects to Redis and SQL. Views stay thin: they
translate HTTP and Twilio vocabulary into calls on `queues.store` and pure
IVR logic, and turn the result into TwiML or JSON.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from core.settings import Settings
from ivr.config import IvrTree
from queues.runtime import Runtime, build_runtime
from web.config import load_config


@dataclass(slots=True)
class WebServices:
    """What views need, built once per process."""

    runtime: Runtime
    ivr: IvrTree


def services() -> WebServices:
    """The services of the current app (inside a request)."""
    return current_app.extensions["hotline"]  # type: ignore[no-any-return]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; `test_config` may carry `SETTINGS` and `KEYS`."""
    test_config = test_config or {}
    settings: Settings = test_config.get("SETTINGS") or Settings.from_env(os.environ)
    if settings.redis_url is None:
        raise RuntimeError(
            "REDIS_URL is not set: start the hotline with `hotline run`, which "
            "starts an embedded Redis, or point REDIS_URL at a server"
        )
    config = load_config(settings.config_dir)
    runtime = build_runtime(
        settings, keys=test_config.get("KEYS"), routing=config.routing
    )

    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TWILIO_AUTH_TOKEN=settings.twilio_auth_token,
        PUBLIC_BASE_URL=settings.public_base_url,
        JSON_SORT_KEYS=False,
    )
    app.extensions["hotline"] = WebServices(runtime=runtime, ivr=config.ivr)

    from web import api, status, voice

    app.register_blueprint(voice.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(status.bp)
    logging.getLogger(__name__).info(
        "hotline web ready: %d queues, %d hotliners, simulated=%s",
        len(config.routing.queues),
        len(config.routing.hotliners),
        settings.simulated,
    )
    return app
