"""A person answers hotliner legs in a browser: the carrier's softphone API.

The browser's part (`web/static/sim-device.js`) is played here with HTTP: an
events stream read by a thread as EventSource reads it, and the POSTs the page
sends, authenticated by the access token the app issues to the console. The
app's side is the carrier tests' small signature-checking app.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import requests
from test_simulator_carrier import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    HOTLINE,
    World,
    running_world,
)
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile
from simulator.softphone import Softphone

SCALE = 0.01
CONSOLE = "http://console.test:5000"
KEEPALIVE = 0.05  # real seconds: a closed page is found within two of them
GRACE = 0.3  # real seconds before the simulated hotliner comes back
API_KEY = "SK" + "5" * 32
OTHER_SECRET = "another0secret0of0thirty0two0byte"  # PyJWT warns under 32 bytes

pytestmark = pytest.mark.timeout(60)


def softphone_world(scale: float) -> AbstractContextManager[World]:
    """The carrier tests' app, and a carrier that lets the console page in."""
    return running_world(
        scale,
        console_origins=(CONSOLE,),
        softphone_keepalive_seconds=KEEPALIVE,
        softphone_grace_seconds=GRACE,
    )


@pytest.fixture
def world() -> Iterator[World]:
    with softphone_world(SCALE) as built:
        yield built


def access_token(
    identity: str = "alice",
    *,
    secret: str = AUTH_TOKEN,
    account_sid: str = ACCOUNT_SID,
    ttl: int = 3600,
    incoming: bool = True,
) -> str:
    """What the app's console hands the browser (signed with the auth token in
    simulation)."""
    token = AccessToken(account_sid, API_KEY, secret, identity=identity, ttl=ttl)
    token.add_grant(VoiceGrant(incoming_allow=incoming))
    jwt: str = token.to_jwt()
    return jwt


class EventStream:
    """A page's EventSource on `/softphone/api/events`, read in a thread."""

    def __init__(
        self, world: World, token: str, *, headers: dict[str, str] | None = None
    ) -> None:
        self.response = requests.get(
            world.carrier.api_base_url + "/softphone/api/events",
            params={"token": token},
            headers=headers,
            stream=True,
            timeout=5,
        )
        assert self.response.status_code == 200, self.response.text
        self.events: list[tuple[str, dict[str, str]]] = []
        self.keepalives = 0
        self._seen = threading.Condition()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        name, data = "message", ""
        try:
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if self._closing.is_set():
                    return
                if line.startswith(":"):
                    self.keepalives += 1
                elif line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif not line and data:
                    with self._seen:
                        self.events.append((name, json.loads(data)))
                        self._seen.notify_all()
                    name, data = "message", ""
        except requests.RequestException:
            return
        finally:
            self.response.close()  # the page goes away: the socket closes

    def wait_for(
        self, name: str, call_sid: str | None = None, timeout: float = 5.0
    ) -> dict[str, str]:
        def found() -> dict[str, str] | None:
            for event, data in self.events:
                if event == name and call_sid in (None, data.get("CallSid")):
                    return data
            return None

        with self._seen:
            if not self._seen.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no {name!r} event in {self.events}")
            data = found()
        assert data is not None
        return data

    def names(self, call_sid: str) -> list[str]:
        return [name for name, data in self.events if data.get("CallSid") == call_sid]

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)


@contextmanager
def open_stream(world: World, identity: str = "alice") -> Iterator[EventStream]:
    stream = EventStream(world, access_token(identity))
    try:
        yield stream
    finally:
        stream.close()


def post(
    world: World,
    call_sid: str,
    action: str,
    *,
    token: str | None = None,
    body: Any = None,
) -> requests.Response:
    return requests.post(
        f"{world.carrier.api_base_url}/softphone/api/calls/{call_sid}/{action}",
        headers={"Authorization": f"Bearer {token or access_token()}"},
        json=body if body is not None else {},
        timeout=5,
    )


