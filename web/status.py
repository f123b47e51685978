"""A plain status page: queues, hotliners, last calls. Refreshes itself.

The supervisor dashboard issue replaces it; until then it lets a new user see
the hotline working.
"""

from __future__ import annotations

import redis
from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from accounts.roles import Role
from calllog.models import Call
from core.clock import now_ms
from web import services
from web.auth import page_for

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Each role's home: hotliners work in the console, others watch status."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))  # then to their role's home
    if current_user.account.role is Role.HOTLINER:
        return redirect(url_for("console.page"))
    return redirect(url_for("status.page"))


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
@page_for(Role.SUPERVISOR, Role.ADMIN)
def page() -> ResponseReturnValue:
    svc = services()
    rt = svc.runtime
    lang = rt.routing.hotline.default_language
    now = now_ms()
    queues = []
    for queue in rt.routing.queues.values():
        oldest = rt.store.oldest_wait_start(queue.id)
        queues.append(
            {
                "id": queue.id,
                "name": queue.names[lang],
                "waiting": rt.store.queue_length(queue.id),
                "longest_wait": round((now - oldest) / 1000) if oldest else 0,
            }
        )
    live = rt.store.agents.get_many(rt.routing.hotliners)
    hotliners = [
        {
            "id": h.id,
            "name": h.name,
            "skills": ", ".join(sorted(h.skills)),
            "state": live[h.id].get("state", "offline"),
            "since": round((now - int(live[h.id]["state_since"])) / 1000)
            if live[h.id].get("state_since")
            else None,
        }
        for h in rt.routing.hotliners.values()
    ]
    incident = svc.incidents.current()
    with Session(services().engine) as session:
        calls = session.scalars(
            select(Call).order_by(Call.started_at.desc()).limit(25)
        ).all()
        return render_template(
            "status.html",
            hotline=rt.routing.hotline,
            queues=queues,
            hotliners=hotliners,
            calls=calls,
            incident=incident.messages.get(lang) if incident else None,
            incident_confirmations=incident.confirmations if incident else 0,
            simulated=rt.settings.simulated,
        )
