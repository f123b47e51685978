"""The hotliner's console: the page, its live feed, and what it reads.

A hotliner works here all day: their state, the offer pop-up with the
caller's whole context, the call (agent steps, KB search, notes), the outcome
form and their day. The page is server-rendered (French first, `?lang=en-US`
for English) and driven by `static/console.js` (no inline script); writes go
through the JSON API (`web.api`) with the session and its CSRF token.

Each route is for hotliners, about themselves: the account is the hotliner.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from accounts.roles import Role
from agents.shifts import Shift
from calllog.models import Call, CallEvent
from calllog.projection import OUTCOME_MISSING
from core.clock import utcnow
from web import WebServices, services
from web.auth import json_for, page_for
from web.console_feed import BLOCK_MS, ConsoleFeed, History, follow
from web.console_text import TEXT

bp = Blueprint("console", __name__, url_prefix="/console")
log = logging.getLogger(__name__)

#: Lifetime of a softphone access token; the page asks for a new one before.
TOKEN_TTL_SECONDS = 3600
LANGUAGES = ("fr-FR", "en-US")
#: Twilio Voice SDK endpoints (signalling, media, insights) a real softphone uses.
TWILIO_CONNECT = "wss://*.twilio.com https://*.twilio.com"


def _me() -> str:
    return str(current_user.account.id)


def _lang() -> str:
    wanted = request.args.get("lang") or request.cookies.get("console_lang", "")
    return wanted if wanted in LANGUAGES else LANGUAGES[0]


def _feed() -> ConsoleFeed:
    svc = services()
    lang = _lang()
    incidents = svc.incidents

    def incident_text(incident_id: str) -> str:
        """What callers hear of the incident, while it is still announced."""
        current = incidents.current()
        if current is None or current.id != incident_id:
            return ""
        return current.messages.get(lang) or next(iter(current.messages.values()), "")

    return ConsoleFeed(
        svc.runtime, svc.current(), previous_calls(svc), lang, incident_text
    )


@bp.get("")
@page_for(Role.HOTLINER)
def page() -> ResponseReturnValue:
    svc = services()
    rt = svc.runtime
    me = rt.routing.hotliner(_me())
    lang = _lang()
    hotline = rt.routing.hotline
    settings = rt.settings
    setup = {
        "agent": _me(),
        "name": current_user.account.name,
        "lang": lang,
        "configured": me is not None,
        "endpoint": me.endpoint if me else "",
        "browser_phone": bool(me and me.endpoint.startswith("client:")),
        "simulated": settings.simulated,
        "carrier_url": settings.twilio_api_base_url if settings.simulated else "",
        "break_reasons": {k: v[lang] for k, v in hotline.break_reasons.items()},
        "dispositions": {k: v[lang] for k, v in hotline.dispositions.items()},
        "wrapup_seconds": hotline.wrapup_seconds,
        "extend_seconds": hotline.wrapup_extend_seconds,
        "shift_today": _shift_today(me.shifts if me else (), hotline.timezone),
        "text": TEXT[lang],
    }
    response = Response(
        render_template("console.html", setup=setup, lang=lang, hotline=hotline)
    )
    connect = (
        _origin(settings.twilio_api_base_url) if settings.simulated else TWILIO_CONNECT
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; media-src 'self' blob: data:; connect-src 'self' "
        f"{connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )
    response.set_cookie("console_lang", lang, samesite="Lax", httponly=True)
    return response


@bp.get("/events")
@json_for(Role.HOTLINER)
def events() -> ResponseReturnValue:
    """Server-sent events: the hotliner's offers, calls and state, live."""
    svc = services()
    feed = _feed()
    last = request.headers.get("Last-Event-ID") or request.args.get("last")
    block = int(current_app.config.get("CONSOLE_BLOCK_MS", BLOCK_MS))
    body = follow(feed, svc.feed_redis(), _me(), last, block_ms=block)
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/token")
@json_for(Role.HOTLINER)
def token() -> ResponseReturnValue:
    """An access token for the browser softphone: Twilio rings `client:<id>`."""
    settings = services().runtime.settings
    if not settings.twilio_api_key:
        return jsonify(
            {
                "error": "the browser softphone needs TWILIO_API_KEY and "
                "TWILIO_API_SECRET (an API key of the Twilio account)"
            }
        ), 503
    grant = VoiceGrant(incoming_allow=True)
    access = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key,
        settings.twilio_api_secret,
        identity=_me(),
        ttl=TOKEN_TTL_SECONDS,
    )
    access.add_grant(grant)
    return jsonify(
        {
            "token": access.to_jwt(),
            "identity": _me(),
            "ttl": TOKEN_TTL_SECONDS,
            "simulated": settings.simulated,
        }
    )


@bp.get("/calls/<call_sid>")
@json_for(Role.HOTLINER)
def call(call_sid: str) -> ResponseReturnValue:
    """A call's context, for the hotliner who handles or handled it."""
    ctx = _feed().context(call_sid, _me())
    live = services().runtime.store.call(call_sid)
    if ctx is None or live.get("agent") != _me():
        return jsonify({"error": "not one of your calls"}), 404
    return jsonify(ctx)


