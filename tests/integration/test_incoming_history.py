"""A new call reads its caller's history once.

`/voice/incoming` asks two things of the caller's history: the hotliner who
last helped them (the preferred one for this call) and their earlier call
("is it about the same problem?"). Every webhook's round trip to Redis costs
the threaded server about as much as the step's own work
(`bench/webhooks.py`'s ladder), so the one read serves both.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from support import SignedPost, call_form, caller_number, twiml

from core.clock import now_ms
from queues.runtime import Runtime
from queues.webhooks import INCOMING, RETURNING


def test_a_returning_caller_is_asked_about_their_earlier_call_after_one_read(
    app: Flask, signed_post: SignedPost, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.extensions["hotline"].runtime
    sid = "CAhistory0001"
    number = caller_number(sid)
    now = now_ms()
    rt.redis.hset(
        rt.keys.caller(number),
        mapping={
            "last_call": "CAearlier0001",
            "last_queue": "printer",
            "last_started": str(now - 3_600_000),
            "agent": "nina",
            "agent_at": str(now - 3_600_000),
        },
    )
    reads: list[str] = []
    history = rt.store.caller_history

    def counted(caller: str) -> Any:
        reads.append(caller)
        return history(caller)

    monkeypatch.setattr(rt.store, "caller_history", counted)

    answer = signed_post(INCOMING, call_form(sid))

    assert answer.status_code == 200
    gather = twiml(answer.data).find("Gather")
    assert gather is not None
    assert RETURNING in gather.get("action", "")
    assert "CAearlier0001" in gather.get("action", "")
    assert reads == [number]
    assert rt.store.call(sid).get("preferred") == "nina"