def call_alice(world: World, path: str, timeout: int = 600) -> Any:
    """The app calls its hotliner, as `queues` does (600 s rings 6 s here)."""
    return world.client.calls.create(
        to="client:alice",
        from_=HOTLINE,
        url=world.url(path),
        timeout=timeout,
        status_callback=world.url("/voice/agent-status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )


def statuses(world: World, call_sid: str) -> list[str]:
    return [
        form["CallStatus"]
        for form in world.recorded.forms("/voice/agent-status")
        if form["CallSid"] == call_sid
    ]


def leg_status(world: World, call_sid: str) -> str:
    status: str = world.client.calls(call_sid).fetch().status
    return status


# Access tokens -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "no access token"),
        ("not-a-jwt", "invalid access token"),
        (access_token(secret=OTHER_SECRET), "invalid access token"),
        (access_token(ttl=-30), "the access token has expired"),
        (access_token(account_sid="AC" + "6" * 32), "for another account"),
        (access_token(incoming=False), "does not allow incoming calls"),
    ],
)
def test_a_missing_bad_expired_or_foreign_token_is_refused_with_401(
    world: World, token: str | None, reason: str
) -> None:
    base = world.carrier.api_base_url
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    stream = requests.get(f"{base}/softphone/api/events", headers=headers, timeout=5)
    by_query = requests.get(
        f"{base}/softphone/api/events", params={"token": token or ""}, timeout=5
    )
    accept = requests.post(
        f"{base}/softphone/api/calls/{'CA' + '0' * 32}/accept",
        headers=headers,
        json={},
        timeout=5,
    )

    for response in (stream, by_query, accept):
        assert response.status_code == 401
        assert reason in response.json()["error"]
    assert world.carrier.board.softphones == {}
    assert "client:alice" not in world.carrier.board.hotliners


def test_twilio_basic_auth_is_not_a_softphone_token(world: World) -> None:
    response = requests.get(
        world.carrier.api_base_url + "/softphone/api/events",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )

    assert response.status_code == 401


# Ringing, answering, hanging up --------------------------------------------------


def test_an_accepted_leg_gets_the_answer_webhook_and_lasts_until_hung_up(
    world: World,
) -> None:
    with open_stream(world) as stream:
        assert stream.wait_for("ready") == {"identity": "alice"}
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")

        created = call_alice(world, "/voice/join?room=desk&anchor=1")

        ringing = stream.wait_for("incoming")
        assert ringing == {
            "CallSid": created.sid,
            "From": HOTLINE,
            "To": "client:alice",
        }
        assert leg_status(world, created.sid) == "ringing"
        assert world.recorded.forms("/voice/join") == []

        accepted = post(world, created.sid, "accept")

        assert accepted.status_code == 200
        assert accepted.json() == {"CallSid": created.sid}
        stream.wait_for("accept", created.sid)
        world.wait_for(lambda: world.recorded.forms("/voice/join"))
        (answered,) = world.recorded.forms("/voice/join")
        assert answered["CallSid"] == created.sid
        assert answered["CallStatus"] == "in-progress"
        assert answered["Direction"] == "outbound-api"
        assert leg_status(world, created.sid) == "in-progress"
        assert post(world, created.sid, "accept").status_code == 409

        hung_up = post(world, created.sid, "hangup")

        assert hung_up.status_code == 200
        stream.wait_for("disconnect", created.sid)
        assert world.carrier.wait_idle(10)
        assert stream.names(created.sid) == ["incoming", "accept", "disconnect"]
        world.wait_for(lambda: stream.keepalives > 0)  # `: keepalive` comments
    assert statuses(world, created.sid) == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert leg_status(world, created.sid) == "completed"
    leg = world.carrier.calls[created.sid]
    assert leg.transcript[-1].detail == "hotliner hung up"
    assert world.recorded.bad_signatures == []
    assert world.carrier.errors == []


