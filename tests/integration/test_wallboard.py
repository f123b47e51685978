"""The wallboard's board: live state and today's figures, pushed on change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from support import SignedPost, bearer_client, call_form, log_in, provision

from calllog.writer import drain_events
from web.wallboard import rag

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue


def _messages(body: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """Boards from an SSE body, as they come."""
    buffer = b""
    for chunk in body:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    yield json.loads(line[6:])


def test_the_board_has_queues_hotliners_and_todays_figures(
    app: Flask,
    supervisor_session: FlaskClient,
    api: FlaskClient,
    signed_post: SignedPost,
) -> None:
    assert (
        api.post(
            "/api/agents/nina/state", json={"state": "break", "reason": "training"}
        ).status_code
        == 200
    )
    signed_post("/voice/incoming", call_form("CAwb1"))
    signed_post(EMAIL, call_form("CAwb1", Digits="4"))
    rt = app.extensions["hotline"].runtime
    drain_events(rt.redis, app.extensions["hotline"].engine, rt.keys)
    board = supervisor_session.get("/supervisor/board").get_json()
    queues = {q["id"]: q for q in board["queues"]}
    assert queues["email"]["waiting"] >= 1
    assert queues["email"]["oldest_since"] is not None
    nina = next(h for h in board["hotliners"] if h["id"] == "nina")
    assert (nina["state"], nina["reason"]) == ("break", "training")
    assert board["break_reasons"]["training"] == "Formation"
    assert board["figures"] is True
    # Today's figures are the reports API's, to the digit.
    report = api.get(f"/api/reports?from={board['day']}&to={board['day']}&by=queue")
    rows = {r["key"]: r for r in report.get_json()["rows"]}
    for queue_id, row in rows.items():
        if queue_id in queues:
            assert queues[queue_id]["offered"] == row["offered"]
            assert queues[queue_id]["service_level"] == row["service_level"]
            assert queues[queue_id]["abandon_rate"] == row["abandon_rate"]


def test_the_feed_sends_a_new_board_when_a_caller_joins_a_queue(
    app: Flask, supervisor_session: FlaskClient, signed_post: SignedPost
) -> None:
    response = supervisor_session.get("/supervisor/events", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    boards = _messages(iter(response.response))
    before = _waiting(next(boards))
    signed_post("/voice/incoming", call_form("CAwb2"))
    signed_post(EMAIL, call_form("CAwb2", Digits="4"))
    # A board after each burst of events: the caller's first steps (in the
    # menu) may show before they join the queue, never more than a few.
    shown = [next(boards)]
    while len(shown) < 4 and _waiting(shown[-1]) == before:
        shown.append(next(boards))
    assert _waiting(shown[-1]) == before + 1
    response.close()


def _waiting(board: dict[str, Any]) -> int:
    return int({q["id"]: q["waiting"] for q in board["queues"]}["email"])


def test_the_wallboard_is_for_supervisors(app: Flask) -> None:
    provision(app.extensions["hotline"].accounts, "nina", "hotliner")
    nina = app.test_client()
    log_in(nina, "nina")
    assert nina.get("/supervisor").status_code == 403
    assert nina.get("/supervisor/board").status_code == 403
    assert app.test_client().get("/supervisor/board").status_code == 401
    token = provision(app.extensions["hotline"].accounts, "sup-wb", "supervisor")
    # The page's own feed is for its session, not for scripts' tokens.
    assert bearer_client(app, token).get("/supervisor/board").status_code == 401


def test_the_page_loads_its_script_under_a_strict_policy(
    supervisor_session: FlaskClient,
) -> None:
    page = supervisor_session.get("/supervisor")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy  # no inline script
    html = page.get_data(as_text=True)
    assert "wallboard.js" in html
    assert 'id="queues"' in html
    tv = supervisor_session.get("/supervisor?tv=1").get_data(as_text=True)
    assert 'class="board tv"' in tv
    assert "Mode TV" not in tv  # no controls on a TV


def test_red_amber_green() -> None:
    assert rag(0.85, 0.8) == "green"
    assert rag(0.75, 0.8) == "amber"
    assert rag(0.65, 0.8) == "red"
    assert rag(None, 0.8) == "none"
