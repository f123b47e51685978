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
from agents.config import Hotliner
from calllog.models import Call, CallEvent
from calllog.projection import OUTCOME_MISSING
from core.clock import utcnow
from queues.config import RoutingConfig
from web import WebServices, services
from web.auth import json_for, page_for
from web.console_feed import BLOCK_MS, ConsoleFeed, History, follow
from web.console_text import TEXT

bp = Blueprint("console", __name__, url_prefix="/console")
#: The live feed alone: registered by the web and by the feed's own processes
#: (`web.create_feed_app`), which a page on another port of the host reads.
feed_bp = Blueprint("console_feed", __name__, url_prefix="/console")
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
    feed_url = feed_url_for(settings.feed_port)
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
        "queues": {
            q.id: q.names.get(lang) or next(iter(q.names.values()), q.id)
            for q in rt.routing.queues.values()
        },
        # Who a warm transfer may name (the console greys out who is off).
        "specialists": {
            h.id: h.name for h in rt.routing.hotliners.values() if h.id != _me()
        },
        "on_call": {e.id: e.name for e in rt.routing.on_call.values()},
        "dispositions": {k: v[lang] for k, v in hotline.dispositions.items()},
        "wrapup_seconds": hotline.wrapup_seconds,
        "extend_seconds": hotline.wrapup_extend_seconds,
        "shift_today": _shift_today(rt.routing, me) if me else "",
        "duty": _duty(rt.routing, me) if me else [],
        "auto_available": hotline.auto_available,
        "text": TEXT[lang],
        "feed_url": feed_url,
    }
    response = Response(
        render_template("console.html", setup=setup, lang=lang, hotline=hotline)
    )
    connect = (
        _origin(settings.twilio_api_base_url) if settings.simulated else TWILIO_CONNECT
    )
    if feed_url:
        connect += " " + feed_url
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; media-src 'self' blob: data:; connect-src 'self' "
        f"{connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )
    response.set_cookie("console_lang", lang, samesite="Lax", httponly=True)
    return response


@feed_bp.get("/events")
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


def feed_url_for(feed_port: int | None) -> str:
    """Where the page reads its feed: '' for its own origin, else the same
    host (so the session cookie goes along) on the feed's port."""
    if feed_port is None:
        return ""
    host = urlsplit(request.host_url).hostname or "127.0.0.1"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{request.scheme}://{host}:{feed_port}"


@feed_bp.after_request
def _allow_the_console_page(response: Response) -> Response:
    return allow_same_host(response)


def allow_same_host(response: Response) -> Response:
    """CORS for a page (console, wallboard) served from another port of the
    same host than its live feed.

    Only an origin on this very host may read the feed with its cookies: a
    port is no boundary for cookies anyway, a host is. The reconnect's
    `Last-Event-ID` header makes the browser ask first (OPTIONS, answered by
    Flask before any view).
    """
    origin = request.headers.get("Origin", "")
    parts = urlsplit(origin)
    if origin and (parts.scheme, parts.hostname) == (
        request.scheme,
        urlsplit(request.host_url).hostname,
    ):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = "Last-Event-ID"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers.add("Vary", "Origin")
    return response


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
    # The specialist of a warm transfer reads it before it is theirs.
    if ctx is None or _me() not in {live.get("agent"), live.get("consult_agent")}:
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


def _duty(routing: RoutingConfig, me: Hotliner) -> list[list[int]]:
    """The hotliner's stretches on duty from now to two days on (epoch ms):
    the console prompts them to go available when one begins."""
    now = utcnow()
    return [
        [int(a.timestamp() * 1000), int(b.timestamp() * 1000)]
        for a, b in routing.roster.intervals(
            me.id, now - timedelta(days=1), now + timedelta(days=2)
        )
    ]


def _shift_today(routing: RoutingConfig, me: Hotliner) -> str:
    """Today's stretches on duty as '07:00-15:00', in the hotliner's own
    timezone, exceptions (leave, extra shift, swap, holiday) applied."""
    tz = me.timezone or routing.hotline.timezone
    today = utcnow().astimezone(tz).date()
    start = datetime.combine(today, time(0), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    return ", ".join(
        f"{a.astimezone(tz):%H:%M}-{b.astimezone(tz):%H:%M}"
        for a, b in routing.roster.intervals(me.id, start, end)
        if a.astimezone(tz).date() == today
    )
