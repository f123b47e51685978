"""What is not anyone's screen: each role's home, the health check, and
where the old status page went."""

from __future__ import annotations

import redis
from flask import Blueprint, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from accounts.roles import Role
from web import services

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Each role's home: hotliners work in the console, others at the
    wallboard."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))  # then to their role's home
    if current_user.account.role is Role.HOTLINER:
        return redirect(url_for("console.page"))
    return redirect(url_for("supervisor.page"))


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Each part's health: 200 if all answer, else 503 naming what is down.

    Redis down: calls are still answered and what happens is journaled
    (`journaled` counts what waits for replay). SQL down: calls go on, the
    call log catches up when it is back.
    """
    svc = services()
    rt = svc.runtime
    parts: dict[str, str] = {}
    try:
        rt.redis.ping()
        parts["redis"] = "ok"
    except redis.RedisError as exc:
        parts["redis"] = f"down: {exc}"
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        parts["sql"] = "ok"
    except SQLAlchemyError as exc:
        parts["sql"] = f"down: {type(exc).__name__}"
    healthy = all(v == "ok" for v in parts.values())
    body: dict[str, object] = {"status": "ok" if healthy else "degraded", **parts}
    if svc.live.spool.pending():
        body["journaled"] = svc.live.spool.count()
    return body, 200 if healthy else 503


@bp.get("/status")
def page() -> ResponseReturnValue:
    """The first release's status page, now the wallboard (queues and
    hotliners live) and the call list: old bookmarks land on the wallboard."""
    return redirect(url_for("supervisor.page"), code=301)
