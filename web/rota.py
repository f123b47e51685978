"""The supervisors' rota: coverage against need, and the dated exceptions.

`/supervisor/rota` shows, for a week, each skill's hotliners on shift beside
those the queues' targets need (`calllog.coverage`), gaps and overstaffing
in colour, and each hotliner's week and exceptions; a supervisor adds or
removes an exception there (a sick day, a swap, an extra shift). Exceptions
are written to `rota.yaml` in the configuration folder (`agents.rota_file`):
live in every process within a second, like any edit of the configuration,
and audited like every control.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from accounts.roles import Role
from agents import rota_file
from agents.rota import parse_changes
from agents.shifts import Shift, format_days, parse_shift
from calllog.coverage import coverage_report
from core.clock import utcnow
from core.errors import ConfigError
from queues import handoff
from web import services
from web.api import BadBody, audit_control, bp, json_body
from web.auth import page_for, require_steering
from web.effects import after_response

page_bp = Blueprint("rota", __name__, url_prefix="/supervisor")

#: The longest period one coverage request computes (days).
MAX_DAYS = 14


def _day(name: str, default: date) -> date:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadBody(f"{name} must be a day like 2026-12-07") from None


def _int(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadBody(f"{name} must be a whole number from {low} to {high}")
    return int(text)


@bp.get("/rota/coverage")
@require_steering
def coverage() -> ResponseReturnValue:
    """Per skill and half hour of `from` (default today) and the `days`
    after (1-14, default 7): on shift beside needed (Erlang C on the last
    `weeks` weeks of calls, default 4)."""
    services().configs.check()  # an edit made through another process: seen now
    rt = services().runtime
    tz = rt.routing.hotline.timezone
    first = _day("from", utcnow().astimezone(tz).date())
    days = _int("days", 7, 1, MAX_DAYS)
    weeks = _int("weeks", 4, 1, 52)
    if first.year < 1900 or first.year > 9000:
        raise BadBody("from must be a day between 1900 and 9000")
    try:
        rows = coverage_report(services().engine, rt.routing, first, days, weeks=weeks)
    except ValueError as exc:
        raise BadBody(str(exc)) from exc
    return jsonify(
        {
            "from": first.isoformat(),
            "days": days,
            "weeks": weeks,
            "skills": list(rt.routing.skills),
            "rows": [
                {
                    "skill": r.skill,
                    "start": r.start.isoformat(),
                    "calls": round(r.calls, 2),
                    "needed": r.needed,
                    "on_shift": round(r.on_shift, 2),
                    "gap": round(r.gap, 2),
                    "status": r.status.value,
                }
                for r in rows
            ],
        }
    )


def _hotliners() -> list[dict[str, Any]]:
    routing = services().runtime.routing
    return [
        {
            "id": h.id,
            "name": h.name,
            "shifts": [_shift_text(s) for s in h.shifts],
            "configured_shifts": None
            if h.configured_shifts is None
            else [_shift_text(s) for s in h.configured_shifts],
            "configured": list(h.exceptions),
            "added": list(h.added_exceptions),
            "on_call": h.on_call is not None,
        }
        for h in routing.hotliners.values()
    ]


def _shift_text(shift: Shift) -> str:
    """As `hotliners.yaml` writes it: 'daily', 'mon-fri', 'sat,sun'."""
    return f"{format_days(shift.days)} {shift.start:%H:%M}-{shift.end:%H:%M}"


@bp.get("/rota/exceptions")
@require_steering
def exceptions() -> ResponseReturnValue:
    """Every hotliner's weekly shifts and dated exceptions: those written in
    `hotliners.yaml` (read only here) and those added on the rota page."""
    services().configs.check()  # an edit made through another process: seen now
    return jsonify({"hotliners": _hotliners()})


class Refused(Exception):
    """A rota change that cannot be made: its HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _edit_rota(
    agent_id: str, action: str, edit: Callable[[rota_file.RotaFile], tuple[Any, Any]]
) -> ResponseReturnValue | None:
    """One change of `rota.yaml`, the same way for every control: under the
    file's lock, read it, let `edit` change it (returning what the audit log
    keeps before and after, or raising `Refused`/`BadBody`), write it and
    load the folder with it (put back if it would not load), audit, and
    offer waiting callers to anyone back on shift. None once done, else the
    error answer."""
    svc = services()
    svc.configs.check()  # an edit made through another process: seen now
    if svc.runtime.routing.hotliner(agent_id) is None:
        return jsonify({"error": f"unknown hotliner {agent_id!r}"}), 404
    path = svc.config_dir / rota_file.FILE
    try:
        with rota_file.writing(path):
            try:
                rota = rota_file.read_rota(path, set(svc.runtime.routing.hotliners))
            except ConfigError as exc:
                raise Refused(409, f"fix it by hand first: {exc}") from exc
            before, after = edit(rota)
            refused = _write(path, rota)
        if refused:
            raise Refused(409, f"the configuration would not load: {refused}")
    except Refused as exc:
        return jsonify({"error": str(exc)}), exc.status
    audit_control(action, agent_id, before, after)
    after_response(svc.runtime, handoff.Next(dispatch=True))
    return None