@bp.get("/kb")
@json_for(Role.HOTLINER)
def kb_search() -> ResponseReturnValue:
    """The known faults matching the words typed, best first, with their steps."""
    text = request.args.get("q", "")[:200]
    config = services().current()
    fixes = services().runtime.store.kb_fixes()
    lang = _lang()
    hits = []
    for hit in config.search.search(text, limit=5) if text.strip() else []:
        fault = config.kb.get(hit.fault_id)
        if fault is None:
            continue
        hits.append(
            {
                "id": fault.id,
                "title": fault.title.get(lang) or next(iter(fault.title.values())),
                "level": fault.level.value,
                "problem_type": fault.problem_type.value,
                "agent_steps": list(fault.agent_steps),
                "fixed": fixes.get(fault.id, 0),
            }
        )
    return jsonify({"query": text, "faults": hits})


@bp.get("/day")
@json_for(Role.HOTLINER)
def my_day() -> ResponseReturnValue:
    """Calls handled today, average handle time, last calls, calls to complete."""
    rt = services().runtime
    tz = rt.routing.hotline.timezone
    local = datetime.combine(utcnow().astimezone(tz).date(), time(0), tzinfo=tz)
    start = local.astimezone(UTC)
    me = _me()
    with Session(services().engine) as session:
        today = session.scalars(
            select(Call)
            .where(Call.agent_id == me, Call.started_at >= start)
            .order_by(Call.started_at.desc())
        ).all()
        wrapups = _wrapup_seconds(session, me, start)
        missing = session.scalars(
            select(Call)
            .where(
                Call.agent_id == me,
                Call.outcome == OUTCOME_MISSING,
                Call.started_at >= start - timedelta(days=7),
            )
            .order_by(Call.started_at.desc())
            .limit(50)
        ).all()
    handled = [c for c in today if c.talk_seconds is not None]
    handle = [(c.talk_seconds or 0.0) + wrapups.get(c.call_sid, 0.0) for c in handled]
    return jsonify(
        {
            "handled": len(handled),
            "average_handle_seconds": round(sum(handle) / len(handle))
            if handle
            else None,
            "last_calls": [_row(c) for c in today[:10]],
            "to_complete": [_row(c) for c in missing],
        }
    )


def previous_calls(svc: WebServices) -> History:
    """A number's last calls (date, hotliner, outcome), newest first; bound to
    the services now, as the feed runs after the request's context is gone."""
    engine = svc.engine
    names: dict[str, str] = {
        h.id: h.name for h in svc.runtime.routing.hotliners.values()
    }

    def history(number: str, excluding: str) -> list[dict[str, Any]]:
        if not number:
            return []
        try:
            with Session(engine) as session:
                rows = session.scalars(
                    select(Call)
                    .where(Call.from_number == number, Call.call_sid != excluding)
                    .order_by(Call.started_at.desc())
                    .limit(5)
                ).all()
        except SQLAlchemyError as exc:  # the offer pops up all the same
            log.warning("previous calls unavailable: %s", exc)
            return []
        return [
            {**_row(c), "agent_name": names.get(c.agent_id or "", c.agent_id or "")}
            for c in rows
        ]

    return history


def _wrapup_seconds(
    session: Session, agent_id: str, since: datetime
) -> dict[str, float]:
    """Wrap-up length per call today, from the hotliner's state changes."""
    events = session.scalars(
        select(CallEvent)
        .where(
            CallEvent.agent_id == agent_id,
            CallEvent.type == "agent_state",
            CallEvent.at >= since,
        )
        .order_by(CallEvent.id)
    ).all()
    began: dict[str, datetime] = {}
    lengths: dict[str, float] = {}
    for event in events:
        sid = event.call_sid or ""
        data = event.data or {}
        if data.get("state") == "wrapup" and data.get("from") == "busy":
            began[sid] = event.at
        elif data.get("from") == "wrapup" and sid in began:
            lengths[sid] = (event.at - began.pop(sid)).total_seconds()
    return lengths


def _row(c: Call) -> dict[str, Any]:
    return {
        "call_sid": c.call_sid,
        "number": c.from_number,
        "started_at": c.started_at.isoformat() if c.started_at else None,
        "queue": c.queue,
        "outcome": c.outcome,
        "talk_seconds": round(c.talk_seconds) if c.talk_seconds is not None else None,
        "notes": c.notes or "",
        "agent_id": c.agent_id,
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _shift_today(shifts: tuple[Shift, ...], tz: ZoneInfo) -> str:
    """Today's shifts as '07:00-15:00', in the hotline's timezone."""
    today = utcnow().astimezone(tz).weekday()
    return ", ".join(
        f"{s.start:%H:%M}-{s.end:%H:%M}" for s in shifts if today in s.days
    )