def test_a_person_talks_until_they_hang_up_and_no_robot_posts_an_outcome(
    world: World,
) -> None:
    # alice's robot talks 60 s (0.6 s here) and posts an outcome; the person
    # who took her line talks as long as they like and posts nothing.
    world.carrier.add_hotliner(
        HotlinerProfile(
            "alice",
            "client:alice",
            answer_after_seconds=1.0,
            talk_seconds=60.0,
            console=AgentConsoleClient(world.app_url),
        )
    )
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=6000)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))

    with Softphone(world.carrier, "alice") as phone:
        agent = call_alice(world, "/voice/join?room=room-1&anchor=1")
        phone.accept(phone.wait_for("incoming", agent.sid).data["CallSid"])
        phone.wait_for("accept", agent.sid)
        world.wait_for(lambda: world.recorded.forms("/voice/join"))
        world.client.calls(caller.sid).update(
            url=world.url("/voice/join?room=room-1&anchor=0")
        )
        leg = world.carrier.calls[agent.sid]
        world.wait_for(lambda: leg.connected_at is not None)

        time.sleep(1.0)  # 100 simulated seconds: longer than the robot's talk

        assert leg.status == "in-progress"
        assert caller.status == "in-progress"
        phone.hang_up(agent.sid)
        phone.wait_for("disconnect", agent.sid)

    assert caller.ended.wait(5)
    assert world.carrier.wait_idle(10)
    assert leg.transcript[-1].detail == "hotliner hung up"
    # The anchor left: the conference ended and the caller's Dial went on.
    dial_done = {f["CallSid"]: f for f in world.recorded.forms("/voice/dial-done")}
    assert dial_done[caller.sid]["DialCallStatus"] == "completed"
    assert world.recorded.outcomes == []
    assert world.carrier.errors == []


@pytest.mark.parametrize("action", ["reject", "hangup"])
def test_rejecting_a_ringing_leg_ends_it_busy(world: World, action: str) -> None:
    with open_stream(world) as stream:
        created = call_alice(world, "/voice/dial-done")
        stream.wait_for("incoming", created.sid)

        rejected = post(world, created.sid, action)

        assert rejected.status_code == 200
        stream.wait_for("cancel", created.sid)
        assert world.carrier.wait_idle(10)
        assert post(world, created.sid, action).status_code == 409
    assert leg_status(world, created.sid) == "busy"
    assert statuses(world, created.sid)[-1] == "busy"
    assert world.recorded.forms("/voice/dial-done") == []
    assert world.carrier.errors == []


def test_an_unanswered_leg_rings_out_as_no_answer_and_the_ringing_stops(
    world: World,
) -> None:
    with open_stream(world) as stream:
        created = call_alice(world, "/voice/dial-done", timeout=5)

        stream.wait_for("incoming", created.sid)
        stream.wait_for("cancel", created.sid)

        assert world.carrier.wait_idle(10)
        assert post(world, created.sid, "accept").status_code == 409
    assert leg_status(world, created.sid) == "no-answer"
    last = world.recorded.forms("/voice/agent-status")[-1]
    assert last["CallStatus"] == "no-answer"
    assert last["CallDuration"] == "0"


def test_the_app_ending_the_ringing_leg_stops_the_ringing(world: World) -> None:
    with open_stream(world) as stream:
        created = call_alice(world, "/voice/dial-done")
        stream.wait_for("incoming", created.sid)

        world.client.calls(created.sid).update(status="canceled")

        stream.wait_for("cancel", created.sid)
        assert world.carrier.wait_idle(10)
    assert leg_status(world, created.sid) == "canceled"
    assert stream.names(created.sid) == ["incoming", "cancel"]


def test_a_reloaded_page_still_sees_the_ringing_call(world: World) -> None:
    with open_stream(world) as first:
        created = call_alice(world, "/voice/join?room=desk")
        first.wait_for("incoming", created.sid)

    with open_stream(world) as reloaded:
        reloaded.wait_for("incoming", created.sid)
        assert reloaded.events[:2] == [
            ("ready", {"identity": "alice"}),
            (
                "incoming",
                {"CallSid": created.sid, "From": HOTLINE, "To": "client:alice"},
            ),
        ]
        assert post(world, created.sid, "accept").status_code == 200
        reloaded.wait_for("accept", created.sid)
        assert post(world, created.sid, "hangup").status_code == 200
        reloaded.wait_for("disconnect", created.sid)
    assert world.carrier.wait_idle(10)
    assert leg_status(world, created.sid) == "completed"