def _change(add: bool) -> ResponseReturnValue:
    body = json_body()
    agent, line = body.get("agent"), body.get("exception")
    if not isinstance(agent, str) or not isinstance(line, str) or not line.strip():
        raise BadBody('send {"agent": "<id>", "exception": "sick 2026-12-03"}')
    line = " ".join(line.split())
    kept: list[str] = []

    def edit(rota: rota_file.RotaFile) -> tuple[Any, Any]:
        routing = services().runtime.routing
        try:
            changes = parse_changes([line])
        except ValueError as exc:
            raise BadBody(str(exc)) from exc
        for partner in changes.swaps.values():
            if routing.hotliner(partner) is None or partner == agent:
                raise BadBody(f"swap with {partner!r}: no such other hotliner")
        before = list(rota.exceptions.get(agent, ()))
        if add:
            if line in before:
                raise Refused(409, "that exception is there already")
            after = [*before, line]
            hotliner = routing.hotliner(agent)
            try:  # the hotliner's whole rota must still make sense
                parse_changes([*(hotliner.exceptions if hotliner else ()), *after])
            except ValueError as exc:
                raise BadBody(str(exc)) from exc
        else:
            if line not in before:
                raise Refused(404, "no such exception (from the rota page)")
            after = [x for x in before if x != line]
        rota.exceptions[agent] = tuple(after)
        kept[:] = after
        return {"exceptions": before}, {"exceptions": after}

    action = "rota_exception_added" if add else "rota_exception_removed"
    failed = _edit_rota(agent, action, edit)
    if failed is not None:
        return failed
    return jsonify({"agent": agent, "added": kept}), 201 if add else 200


def _write(path: Path, rota: rota_file.RotaFile) -> str:
    """Write the rota file and load the configuration with it (this process
    at once; the others within a second). If the whole folder would not
    load with it (a swap that clashes with `hotliners.yaml`...), the file is
    put back as it was and the reason returned ('' when it loads)."""
    configs = services().configs
    before = path.read_bytes() if path.exists() else None
    rota_file.write_rota(path, rota)
    configs.check()
    refused = configs.refused
    if refused:
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)
        configs.check()
    return refused


@bp.post("/rota/exceptions")
@require_steering
def add_exception() -> ResponseReturnValue:
    """`{"agent": "nina", "exception": "sick 2026-12-03"}`: added to her
    rota (`rota.yaml`), live everywhere within a second; audited."""
    return _change(add=True)


@bp.delete("/rota/exceptions")
@require_steering
def remove_exception() -> ResponseReturnValue:
    """The same body: an exception added on the rota page taken away."""
    return _change(add=False)


@bp.put("/rota/shifts/<agent_id>")
@require_steering
def set_shifts(agent_id: str) -> ResponseReturnValue:
    """`{"shifts": ["mon-fri 08:00-16:00", "sat 09:00-13:00"]}`: the
    hotliner's weekly shifts from now on, in place of `hotliners.yaml`'s
    (written to `rota.yaml`, live everywhere within a second); audited.
    An empty list: no weekly shift (extra shifts still count)."""
    wanted = json_body().get("shifts")
    if not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted):
        raise BadBody('send {"shifts": ["mon-fri 08:00-16:00", ...]}')
    if len(wanted) > 20:
        raise BadBody("20 weekly shifts at most")
    lines = [" ".join(x.split()) for x in wanted]
    for line in lines:
        try:
            parse_shift(line)
        except ValueError as exc:
            raise BadBody(str(exc)) from exc
    return _set_shifts(agent_id, tuple(lines))


@bp.delete("/rota/shifts/<agent_id>")
@require_steering
def reset_shifts(agent_id: str) -> ResponseReturnValue:
    """Back to the weekly shifts of `hotliners.yaml`; audited."""
    return _set_shifts(agent_id, None)


def _set_shifts(agent_id: str, lines: tuple[str, ...] | None) -> ResponseReturnValue:
    def edit(rota: rota_file.RotaFile) -> tuple[Any, Any]:
        before = rota.shifts.pop(agent_id, None)
        if lines is not None:
            rota.shifts[agent_id] = lines
        return (
            {"shifts": list(before) if before is not None else None},
            {"shifts": list(lines) if lines is not None else None},
        )

    failed = _edit_rota(agent_id, "rota_shifts", edit)
    if failed is not None:
        return failed
    hotliner = services().runtime.routing.hotliner(agent_id)
    assert hotliner is not None
    shown = (
        list(lines) if lines is not None else [_shift_text(s) for s in hotliner.shifts]
    )
    return jsonify({"agent": agent_id, "shifts": shown, "replaced": lines is not None})


@page_bp.get("/rota")
@page_for(Role.SUPERVISOR, Role.ADMIN)
def page() -> ResponseReturnValue:
    """The rota page: a week's coverage per skill, and the exceptions."""
    svc = services()
    lang = request.args.get("lang", "fr-FR")
    lang = lang if lang in ("fr-FR", "en-US") else "fr-FR"
    tz = svc.runtime.routing.hotline.timezone
    today = utcnow().astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    setup = {
        "lang": lang,
        "from": monday.isoformat(),
        "skills": list(svc.runtime.routing.skills),
    }
    response = Response(
        render_template(
            "rota.html", setup=setup, lang=lang, hotline=svc.runtime.routing.hotline
        )
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    )
    return response
