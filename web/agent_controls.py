"""Supervisors' control over who takes what: a hotliner's skills today.

Routes of the `/api` blueprint; `agents.skills` says why a change lives in
Redis beside the hotliner's state rather than in `hotliners.yaml`. Audited,
like every control.
"""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from agents import skills as agent_skills
from queues import handoff, routing
from web import services
from web.api import BadBody, audit_control, bp, json_body
from web.auth import require_steering
from web.effects import after_response


def _apply(agent_id: str, wanted: dict[str, int] | None) -> ResponseReturnValue:
    rt = services().runtime
    hotliner = rt.routing.hotliner(agent_id)
    if hotliner is None:
        return jsonify({"error": f"unknown hotliner {agent_id!r}"}), 404
    skills = hotliner.skills if wanted is None else wanted
    memberships = routing.memberships(
        agent_skills.with_skills(hotliner, skills), rt.routing
    )
    text = "" if wanted is None else agent_skills.format_skills(wanted)
    # The skills before, as the script found them (no read of its own).
    before = rt.store.agents.set_skills(agent_id, text, memberships)
    audit_control(
        "agent_skills",
        agent_id,
        {"skills": agent_skills.parse(before) if before else hotliner.skills},
        {"skills": skills, "as_configured": wanted is None},
    )
    # Someone who now serves a queue with callers waiting is offered one.
    after_response(rt, handoff.Next(dispatch=True))
    return jsonify(
        {
            "id": agent_id,
            "skills": skills,
            "configured_skills": hotliner.skills,
            "as_configured": wanted is None,
            "queues": sorted(queue for queue, _ in memberships),
        }
    )


@bp.put("/agents/<agent_id>/skills")
@require_steering
def set_skills(agent_id: str) -> ResponseReturnValue:
    """`{"skills": {"printer": 3, "network": 1}}`: what they take from now
    on (known skills, levels 1 to 5), whatever `hotliners.yaml` says, until
    put back. An available hotliner's place in line is kept."""
    body = json_body()
    try:
        wanted = agent_skills.checked(
            body.get("skills"), set(services().runtime.routing.skills)
        )
    except agent_skills.BadSkills as exc:
        raise BadBody(str(exc)) from exc
    return _apply(agent_id, wanted)


@bp.delete("/agents/<agent_id>/skills")
@require_steering
def reset_skills(agent_id: str) -> ResponseReturnValue:
    """Back to the skills of `hotliners.yaml`."""
    return _apply(agent_id, None)