def test_a_leg_of_another_hotliner_is_forbidden(world: World) -> None:
    with open_stream(world):
        created = call_alice(world, "/voice/dial-done")
        world.wait_for(lambda: world.carrier.calls[created.sid].softphone_rang)
        bruno = access_token("bruno")

        for action in ("accept", "reject", "hangup"):
            assert post(world, created.sid, action, token=bruno).status_code == 403
        forbidden = post(
            world, created.sid, "digits", token=bruno, body={"digits": "1"}
        )
        unknown = post(world, "CA" + "0" * 32, "accept")

        assert forbidden.status_code == 403
        assert unknown.status_code == 404
        assert "error" in unknown.json()
        assert leg_status(world, created.sid) == "ringing"
        assert post(world, created.sid, "reject").status_code == 200
    assert world.carrier.wait_idle(10)


# Digits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"digits": "12a"}, {"digits": ""}, {"digits": "1" * 21}, {"keys": "1"}]
)
def test_digits_other_than_keypad_keys_are_refused(world: World, body: Any) -> None:
    with open_stream(world) as stream:
        created = call_alice(world, "/voice/join?room=desk")
        stream.wait_for("incoming", created.sid)
        assert post(world, created.sid, "accept").status_code == 200
        stream.wait_for("accept", created.sid)

        refused = post(world, created.sid, "digits", body=body)

        assert refused.status_code == 400
        assert "digits" in refused.json()["error"]
        assert post(world, created.sid, "hangup").status_code == 200
    assert world.carrier.wait_idle(10)
    kinds = [entry.kind for entry in world.carrier.calls[created.sid].transcript]
    assert "digits" not in kinds


def test_digits_on_a_ringing_leg_are_refused(world: World) -> None:
    with open_stream(world) as stream:
        created = call_alice(world, "/voice/dial-done")
        stream.wait_for("incoming", created.sid)

        early = post(world, created.sid, "digits", body={"digits": "1"})

        assert early.status_code == 409
        assert post(world, created.sid, "reject").status_code == 200
    assert world.carrier.wait_idle(10)


def test_digits_answer_a_gather_on_the_hotliners_leg() -> None:
    # Slow enough for a Gather to wait for the keys (a 5 s timeout lasts 1 s).
    with softphone_world(0.2) as world, open_stream(world) as stream:
        # The app asks its hotliner to press a key before the call is put through.
        created = call_alice(world, "/voice/incoming")
        stream.wait_for("incoming", created.sid)
        assert post(world, created.sid, "accept").status_code == 200
        leg = world.carrier.calls[created.sid]
        world.wait_for(lambda: leg.inbox is not None and leg.inbox.listening)

        pressed = post(world, created.sid, "digits", body={"digits": "2"})

        assert pressed.status_code == 200
        assert pressed.json() == {"CallSid": created.sid, "digits": "2", "heard": True}
        stream.wait_for("disconnect", created.sid)
        assert world.carrier.wait_idle(10)
        (menu,) = world.recorded.forms("/voice/menu")
        assert menu["CallSid"] == created.sid
        assert menu["Digits"] == "2"
        story = [(e.kind, e.detail) for e in leg.transcript]
        assert ("digits", "2") in story
        assert story[-2:] == [("say", "Au revoir."), ("hangup", "<Hangup>")]
        assert world.carrier.errors == []


# CORS ------------------------------------------------------------------------------


