"""The hotline's webhooks and API with live state split by routing group.

Two teams that share no hotliner (`support.two_teams_config`'s queues), the
app started with `HOTLINE_ROUTING_GROUPS=auto`: a caller goes through the
menu to the email queue (the network team's group) and talks with one of
them, over the real webhooks. What would pass them to the desk's group (a
cold or warm transfer to the printer queue, a supervisor's move of a waiting
caller) is refused with words that say why, and changes nothing; within the
group, a supervisor's move goes through.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from support import (
    TWO_TEAMS_QUEUES,
    RecordingTelephony,
    SignedPost,
    call_form,
    console_session,
    two_teams_hotliners,
)
from test_transfer import answer_and_talk, post, runtime, set_state

from agents.lifecycle import AgentState
from core.keys import Keys
from queues.grouped_store import OTHER_GROUP, OTHER_GROUP_TEXT, GroupedStore

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
SID = "CAgroups1"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(
        two_teams_hotliners(per_team=1),
        accounts=("n1",),
        settings={"routing_groups": "auto"},
        queues_yaml=TWO_TEAMS_QUEUES,
    )


def test_a_caller_is_served_in_their_queues_group_and_kept_there(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    api: FlaskClient,
) -> None:
    rt = runtime(app)
    assert isinstance(rt.store, GroupedStore)
    assert rt.store.group_names == ("account", "general")
    set_state(app, "n1", AgentState.AVAILABLE)
    signed_post("/voice/incoming", call_form(SID))
    signed_post(EMAIL, call_form(SID, Digits="4"))
    answer_and_talk(signed_post, telephony, 0, SID)
    call = rt.store.call(SID)
    assert (call["state"], call["queue"], call["agent"]) == ("talking", "email", "n1")
    assert rt.redis.exists(Keys().group("account").call(SID)) == 1
    assert rt.redis.exists(Keys().call(SID)) == 0

    n1, headers = console_session(app, "n1")
    cold = post(
        n1,
        f"/api/calls/{SID}/transfer",
        json={"queue": "printer", "notes": "imprimante"},
        headers=headers,
    )
    assert cold.status_code == 409
    assert OTHER_GROUP_TEXT in cold.get_json()["error"]
    warm = post(
        n1,
        f"/api/calls/{SID}/transfer",
        json={"queue": "printer", "mode": "warm", "notes": "imprimante"},
        headers=headers,
    )
    assert warm.status_code == 409, warm.get_json()
    assert OTHER_GROUP_TEXT in warm.get_json()["error"]
    call = rt.store.call(SID)
    assert (call["state"], call["queue"], call["agent"]) == ("talking", "email", "n1")
    assert "consult" not in call

    # A waiting caller: moved within their group, not out of it.
    signed_post("/voice/incoming", call_form("CAgroups2"))
    signed_post(EMAIL, call_form("CAgroups2", Digits="4"))
    assert rt.store.call("CAgroups2")["state"] == "queued"
    out = post(api, "/api/calls/CAgroups2/queue", json={"queue": "printer"})
    assert out.status_code == 409, out.get_json()
    assert out.get_json()["why"] == OTHER_GROUP
    assert rt.store.position("email", "CAgroups2") == 1
    within = post(api, "/api/calls/CAgroups2/queue", json={"queue": "network"})
    assert within.status_code == 200, within.get_json()
    assert rt.store.position("network", "CAgroups2") == 1
