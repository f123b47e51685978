"""History for supervisors: the searchable call list and a call's timeline.

Two server-rendered pages (`/supervisor/calls`, `/supervisor/calls/<sid>`)
and the timeline as JSON (`/api/calls/<sid>/timeline`). They read the call
log only (`calllog.call_list`, `calllog.timeline`): a call of last month is
found as well as one of this morning. Callers' numbers are masked unless the
reader is an admin, as in the CSV export.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from accounts.roles import Role
from calllog import call_list
from calllog.buckets import local_day
from calllog.timeline import Timeline, call_timeline
from core.clock import utcnow
from web import services
from web.auth import api_account, page_for, require_steering

bp = Blueprint("history", __name__, url_prefix="/supervisor")
api_bp = Blueprint("history_api", __name__, url_prefix="/api")

LANGUAGES = ("fr-FR", "en-US")
#: Calls per page of the list.
PAGE_SIZE = 50
#: Facts of an event that hold a phone number (masked like the number).
NUMBER_FACTS = frozenset({"from", "to", "number", "callback_number", "from_number"})

#: Facts kept for the machines (ids, epoch times, internal stages): the row
#: and the step's own time say the same for a reader.
HIDDEN_FACTS = frozenset(
    {"offer", "queued_at", "talk_started", "first_queued", "stage", "state", "at"}
)

#: What each step of a call is called on its timeline.
STEP_NAMES: dict[str, dict[str, str]] = {
    "fr-FR": {
        "call_started": "Appel reçu",
        "ivr_choice": "Choix dans le serveur vocal",
        "ivr_note": "Réponse / fait appris",
        "language": "Langue changée",
        "enqueued": "En file d'attente",
        "offered": "Proposé à un téléassistant",
        "offer_rejected": "Proposition refusée ou sans réponse",
        "accepted": "Accepté",
        "talking": "En communication",
        "requeued": "Remis en file",
        "call_ended": "Appel terminé",
        "outcome": "Issue saisie",
        "callback_requested": "Rappel demandé",
        "callback_scheduled": "Rappel niveau 2 planifié",
        "callback_failed": "Rappel échoué",
        "caller_left": "Raccroché, rappel gardé",
        "transferred": "Transféré",
        "recap_sent": "Récapitulatif envoyé",
        "hold": "Attente (mise en garde)",
        "consult_offered": "Spécialiste sollicité",
        "consult_joined": "Spécialiste en ligne",
        "consult_ended": "Consultation terminée",
    },
    "en-US": {
        "call_started": "Call received",
        "ivr_choice": "Voice menu choice",
        "ivr_note": "Answer / fact learnt",
        "language": "Language changed",
        "enqueued": "Queued",
        "offered": "Offered to a hotliner",
        "offer_rejected": "Offer declined or missed",
        "accepted": "Accepted",
        "talking": "Talking",
        "requeued": "Back in the queue",
        "call_ended": "Call ended",
        "outcome": "Outcome posted",
        "callback_requested": "Callback asked for",
        "callback_scheduled": "Level-2 callback scheduled",
        "callback_failed": "Callback failed",
        "caller_left": "Hung up, callback kept",
        "transferred": "Transferred",
        "recap_sent": "Recap sent",
        "hold": "Hold",
        "consult_offered": "Specialist asked",
        "consult_joined": "Specialist joined",
        "consult_ended": "Consultation ended",
    },
}


class BadFilter(ValueError):
    """A call-list filter that is not one (said on the page or as a 400)."""


#: The days a period may name. Beyond them a local midnight in UTC, or the day
#: after the last, is out of `datetime`'s range (year 1 in Paris is 9 minutes
#: ahead of UTC): that was a 500.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def period(args: Mapping[str, str], *, today: str | None = None) -> tuple[str, str]:
    """`from` and `to` local days of a query string (today by default when
    `today` is given), as `YYYY-MM-DD` (what the call log holds and compares
    as text, whatever other ISO form was sent); `BadFilter` for a day that is
    not one."""
    days = []
    for name in ("from", "to"):
        value = args.get(name, "") or (today or "")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise BadFilter(f"{name} must be a day like 2026-12-01") from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise BadFilter(f"{name} must be a day from {FIRST_DAY} to {LAST_DAY}")
        days.append(day.isoformat())
    first, last = days
    if first > last:
        raise BadFilter("from must not be after to")
    return first, last


def call_filter(
    args: Mapping[str, str], *, today: str | None = None
) -> call_list.CallFilter:
    """The call list's filter from a query string: `period` and any of
    `queue`, `agent`, `outcome`, `status`, `number`, `fault`, `words`."""
    first, last = period(args, today=today)
    return call_list.CallFilter(
        first,
        last,
        queue=args.get("queue") or None,
        agent=args.get("agent") or None,
        outcome=args.get("outcome") or None,
        status=args.get("status") or None,
        number=(args.get("number") or "").strip() or None,
        fault=args.get("fault") or None,
        words=(args.get("words") or "").strip()[:200] or None,
    )


def _masked() -> bool:
    account = api_account()
    return account is None or account.role is not Role.ADMIN


def _number(value: str, masked: bool) -> str:
    """A phone number as this reader may see it."""
    return call_list.mask_number(value) if masked and value else value


def _facts(facts: Mapping[str, str], masked: bool) -> dict[str, str]:
    """An event's facts as this reader may see them (numbers masked)."""
    return {k: _number(v, masked) if k in NUMBER_FACTS else v for k, v in facts.items()}