def test_the_console_origin_may_call_the_api_and_others_may_not(world: World) -> None:
    url = world.carrier.api_base_url + "/softphone/api/calls/CA" + "0" * 32 + "/accept"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }

    allowed = requests.options(url, headers={"Origin": CONSOLE, **preflight}, timeout=5)
    other = requests.options(
        url, headers={"Origin": "http://evil.test", **preflight}, timeout=5
    )
    answer = post_from(world, url, CONSOLE)
    refused = post_from(world, url, "http://evil.test")

    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert allowed.headers["Access-Control-Allow-Headers"] == (
        "Authorization, Content-Type"
    )
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert "Origin" in allowed.headers["Vary"]
    assert answer.status_code == 404
    assert answer.headers["Access-Control-Allow-Origin"] == CONSOLE
    for response in (other, refused):
        assert not any(
            h.lower().startswith("access-control-") for h in response.headers
        )


def test_the_events_stream_answers_the_console_origin(world: World) -> None:
    stream = EventStream(world, access_token(), headers={"Origin": CONSOLE})
    try:
        assert stream.response.headers["Access-Control-Allow-Origin"] == CONSOLE
        stream.wait_for("ready")
    finally:
        stream.close()


def post_from(world: World, url: str, origin: str) -> requests.Response:
    return requests.post(
        url,
        headers={"Origin": origin, "Authorization": f"Bearer {access_token()}"},
        json={},
        timeout=5,
    )


# The simulated hotliner steps aside and comes back -------------------------------


def test_the_simulated_hotliner_comes_back_after_the_last_page_closed(
    world: World,
) -> None:
    robot = HotlinerProfile("alice", "client:alice", answer_after_seconds=1.0)
    world.carrier.add_hotliner(robot)
    board = world.carrier.board

    with open_stream(world) as stream:
        stream.wait_for("ready")
        assert board.hotliners["client:alice"].human
        with open_stream(world) as second_tab:
            second_tab.wait_for("ready")
        time.sleep(2 * GRACE)  # one tab closed, one open: still the person
        assert board.hotliners["client:alice"].human

    world.wait_for(lambda: board.hotliners["client:alice"] is robot, timeout=5)
    assert board.softphones == {}
    # The robot answers again, after its own delay and with no softphone.
    created = call_alice(world, "/voice/dial-done")
    assert world.carrier.wait_idle(10)
    assert statuses(world, created.sid)[-1] == "completed"
    assert world.recorded.forms("/voice/dial-done")
    assert not world.carrier.calls[created.sid].softphone_rang


def test_a_page_reload_keeps_the_line_with_the_person(world: World) -> None:
    robot = HotlinerProfile("alice", "client:alice")
    world.carrier.add_hotliner(robot)
    board = world.carrier.board
    with open_stream(world) as before:
        before.wait_for("ready")
    # The carrier noticed the page went: the grace period runs.
    world.wait_for(lambda: "client:alice" not in board.softphones)

    with open_stream(world) as after:
        after.wait_for("ready")
        time.sleep(2 * GRACE)  # the first page's departure timer has fired

        assert board.hotliners["client:alice"].human

    world.wait_for(lambda: board.hotliners["client:alice"] is robot, timeout=5)


def test_a_closed_page_hangs_up_its_answered_call(world: World) -> None:
    with open_stream(world) as stream:
        created = call_alice(world, "/voice/join?room=desk")
        stream.wait_for("incoming", created.sid)
        assert post(world, created.sid, "accept").status_code == 200
        stream.wait_for("accept", created.sid)

    assert world.carrier.wait_idle(10)
    assert leg_status(world, created.sid) == "completed"
    assert world.carrier.calls[created.sid].transcript[-1].detail == "softphone closed"
    # No simulated hotliner was registered: the endpoint is unknown again.
    assert "client:alice" not in world.carrier.board.hotliners


def test_a_hotliner_added_while_the_person_answers_waits_for_the_line(
    world: World,
) -> None:
    board = world.carrier.board
    with Softphone(world.carrier, "alice") as phone:
        phone.wait_for("ready")
        robot = HotlinerProfile("alice", "client:alice")
        world.carrier.add_hotliner(robot)

        assert board.hotliners["client:alice"].human

    world.wait_for(lambda: board.hotliners.get("client:alice") is robot, timeout=5)
