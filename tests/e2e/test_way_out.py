"""Callers are never held for nothing: too long a wait, or nobody on duty."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import bearer

from calllog.models import Call
from simulator.scripts import CallerScript, Digits

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: paul
    name: "Paul en pause"
    endpoint: "client:paul"
    skills: {printer: 3}
    shifts: ["daily 00:00-00:00"]
"""

ROUTING = """routing:
  ring_seconds: 10
  wrapup_seconds: 30
"""


def test_too_long_a_wait_ends_in_a_voicemail_and_an_empty_queue_asks_at_once(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(
        HOTLINERS,
        ROUTING,
        0.1,
        queues_patch=(
            '    name: {fr-FR: "imprimantes", en-US: "printers"}\n',
            '    name: {fr-FR: "imprimantes", en-US: "printers"}\n'
            "    max_wait_seconds: 2\n",
        ),
    )
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    # Paul is logged in but on a break: the printer queue is staffed, nobody answers.
    auth = bearer(hotline.token)  # type: ignore[attr-defined]
    assert requests.post(
        f"{url}/api/agents/paul/state",
        json={"state": "available"},
        headers=auth,
        timeout=5,
    ).ok
    assert requests.post(
        f"{url}/api/agents/paul/state", json={"state": "break"}, headers=auth, timeout=5
    ).ok
    waiter = carrier.place_call(
        CallerScript(
            from_number="+33630000001",
            inputs=[Digits("2"), Digits("4"), Digits("2")],
            voicemail_seconds=40.0,
            voicemail_finish_key="#",
        )
    )
    nobody = carrier.place_call(
        CallerScript(
            from_number="+33630000002",
            inputs=[Digits("3"), Digits("4"), Digits("2")],
            voicemail_seconds=20.0,
        )
    )
    assert carrier.wait_idle(timeout=90.0)
    assert carrier.errors == []
    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    rows: dict[str, Call] = {}
    while time.monotonic() < deadline:
        with Session(engine) as session:
            rows = {r.call_sid: r for r in session.scalars(select(Call)).all()}
        if all(r.status == "voicemail" for r in rows.values()) and len(rows) == 2:
            break
        time.sleep(0.25)
    engine.dispose()
    waited = rows[waiter.sid]
    assert (waited.status, waited.outcome, waited.queue) == (
        "voicemail",
        "voicemail",
        "printer",
    )
    assert waited.recording_url
    assert waited.wait_seconds is not None
    assert waited.wait_seconds >= 2.0
    unstaffed = rows[nobody.sid]
    assert (unstaffed.status, unstaffed.outcome) == ("voicemail", "voicemail")
    assert unstaffed.queue is None  # never held in the network queue
    heard = " ".join(e.detail for e in nobody.transcript if e.kind == "say")
    assert "Aucun technicien connexion internet et réseau" in heard