def _lang() -> str:
    wanted = request.args.get("lang", "")
    return wanted if wanted in LANGUAGES else LANGUAGES[0]


def _clock(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d/%m %H:%M:%S") if moment else ""


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    whole = int(round(value))
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


@bp.get("/calls")
@page_for(Role.SUPERVISOR, Role.ADMIN)
def calls_page() -> ResponseReturnValue:
    """The call list: filters, newest first, a page at a time, CSV export."""
    svc = services()
    routing = svc.runtime.routing
    tz = routing.hotline.timezone
    lang = _lang()
    today = local_day(utcnow(), tz)
    error = ""
    rows: list[Any] = []
    try:
        flt = call_filter(request.args, today=today)
        rows = call_list.search(
            svc.engine,
            flt,
            limit=PAGE_SIZE,
            before=request.args.get("before") or None,
            tz=tz,
        )
    except BadFilter as exc:
        flt = call_list.CallFilter(today, today)
        error = str(exc)
    except SQLAlchemyError:
        error = (
            "The call log cannot be read now."
            if lang == "en-US"
            else "Le journal des appels ne répond pas."
        )
    masked = _masked()
    shown = [
        {
            "sid": c.call_sid,
            "started": _clock(c.started_at, tz),
            "number": _number(c.from_number, masked),
            "queue": c.queue or "",
            "agent": c.agent_id or "",
            "status": c.status,
            "outcome": c.outcome or "",
            "wait": _seconds(c.wait_seconds),
            "talk": _seconds(c.handle_talk_seconds),
            "fault": c.fixed_by or c.kb_fault or "",
        }
        for c in rows
    ]
    kept = {k: v for k, v in request.args.items() if k not in ("before",) and v}
    kept.setdefault("from", flt.first_day)
    kept.setdefault("to", flt.last_day)
    config = svc.current()
    return render_template(
        "calls.html",
        lang=lang,
        hotline=routing.hotline,
        flt=flt,
        error=error,
        calls=shown,
        query=kept,
        next_before=rows[-1].call_sid if len(rows) == PAGE_SIZE else "",
        paged=bool(request.args.get("before")),
        queues=sorted(routing.queues),
        agents=sorted(routing.hotliners),
        outcomes=sorted(routing.hotline.dispositions),
        faults=sorted(str(f) for f in config.kb.faults),
        masked=masked,
    )


def _step_rows(timeline: Timeline, lang: str, tz: ZoneInfo) -> list[dict[str, Any]]:
    names = STEP_NAMES.get(lang, STEP_NAMES["fr-FR"])
    masked = _masked()
    rows = []
    for step in timeline.steps:
        shown = {k: v for k, v in step.facts.items() if v and k not in HIDDEN_FACTS}
        facts = _facts(shown, masked)
        rows.append(
            {
                "clock": _clock(step.at, tz),
                "offset": _seconds(step.offset_seconds),
                "name": names.get(step.type, step.type),
                "type": step.type,
                "agent": step.agent_id or "",
                "facts": facts,
                "lasted": _seconds(step.lasted_seconds),
            }
        )
    return rows


@bp.get("/calls/<call_sid>")
@page_for(Role.SUPERVISOR, Role.ADMIN)
def call_page(call_sid: str) -> ResponseReturnValue:
    """One call's timeline: every step in order, with durations."""
    svc = services()
    routing = svc.runtime.routing
    tz = routing.hotline.timezone
    lang = _lang()
    try:
        timeline = call_timeline(svc.engine, call_sid)
    except SQLAlchemyError:
        return render_template(
            "call_timeline.html", lang=lang, hotline=routing.hotline, missing="sql"
        ), 503
    if timeline is None:
        return render_template(
            "call_timeline.html", lang=lang, hotline=routing.hotline, missing="call"
        ), 404
    call = timeline.call
    masked = _masked()
    return render_template(
        "call_timeline.html",
        lang=lang,
        hotline=routing.hotline,
        missing="",
        call={
            "sid": call.call_sid,
            "number": _number(call.from_number, masked),
            "started": _clock(call.started_at, tz),
            "total": _seconds(timeline.total_seconds),
            "queue": call.queue or "",
            "priority": call.priority,
            "agent": call.agent_id or "",
            "status": call.status,
            "outcome": call.outcome or "",
            "kb_fault": call.kb_fault or "",
            "fixed_by": call.fixed_by or "",
            "selfhelp": call.selfhelp_tried or "",
            "notes": call.notes or "",
            "transfers": call.transfers,
            "offers": call.offers,
            "recap": call.recap_sent or "",
            "wait": _seconds(call.wait_seconds),
            "talk": _seconds(call.handle_talk_seconds),
            "hold": _seconds(call.hold_seconds),
            "wrapup": _seconds(call.wrapup_seconds),
            "previous": call.previous_call_sid or "",
        },
        steps=_step_rows(timeline, lang, tz),
        segments=[
            {
                "agent": s.agent_id,
                "from": _clock(s.started_at, tz),
                "to": _clock(s.ended_at, tz),
                "talk": _seconds(s.talk_seconds),
                "hold": _seconds(s.hold_seconds),
            }
            for s in timeline.segments
        ],
    )


@api_bp.get("/calls/<call_sid>/timeline")
@require_steering
def timeline_json(call_sid: str) -> ResponseReturnValue:
    """A call's timeline: the call's row, its steps and its hotliners'
    segments. 404 for a call the log has not; SQL down -> 503."""
    if "\x00" in call_sid:  # no call has one, and PostgreSQL would refuse it
        return jsonify({"error": f"no call {call_sid!r} in the call log"}), 404
    try:
        timeline = call_timeline(services().engine, call_sid)
    except SQLAlchemyError:
        return jsonify({"error": "the call log cannot be read now"}), 503
    if timeline is None:
        return jsonify({"error": f"no call {call_sid} in the call log"}), 404
    masked = _masked()
    header = call_list.CSV_COLUMNS
    steps = []
    for step in timeline.steps:
        body = step.as_json()
        body["facts"] = _facts(body["facts"], masked)
        steps.append(body)
    return jsonify(
        {
            "call": dict(
                zip(header, call_list.values(timeline.call, masked=masked), strict=True)
            ),
            "total_seconds": timeline.total_seconds,
            "steps": steps,
            "segments": [s.as_json() for s in timeline.segments],
        }
    )
