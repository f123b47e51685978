"""The rota API: a supervisor adds and removes dated exceptions (written to
`rota.yaml`, live at once, audited), reads them and the week's coverage;
bad input is refused with a reason and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import utcnow


def rota_file(app: Flask) -> str:
    path = app.extensions["hotline"].config_dir / "rota.yaml"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def today(app: Flask) -> str:
    tz = app.extensions["hotline"].runtime.routing.hotline.timezone
    return utcnow().astimezone(tz).date().isoformat()


def test_a_sick_day_added_takes_nina_off_shift_at_once_and_is_audited(
    app: Flask, api: FlaskClient
) -> None:
    svc = app.extensions["hotline"]
    assert svc.runtime.routing.roster.on_shift("nina", utcnow())
    line = f"sick {today(app)}"
    added = api.post("/api/rota/exceptions", json={"agent": "nina", "exception": line})
    assert added.status_code == 201, added.get_json()
    assert added.get_json() == {"agent": "nina", "added": [line]}
    assert line in rota_file(app)
    # This process reloaded at once: the rota, the router and the API agree.
    assert not svc.runtime.routing.roster.on_shift("nina", utcnow())
    refused = api.post("/api/agents/nina/state", json={"state": "available"})
    assert refused.status_code == 409
    listed = api.get("/api/rota/exceptions").get_json()["hotliners"]
    nina = next(h for h in listed if h["id"] == "nina")
    assert (nina["configured"], nina["added"]) == ([], [line])
    assert nina["shifts"] == ["daily 00:00-00:00"]
    again = api.post("/api/rota/exceptions", json={"agent": "nina", "exception": line})
    assert again.status_code == 409

    removed = api.delete(
        "/api/rota/exceptions", json={"agent": "nina", "exception": line}
    )
    assert removed.status_code == 200
    assert svc.runtime.routing.roster.on_shift("nina", utcnow())
    assert line not in rota_file(app)
    audit = api.get("/api/audit").get_json()["entries"]
    actions = [(e["action"], e["target"]) for e in audit[:2]]
    assert actions == [
        ("rota_exception_removed", "nina"),
        ("rota_exception_added", "nina"),
    ]
    assert audit[1]["after"] == {"exceptions": [line]}


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"agent": "nina"}, 400, "exception"),
        ({"agent": "nina", "exception": ["sick"]}, 400, "exception"),
        ({"agent": "nina", "exception": "holiday 2026-12-25"}, 400, "look like"),
        ({"agent": "nina", "exception": "sick 2026-02-30"}, 400, "exception"),
        ({"agent": "nina", "exception": "swap 2026-12-07 with zoe"}, 400, "zoe"),
        ({"agent": "nina", "exception": "swap 2026-12-07 with nina"}, 400, "other"),
        ({"agent": "zoe", "exception": "sick 2026-12-03"}, 404, "unknown hotliner"),
    ],
)
def test_bad_exceptions_are_refused_with_a_reason_and_change_nothing(
    app: Flask, api: FlaskClient, body: dict[str, object], status: int, reason: str
) -> None:
    answer = api.post("/api/rota/exceptions", json=body)
    assert answer.status_code == status
    assert reason in answer.get_json()["error"]
    assert rota_file(app) == ""
    gone = api.delete(
        "/api/rota/exceptions", json={"agent": "nina", "exception": "sick 2026-12-03"}
    )
    assert gone.status_code == 404


def test_the_coverage_of_a_week_per_skill_and_half_hour(
    app: Flask, api: FlaskClient
) -> None:
    answer = api.get(f"/api/rota/coverage?from={today(app)}&days=2&weeks=1")
    assert answer.status_code == 200
    body = answer.get_json()
    skills = set(body["skills"])
    assert {r["skill"] for r in body["rows"]} == skills
    # Two days of half hours (46 to 50 each, DST) for every skill.
    per_skill = len(body["rows"]) / len(skills)
    assert 92 <= per_skill <= 100
    first = body["rows"][0]
    assert set(first) == {
        "skill",
        "start",
        "calls",
        "needed",
        "on_shift",
        "gap",
        "status",
    }
    assert first["on_shift"] == 1.0  # Nina, round the clock, every skill
    for query, reason in (
        ("from=2026-13-01", "from must be a day"),
        ("days=15", "days must be"),
        ("weeks=0", "weeks must be"),
        ("days=x", "days must be"),
    ):
        bad = api.get(f"/api/rota/coverage?{query}")
        assert bad.status_code == 400
        assert reason in bad.get_json()["error"]


def test_a_broken_rota_file_is_reported_not_overwritten(
    app: Flask, api: FlaskClient
) -> None:
    path = app.extensions["hotline"].config_dir / "rota.yaml"
    path.write_text("exceptions:\n  zoe: ['sick 2026-12-03']\n", encoding="utf-8")
    answer = api.post(
        "/api/rota/exceptions",
        json={"agent": "nina", "exception": f"sick {today(app)}"},
    )
    assert answer.status_code == 409
    assert "rota.yaml:2:" in answer.get_json()["error"]
    assert "zoe" in path.read_text(encoding="utf-8")
    # The running configuration stays (the broken edit is refused).
    svc = app.extensions["hotline"]
    assert not svc.configs.check()
    assert svc.runtime.routing.roster.on_shift("nina", utcnow() + timedelta(0))


def test_weekly_shifts_replaced_from_the_page_then_put_back(
    app: Flask, api: FlaskClient
) -> None:
    svc = app.extensions["hotline"]
    now = utcnow().astimezone(svc.runtime.routing.hotline.timezone)
    # A shift that is not now: three hours from now, one hour long.
    start = now + timedelta(hours=3)
    line = f"daily {start:%H}:00-{start + timedelta(hours=1):%H}:00"
    replaced = api.put("/api/rota/shifts/nina", json={"shifts": [f"  {line} "]})
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json() == {"agent": "nina", "shifts": [line], "replaced": True}
    assert not svc.runtime.routing.roster.on_shift("nina", utcnow())
    assert f"nina:\n  - {line}" in rota_file(app)
    listed = api.get("/api/rota/exceptions").get_json()["hotliners"]
    nina = next(h for h in listed if h["id"] == "nina")
    assert (nina["shifts"], nina["configured_shifts"]) == (
        [line],
        ["daily 00:00-00:00"],
    )
    back = api.delete("/api/rota/shifts/nina")
    assert back.status_code == 200
    assert back.get_json() == {
        "agent": "nina",
        "shifts": ["daily 00:00-00:00"],
        "replaced": False,
    }
    assert svc.runtime.routing.roster.on_shift("nina", utcnow())
    # Newest first; other tests' entries may be older (one SQL log per run).
    audit = api.get("/api/audit?action=rota_shifts").get_json()["entries"]
    assert [(e["target"], e["after"]) for e in audit[:2]] == [
        ("nina", {"shifts": None}),
        ("nina", {"shifts": [line]}),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "shifts"),
        ({"shifts": "mon-fri 08:00-16:00"}, "shifts"),
        ({"shifts": [8]}, "shifts"),
        ({"shifts": ["weekdays 8h-16h"]}, "must look like"),
        ({"shifts": ["mon-fri 08:00-16:00"] * 21}, "20 weekly shifts"),
    ],
)
def test_bad_weekly_shifts_are_refused_and_change_nothing(
    app: Flask, api: FlaskClient, body: dict[str, object], reason: str
) -> None:
    answer = api.put("/api/rota/shifts/nina", json=body)
    assert answer.status_code == 400
    assert reason in answer.get_json()["error"]
    assert rota_file(app) == ""
    unknown = api.put("/api/rota/shifts/zoe", json={"shifts": []})
    assert unknown.status_code == 404


def test_a_change_the_configuration_cannot_load_is_put_back_and_refused(
    app: Flask, api: FlaskClient
) -> None:
    """Someone broke `ivr.yaml` by hand: a rota change cannot go live, so it
    is not kept, and the supervisor is told why (not a 201 that never
    applies)."""
    svc = app.extensions["hotline"]
    ivr = svc.config_dir / "ivr.yaml"
    ivr.write_text(
        ivr.read_text(encoding="utf-8") + "\nstart: twice\n", encoding="utf-8"
    )
    answer = api.post(
        "/api/rota/exceptions",
        json={"agent": "nina", "exception": f"sick {today(app)}"},
    )
    assert answer.status_code == 409
    assert "would not load" in answer.get_json()["error"]
    assert "ivr.yaml" in answer.get_json()["error"]
    assert rota_file(app) == ""
    assert svc.runtime.routing.roster.on_shift("nina", utcnow())
    shifts = api.put("/api/rota/shifts/nina", json={"shifts": []})
    assert shifts.status_code == 409
    assert rota_file(app) == ""
