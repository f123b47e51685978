"""The carrier simulator plays Twilio's part against a small app over real HTTP.

The app below is written like the hotline's voice views (signed webhooks,
TwiML from `VoiceResponse`) and records what it receives, so each test reads
as a call: what the caller did, what the app was told, what Twilio reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, abort, jsonify, request
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse
from werkzeug.serving import make_server

from core.twilio_client import BaseUrlHttpClient
from simulator.carrier import Carrier, CarrierConfig
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile, Silence, Speech

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "simulator0auth0token0000000000ab"
HOTLINE = "+33180000000"
CALLER = "+33612345678"
SCALE = 0.01

pytestmark = pytest.mark.timeout(60)


@dataclass
class Recorded:
    """Everything the test app was sent, by route."""

    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(
        default_factory=list
    )
    bad_signatures: list[str] = field(default_factory=list)
    agent_states: list[tuple[str, str]] = field(default_factory=list)
    agent_calls: dict[str, str] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    hold_variant: str = "say"
    voicemail_query: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forms(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [form for p, form, _ in self.requests if p == path]


def make_app(recorded: Recorded) -> Flask:
    app = Flask(__name__)
    validator = RequestValidator(AUTH_TOKEN)

    @app.before_request
    def check_signature() -> None:
        if not request.path.startswith("/voice/"):
            return
        form = request.form.to_dict()
        signature = request.headers.get("X-Twilio-Signature", "")
        params = form if request.method == "POST" else {}
        if not validator.validate(request.url, params, signature):
            recorded.bad_signatures.append(request.url)
            abort(403)
        form.update(request.args.to_dict())
        with recorded.lock:
            recorded.requests.append((request.path, form, dict(request.headers)))

    def twiml(response: VoiceResponse) -> tuple[str, int, dict[str, str]]:
        return str(response), 200, {"Content-Type": "text/xml"}

    @app.post("/voice/incoming")
    def incoming() -> Any:
        response = VoiceResponse()
        gather = Gather(
            input="dtmf speech", num_digits=1, action="/voice/menu", language="fr-FR"
        )
        gather.say("Tapez 1 pour un problème d'imprimante.", language="fr-FR")
        response.append(gather)
        response.say("Nous n'avons pas compris. Au revoir.", language="fr-FR")
        return twiml(response)

    @app.post("/voice/menu")
    def menu() -> Any:
        digits = request.form.get("Digits", "")
        speech = request.form.get("SpeechResult", "")
        if digits == "9":
            return "boom", 500
        if digits == "8":
            return "<Response><Dance/></Response>", 200, {"Content-Type": "text/xml"}
        response = VoiceResponse()
        if digits == "6":
            response.redirect("/voice/endless-menu")
            return twiml(response)
        if digits == "7":
            response.redirect("/voice/voicemail?" + recorded.voicemail_query)
            return twiml(response)
        if digits == "1" or "imprimante" in speech:
            response.enqueue(
                "printer", wait_url="/voice/hold", action="/voice/queue-done"
            )
            response.say("Merci d'avoir attendu.")
        else:
            response.say("Au revoir.")
            response.hangup()
        return twiml(response)

    @app.post("/voice/hold")
    def hold() -> Any:
        response = VoiceResponse()
        if recorded.hold_variant == "gather":
            gather = Gather(num_digits=1, action="/voice/hold-choice")
            gather.say("Tapez étoile pour quitter la file.")
            response.append(gather)
        else:
            response.say("Veuillez patienter.")
            response.pause(length=2)
        return twiml(response)

    @app.post("/voice/hold-choice")
    def hold_choice() -> Any:
        response = VoiceResponse()
        if request.form.get("Digits") == "*":
            response.leave()
        return twiml(response)

    @app.post("/voice/endless-menu")
    def endless_menu() -> Any:
        """A prompt that never ends: only a caller who barges in gets out."""
        response = VoiceResponse()
        gather = Gather(input="dtmf", num_digits=1, action="/voice/menu")
        gather.say("Tapez 1 pour une imprimante.", language="fr-FR", loop=0)
        response.append(gather)
        return twiml(response)

    @app.post("/voice/voicemail")
    def voicemail() -> Any:
        response = VoiceResponse()
        response.say("Laissez un message après le bip.", language="fr-FR")
        response.record(
            action="/voice/recorded",
            finish_on_key=request.args.get("keys", "#"),
            max_length=int(request.args.get("max", "30")),
            timeout=int(request.args.get("timeout", "5")),
            trim=request.args.get("trim", "trim-silence"),
            recording_status_callback="/voice/recording-status",
            recording_status_callback_event="in-progress completed absent",
        )
        response.say("Aucun message enregistré.", language="fr-FR")
        return twiml(response)

    @app.post("/voice/recorded")
    def recorded_message() -> Any:
        response = VoiceResponse()
        response.say("Message reçu, au revoir.", language="fr-FR")
        response.hangup()
        return twiml(response)

    @app.post("/voice/queue-done")
    def queue_done() -> Any:
        return twiml(VoiceResponse())

    @app.post("/voice/join")
    def join() -> Any:
        room = request.args["room"]
        anchor = request.args.get("anchor") == "1"
        response = VoiceResponse()
        dial = Dial(action="/voice/dial-done")
        dial.conference(
            room,
            start_conference_on_enter=True,
            end_conference_on_exit=anchor,
            status_callback="/voice/conference",
            status_callback_event="start end join leave",
        )
        response.append(dial)
        return twiml(response)

    @app.post("/voice/dial-alice")
    def dial_alice() -> Any:
        response = VoiceResponse()
        dial = Dial(action="/voice/dial-done", timeout=10)
        dial.client("alice")
        response.append(dial)
        return twiml(response)

    @app.post("/voice/dial-queue")
    def dial_queue() -> Any:
        response = VoiceResponse()
        dial = Dial(action="/voice/dial-done")
        dial.queue("printer")
        response.append(dial)
        return twiml(response)

    @app.post("/voice/dial-done")
    def dial_done() -> Any:
        response = VoiceResponse()
        response.say("Merci, au revoir.")
        return twiml(response)

    @app.post("/voice/status")
    @app.post("/voice/recording-status")
    @app.post("/voice/agent-status")
    @app.post("/voice/conference")
    def callbacks() -> Any:
        return "", 204

    @app.post("/api/agents/<agent_id>/state")
    def set_state(agent_id: str) -> Any:
        body = request.get_json()
        recorded.agent_states.append((agent_id, body["state"]))
        return jsonify({"id": agent_id, "state": body["state"]})

    @app.get("/api/agents/<agent_id>")
    def agent(agent_id: str) -> Any:
        return jsonify(
            {
                "id": agent_id,
                "state": "busy",
                "call_sid": recorded.agent_calls.get(agent_id),
            }
        )

    @app.post("/api/calls/<call_sid>/outcome")
    def outcome(call_sid: str) -> Any:
        recorded.outcomes.append({"call_sid": call_sid, **request.get_json()})
        return jsonify({"ok": True})

    return app


@dataclass
class World:
    app_url: str
    recorded: Recorded
    carrier: Carrier
    client: Client

    def url(self, path: str) -> str:
        return self.app_url + path

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.01)


@contextmanager
def running_world(scale: float, **carrier_options: Any) -> Iterator[World]:
    """The signature-checking test app and a carrier pointed at it
    (`carrier_options`: more `CarrierConfig` fields)."""
    recorded = Recorded()
    server = make_server("127.0.0.1", 0, make_app(recorded), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    app_url = f"http://127.0.0.1:{server.port}"
    carrier = Carrier(
        CarrierConfig(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            voice_url=app_url + "/voice/incoming",
            status_callback_url=app_url + "/voice/status",
            hotline_number=HOTLINE,
            time_scale=scale,
            **carrier_options,
        )
    )
    carrier.start(host="127.0.0.1", port=0)
    client = Client(
        ACCOUNT_SID, AUTH_TOKEN, http_client=BaseUrlHttpClient(carrier.api_base_url)
    )
    try:
        yield World(app_url, recorded, carrier, client)
    finally:
        carrier.stop()
        server.shutdown()
        server.server_close()
        thread.join(5)
        client.http_client.session and client.http_client.session.close()


@pytest.fixture
def world() -> Iterator[World]:
    with running_world(SCALE) as built:
        yield built


def kinds(handle: Any) -> list[str]:
    return [entry.kind for entry in handle.transcript]


# Webhooks and Gather -----------------------------------------------------------


def test_every_webhook_is_signed_and_carries_twilio_headers(world: World) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Digits("2")]))

    assert world.carrier.wait_idle(10)
    assert world.recorded.bad_signatures == []
    headers = [h for _, _, h in world.recorded.requests]
    assert len(headers) == 3  # incoming, menu, status callback
    assert all(h["User-Agent"] == "TwilioProxy/1.1" for h in headers)
    tokens = {h["I-Twilio-Idempotency-Token"] for h in headers}
    assert len(tokens) == 3
    (first,) = world.recorded.forms("/voice/incoming")
    assert first["CallStatus"] == "ringing"
    assert first["Direction"] == "inbound"
    assert first["From"] == first["Caller"] == CALLER
    assert first["To"] == first["Called"] == HOTLINE
    assert first["AccountSid"] == ACCOUNT_SID
    assert first["ApiVersion"] == "2010-04-01"
    assert first["CallSid"] == handle.sid
    assert handle.sid.startswith("CA")
    assert len(handle.sid) == 34
    assert world.carrier.errors == []


def test_pressed_digits_are_posted_to_the_gather_action(world: World) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Digits("2")]))

    assert handle.ended.wait(10)
    (menu,) = world.recorded.forms("/voice/menu")
    assert menu["Digits"] == "2"
    assert menu["CallStatus"] == "in-progress"
    assert kinds(handle) == ["gather", "say", "input", "say", "hangup"]
    assert handle.status == "completed"
    (status,) = world.recorded.forms("/voice/status")
    assert status["CallStatus"] == "completed"
    assert status["SequenceNumber"] == "0"
    assert int(status["CallDuration"]) >= 1
    assert "Timestamp" in status


def test_speech_is_posted_as_speech_result_with_its_confidence(world: World) -> None:
    world.carrier.place_call(
        CallerScript(
            CALLER, inputs=[Speech("mon imprimante", 0.81)], patience_seconds=1
        )
    )

    assert world.carrier.wait_idle(10)
    (menu,) = world.recorded.forms("/voice/menu")
    assert menu["SpeechResult"] == "mon imprimante"
    assert menu["Confidence"] == "0.81"
    assert "Digits" not in menu


def test_silence_times_the_gather_out_and_the_document_goes_on(world: World) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Silence()]))

    assert handle.ended.wait(10)
    assert world.recorded.forms("/voice/menu") == []
    assert handle.transcript[-2].detail == "Nous n'avons pas compris. Au revoir."
    assert handle.status == "completed"


# Queues ------------------------------------------------------------------------


def test_wait_url_loops_until_the_caller_loses_patience(world: World) -> None:
    handle = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=10)
    )

    assert world.carrier.wait_idle(10)
    holds = world.recorded.forms("/voice/hold")
    assert len(holds) >= 2
    assert holds[0]["QueuePosition"] == "1"
    assert holds[0]["CurrentQueueSize"] == "1"
    assert holds[0]["MaxQueueSize"] == "1000"
    assert holds[0]["QueueSid"].startswith("QU")
    (done,) = world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "hangup"
    assert 9 <= int(done["QueueTime"]) <= 13
    assert handle.status == "completed"
    assert handle.transcript[-1].detail == "caller gave up after 10 s"
    assert world.recorded.forms("/voice/status")[0]["CallStatus"] == "completed"
    assert world.carrier.errors == []


def test_leave_in_the_wait_url_continues_after_enqueue(world: World) -> None:
    world.recorded.hold_variant = "gather"
    handle = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], queue_inputs=[Digits("*")])
    )

    assert handle.ended.wait(10)
    (done,) = world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "leave"
    # The action answered empty TwiML: the call ends there, not after Enqueue.
    assert "Merci d'avoir attendu." not in [e.detail for e in handle.transcript]
    assert world.carrier.errors == []


def test_queue_member_update_takes_the_front_caller_out_of_the_queue(
    world: World,
) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Digits("1")]))
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))

    (queue,) = world.client.queues.list()
    assert queue.friendly_name == "printer"
    assert queue.current_size == 1
    (member,) = world.client.queues(queue.sid).members.list()
    assert member.call_sid == handle.sid
    assert member.position == 1
    world.client.queues(queue.sid).members("Front").update(
        url=world.url("/voice/dial-done"), method="POST"
    )

    assert handle.ended.wait(10)
    (done,) = world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "redirected"
    assert handle.transcript[-2].detail == "Merci, au revoir."
    assert world.client.queues(queue.sid).fetch().current_size == 0


# Hotliners ---------------------------------------------------------------------


def add_alice(world: World, **overrides: Any) -> HotlinerProfile:
    settings: dict[str, Any] = {
        "answer_after_seconds": 1.0,
        "talk_seconds": 3.0,
        "outcome": "resolved",
        "console": AgentConsoleClient(world.app_url),
    }
    profile = HotlinerProfile("alice", "client:alice", **(settings | overrides))
    world.carrier.add_hotliner(profile)
    return profile


def call_alice(world: World, path: str, timeout: int = 20) -> Any:
    return world.client.calls.create(
        to="client:alice",
        from_=HOTLINE,
        url=world.url(path),
        timeout=timeout,
        status_callback=world.url("/voice/agent-status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )


def test_adding_a_hotliner_with_a_console_makes_it_available(world: World) -> None:
    add_alice(world)

    assert world.recorded.agent_states == [("alice", "available")]


def test_rest_call_to_a_hotliner_rings_answers_and_reports_each_status(
    world: World,
) -> None:
    add_alice(world)

    created = call_alice(world, "/voice/dial-done")

    assert created.status == "queued"
    assert created.direction == "outbound-api"
    assert created.to == "client:alice"
    assert world.carrier.wait_idle(10)
    statuses = world.recorded.forms("/voice/agent-status")
    assert [s["CallStatus"] for s in statuses] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [s["SequenceNumber"] for s in statuses] == ["0", "1", "2", "3"]
    (answered,) = world.recorded.forms("/voice/dial-done")
    assert answered["Direction"] == "outbound-api"
    assert answered["CallStatus"] == "in-progress"
    fetched = world.client.calls(created.sid).fetch()
    assert fetched.status == "completed"
    assert fetched.end_time is not None
    # alice talked with nobody: no outcome to post.
    assert world.recorded.outcomes == []
    assert world.carrier.errors == []


@pytest.mark.parametrize(
    ("overrides", "status"),
    [({"answers": False}, "no-answer"), ({"busy": True}, "busy")],
)
def test_a_hotliner_who_does_not_pick_up_ends_the_call_unanswered(
    world: World, overrides: dict[str, Any], status: str
) -> None:
    add_alice(world, **overrides)

    created = call_alice(world, "/voice/dial-done", timeout=5)

    assert world.carrier.wait_idle(10)
    assert world.carrier.calls[created.sid].status == status
    assert world.recorded.forms("/voice/dial-done") == []
    last = world.recorded.forms("/voice/agent-status")[-1]
    assert last["CallStatus"] == status
    assert last["CallDuration"] == "0"


def test_answer_slower_than_the_ring_timeout_is_no_answer(world: World) -> None:
    add_alice(world, answer_after_seconds=30.0)

    created = call_alice(world, "/voice/dial-done", timeout=5)

    assert world.carrier.wait_idle(10)
    assert world.carrier.calls[created.sid].status == "no-answer"


def test_a_call_to_an_unknown_endpoint_fails_quietly(world: World) -> None:
    created = world.client.calls.create(
        to="client:nobody", from_=HOTLINE, url=world.url("/voice/join?room=r")
    )

    assert world.carrier.wait_idle(10)
    assert world.carrier.calls[created.sid].status == "failed"
    assert world.carrier.errors == []


def test_redirecting_a_queued_caller_bridges_it_with_the_hotliner(
    world: World,
) -> None:
    add_alice(world)
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))
    world.recorded.agent_calls["alice"] = caller.sid

    agent = call_alice(world, "/voice/join?room=room-42&anchor=1")
    # Alice is in the conference (its join callback came) before the caller is
    # sent there: her join request answered is not enough on a busy machine.
    world.wait_for(
        lambda: any(
            f.get("StatusCallbackEvent") == "participant-join"
            and f.get("CallSid") == agent.sid
            for f in world.recorded.forms("/voice/conference")
        )
    )
    world.client.calls(caller.sid).update(
        url=world.url("/voice/join?room=room-42&anchor=0"), method="POST"
    )

    assert world.carrier.wait_idle(10)
    assert world.carrier.errors == []
    (done,) = world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "redirected"
    # alice (endConferenceOnExit) hung up after talking: the caller's Dial ended.
    dial_done = world.recorded.forms("/voice/dial-done")
    by_call = {form["CallSid"]: form for form in dial_done}
    assert by_call[caller.sid]["DialCallStatus"] == "completed"
    assert int(by_call[caller.sid]["DialCallDuration"]) >= 2
    assert caller.transcript[-2].detail == "Merci, au revoir."
    assert caller.status == "completed"
    assert world.carrier.calls[agent.sid].transcript[-1].detail == "hotliner hung up"
    events = [
        (form["StatusCallbackEvent"], form.get("CallSid"))
        for form in world.recorded.forms("/voice/conference")
    ]
    assert events[:2] == [
        ("conference-start", None),
        ("participant-join", agent.sid),
    ]
    assert ("participant-join", caller.sid) in events
    assert events[-1] == ("conference-end", None)
    assert world.recorded.outcomes == [
        {
            "call_sid": caller.sid,
            "agent_id": "alice",
            "outcome": "resolved",
            "notes": "",
        }
    ]
    (conference,) = world.client.conferences.list(friendly_name="room-42")
    assert conference.status == "completed"


def talk_in_room(world: World, number: str, room: str) -> tuple[Any, Any]:
    """A caller waits, alice joins `room` as its anchor, the caller is brought in."""
    caller = world.carrier.place_call(
        CallerScript(number, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: any(e.kind == "enqueue" for e in caller.transcript))
    joined = len(world.recorded.forms("/voice/join"))
    agent = call_alice(world, f"/voice/join?room={room}&anchor=1")
    world.wait_for(lambda: len(world.recorded.forms("/voice/join")) > joined)
    world.client.calls(caller.sid).update(
        url=world.url(f"/voice/join?room={room}&anchor=0"), method="POST"
    )
    assert caller.ended.wait(10)
    return caller, world.carrier.calls[agent.sid]


def test_talk_time_gives_each_caller_a_handle_time_of_its_own(world: World) -> None:
    other = "+33698765432"
    asked: list[str] = []

    def talk_time(number: str) -> float:
        asked.append(number)
        return {CALLER: 60.0, other: 1.0}[number]  # 0.6 s and 0.01 s played

    add_alice(world, talk_seconds=3.0, talk_time=talk_time)

    long_caller, long_leg = talk_in_room(world, CALLER, "room-long")
    short_caller, short_leg = talk_in_room(world, other, "room-short")

    assert world.carrier.wait_idle(10)
    assert world.carrier.errors == []
    assert asked == [CALLER, other]
    for caller, leg in ((long_caller, long_leg), (short_caller, short_leg)):
        # Both legs met at one moment, noted by the switchboard.
        assert caller.connected_at is not None
        assert caller.connected_at == leg.connected_at
        assert leg.started_at <= leg.answered_at <= leg.connected_at
        assert leg.connected_at < leg.ended_at <= leg.outcome_posted_at
        assert [event for event, _, _ in leg.callbacks_sent] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        assert all(sent <= done for _, sent, done in leg.callbacks_sent)
    long_talk = long_leg.ended_at - long_leg.connected_at
    short_talk = short_leg.ended_at - short_leg.connected_at
    assert 0.6 <= long_talk < 1.5
    assert short_talk < 0.3
    # Transcript entries carry when they happened, in order.
    times = [entry.at for entry in long_caller.transcript]
    assert times == sorted(times)


def test_without_talk_time_every_call_lasts_talk_seconds(world: World) -> None:
    add_alice(world, talk_seconds=50.0)

    _, leg = talk_in_room(world, CALLER, "room-plain")

    assert world.carrier.wait_idle(10)
    assert 0.5 <= leg.ended_at - leg.connected_at < 1.4


def test_the_outcome_goes_on_the_caller_talked_with_even_if_the_app_moved_on(
    world: World,
) -> None:
    add_alice(world)
    # The app already offered alice her next call when she posts this outcome.
    world.recorded.agent_calls["alice"] = "CA" + "9" * 32

    caller, _ = talk_in_room(world, CALLER, "room-next")

    assert world.carrier.wait_idle(10)
    assert world.recorded.outcomes == [
        {
            "call_sid": caller.sid,
            "agent_id": "alice",
            "outcome": "resolved",
            "notes": "",
        }
    ]
    assert world.carrier.errors == []


def test_dialing_a_hotliner_bridges_the_two_legs_until_one_hangs_up(
    world: World,
) -> None:
    add_alice(world)
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))

    world.client.calls(caller.sid).update(url=world.url("/voice/dial-alice"))

    assert world.carrier.wait_idle(10)
    (dial_done,) = world.recorded.forms("/voice/dial-done")
    assert dial_done["DialCallStatus"] == "completed"
    child = world.carrier.calls[dial_done["DialCallSid"]]
    assert child.direction == "outbound-dial"
    assert child.parent_call_sid == caller.sid
    assert child.status == "completed"
    # The app did not say which call alice was on: the carrier knows the peer.
    assert world.recorded.outcomes[0]["call_sid"] == caller.sid
    assert world.carrier.errors == []


def test_a_hotliner_dialing_the_queue_is_bridged_with_the_front_caller(
    world: World,
) -> None:
    add_alice(world)
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))

    agent = call_alice(world, "/voice/dial-queue")

    assert world.carrier.wait_idle(10)
    (done,) = world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "bridged"
    assert caller.status == "completed"
    # alice hung up her own leg: her Dial has no one left to report to.
    assert world.carrier.calls[agent.sid].transcript[-1].detail == "hotliner hung up"
    assert world.recorded.outcomes[0]["call_sid"] == caller.sid
    assert world.carrier.errors == []


def test_participants_api_calls_the_hotliner_into_a_conference(world: World) -> None:
    # Talking long enough to be still there when muted on a loaded machine:
    # 3 simulated seconds are 30 ms here, and the update then found her gone.
    add_alice(world, outcomes=["escalated"], talk_seconds=300.0)
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))
    world.client.calls(caller.sid).update(
        url=world.url("/voice/join?room=room-7&anchor=1")
    )
    world.wait_for(lambda: world.client.conferences.list(friendly_name="room-7"))
    (conference,) = world.client.conferences.list(
        friendly_name="room-7", status="in-progress"
    )

    participant = world.client.conferences(conference.sid).participants.create(
        from_=HOTLINE, to="client:alice", label="hotliner", end_conference_on_exit=True
    )

    assert participant.call_sid.startswith("CA")
    assert participant.label == "hotliner"
    world.wait_for(
        lambda: len(world.client.conferences(conference.sid).participants.list()) == 2
    )
    world.client.conferences(conference.sid).participants(participant.call_sid).update(
        muted=True
    )
    assert world.carrier.wait_idle(30)
    assert world.recorded.outcomes[0]["outcome"] == "escalated"
    assert world.recorded.outcomes[0]["call_sid"] == caller.sid
    assert caller.status == "completed"
    assert world.carrier.errors == []


def test_kicking_a_participant_ends_its_dial(world: World) -> None:
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))
    world.client.calls(caller.sid).update(url=world.url("/voice/join?room=solo"))
    world.wait_for(lambda: world.client.conferences.list(friendly_name="solo"))
    (conference,) = world.client.conferences.list(friendly_name="solo")

    world.client.conferences(conference.sid).participants(caller.sid).delete()

    assert caller.ended.wait(10)
    (dial_done,) = world.recorded.forms("/voice/dial-done")
    assert dial_done["DialCallStatus"] == "completed"


def test_ending_a_call_through_the_api_hangs_it_up_at_once(world: World) -> None:
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], patience_seconds=600)
    )
    world.wait_for(lambda: world.recorded.forms("/voice/hold"))

    world.client.calls(caller.sid).update(status="completed")

    assert caller.ended.wait(5)
    assert caller.status == "completed"
    (done,) = world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "hangup"


def test_caller_hangs_up_after_the_given_time_wherever_it_is(world: World) -> None:
    caller = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")], hangup_after_seconds=5)
    )

    assert caller.ended.wait(5)
    assert caller.transcript[-1].detail == "caller hung up"


# Record (voicemail) ------------------------------------------------------------


def voicemail_call(world: World, query: str = "", **script: Any) -> Any:
    world.recorded.voicemail_query = query
    handle = world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("7")], **script)
    )
    assert handle.ended.wait(10)
    assert world.carrier.wait_idle(10)
    return handle


def test_a_voicemail_ended_with_the_finish_key_is_posted_with_its_recording(
    world: World,
) -> None:
    handle = voicemail_call(world, voicemail_seconds=12, voicemail_finish_key="#")

    (action,) = world.recorded.forms("/voice/recorded")
    sid = action["RecordingSid"]
    assert sid.startswith("RE")
    assert len(sid) == 34
    base = world.carrier.api_base_url
    assert action["RecordingUrl"] == (
        f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    )
    assert action["RecordingDuration"] == "12"
    assert action["Digits"] == "#"
    assert action["CallSid"] == handle.sid
    statuses = world.recorded.forms("/voice/recording-status")
    assert [s["RecordingStatus"] for s in statuses] == ["in-progress", "completed"]
    completed = statuses[1]
    assert completed["RecordingSid"] == sid
    assert completed["RecordingDuration"] == "12"
    assert completed["RecordingSource"] == "RecordVerb"
    assert completed["RecordingUrl"] == action["RecordingUrl"]
    # Twilio requests the action before the recording is processed.
    paths = [path for path, _, _ in world.recorded.requests]
    assert paths.index("/voice/recorded") < paths.index(
        "/voice/recording-status", paths.index("/voice/recording-status") + 1
    )
    assert [(e.kind, e.detail) for e in handle.transcript][4:] == [
        ("say", "Laissez un message après le bip."),
        ("record", "up to 30 s"),
        ("play", "beep"),
        ("input", "voicemail 12 s"),
        ("input", "digits #"),
        ("recorded", f"{sid} 12 s"),
        ("say", "Message reçu, au revoir."),
        ("hangup", "<Hangup>"),
    ]
    assert world.carrier.errors == []


def test_the_recordings_api_serves_the_resource_and_its_audio(world: World) -> None:
    voicemail_call(world, voicemail_seconds=4, voicemail_finish_key="#")
    (action,) = world.recorded.forms("/voice/recorded")
    sid = action["RecordingSid"]

    recording = world.client.recordings(sid).fetch()
    assert recording.duration == "4"
    assert recording.status == "completed"
    assert recording.call_sid == action["CallSid"]
    assert recording.source == "RecordVerb"
    assert [r.sid for r in world.client.recordings.list()] == [sid]
    assert [r.sid for r in world.client.calls(action["CallSid"]).recordings.list()] == [
        sid
    ]
    # Media is public, like Twilio's default: the app can link to it.
    wav = requests.get(action["RecordingUrl"] + ".wav", timeout=5)
    assert wav.status_code == 200
    assert wav.headers["Content-Type"] == "audio/x-wav"
    assert wav.content[:4] == b"RIFF"
    assert wav.content[8:12] == b"WAVE"
    assert len(wav.content) == 44 + 4 * 8000 * 2  # 4 s of 8 kHz 16-bit mono
    assert requests.get(action["RecordingUrl"], timeout=5).content == wav.content
    mp3 = requests.get(action["RecordingUrl"] + ".mp3", timeout=5)
    assert mp3.headers["Content-Type"] == "audio/mpeg"
    assert mp3.content[:2] == b"\xff\xfb"
    json_without_auth = requests.get(action["RecordingUrl"] + ".json", timeout=5)
    assert json_without_auth.status_code == 401

    assert world.client.recordings(sid).delete()
    with pytest.raises(TwilioRestException):
        world.client.recordings(sid).fetch()


def test_a_silent_caller_leaves_no_recording_and_the_document_goes_on(
    world: World,
) -> None:
    handle = voicemail_call(world, "timeout=3")

    assert world.recorded.forms("/voice/recorded") == []
    assert handle.transcript[-2].detail == "Aucun message enregistré."
    statuses = world.recorded.forms("/voice/recording-status")
    assert [s["RecordingStatus"] for s in statuses] == ["in-progress", "absent"]
    assert statuses[1]["ErrorCode"] == "16102"
    assert statuses[1]["RecordingDuration"] == "0"
    assert world.carrier.errors == []


def test_silence_after_the_message_ends_it_and_do_not_trim_keeps_the_silence(
    world: World,
) -> None:
    voicemail_call(world, "timeout=3&trim=do-not-trim", voicemail_seconds=10)

    (action,) = world.recorded.forms("/voice/recorded")
    assert 13 <= int(action["RecordingDuration"]) <= 16  # 10 s + 3 s of silence
    assert "Digits" not in action


def test_max_length_cuts_a_long_message(world: World) -> None:
    voicemail_call(world, "max=20", voicemail_seconds=100, voicemail_finish_key="#")

    (action,) = world.recorded.forms("/voice/recorded")
    assert action["RecordingDuration"] == "20"
    assert "Digits" not in action


def test_a_key_outside_finish_on_key_does_not_end_the_message(world: World) -> None:
    voicemail_call(
        world, "keys=*&timeout=2", voicemail_seconds=6, voicemail_finish_key="#"
    )

    (action,) = world.recorded.forms("/voice/recorded")
    assert action["RecordingDuration"] == "6"
    assert "Digits" not in action


#: The caller hangs up 30 simulated seconds in and must have reached the beep
#: by then: at SCALE that is 0.3 s of real time for two webhooks and the
#: prompts, which a loaded CI machine overran once (the hang-up came first).
HANGUP_SCALE = 0.05


def test_hanging_up_during_the_message_posts_it_with_digits_hangup() -> None:
    with running_world(HANGUP_SCALE) as world:
        handle = voicemail_call(world, voicemail_seconds=60, hangup_after_seconds=30)

        (action,) = world.recorded.forms("/voice/recorded")
        assert action["Digits"] == "hangup"
        # from the beep to the hang-up
        assert 5 <= int(action["RecordingDuration"]) < 30
        assert handle.transcript[-1].detail == "caller hung up"
        # The answer to a hung-up call's action is not played.
        assert "Message reçu, au revoir." not in [e.detail for e in handle.transcript]
        statuses = world.recorded.forms("/voice/recording-status")
        assert statuses[-1]["RecordingStatus"] == "completed"
        assert world.carrier.errors == []


# Errors ------------------------------------------------------------------------


def test_a_5xx_answer_is_an_application_error_for_the_caller(world: World) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Digits("9")]))

    assert handle.ended.wait(10)
    assert kinds(handle)[-1] == "error"
    assert handle.status == "completed"
    (error,) = world.carrier.errors
    assert "/voice/menu" in error
    assert "HTTP 500" in error


def test_twiml_twilio_would_reject_is_an_application_error(world: World) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Digits("8")]))

    assert handle.ended.wait(10)
    assert kinds(handle)[-1] == "error"
    (error,) = world.carrier.errors
    assert "<Dance> is not a TwiML voice verb" in error


def test_an_unreachable_voice_url_fails_the_call(world: World) -> None:
    carrier = Carrier(
        CarrierConfig(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            voice_url="http://127.0.0.1:9/voice/incoming",
            time_scale=SCALE,
        )
    )
    try:
        handle = carrier.place_call(CallerScript(CALLER))
        assert handle.ended.wait(10)
        assert handle.status == "failed"
        assert "connection failure" in carrier.errors[0]
    finally:
        carrier.stop()


# REST API ----------------------------------------------------------------------


def test_bad_credentials_get_twilio_401_shape(world: World) -> None:
    intruder = Client(
        ACCOUNT_SID, "wrong", http_client=BaseUrlHttpClient(world.carrier.api_base_url)
    )
    with pytest.raises(TwilioRestException) as raised:
        intruder.calls.create(to="client:a", from_=HOTLINE, url=world.url("/x"))
    assert raised.value.status == 401
    assert raised.value.code == 20003

    response = requests.get(
        f"{world.carrier.api_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        timeout=5,
    )
    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "more_info", "status"}


def test_unknown_call_gets_twilio_404_shape(world: World) -> None:
    with pytest.raises(TwilioRestException) as raised:
        world.client.calls("CA" + "0" * 32).fetch()
    assert raised.value.status == 404
    assert raised.value.code == 20404


def test_missing_parameters_get_twilio_400_codes(world: World) -> None:
    with pytest.raises(TwilioRestException) as raised:
        world.client.calls.create(to="client:alice", from_=HOTLINE)
    assert raised.value.status == 400
    assert raised.value.code == 21205


def test_redirecting_a_finished_call_is_refused(world: World) -> None:
    handle = world.carrier.place_call(CallerScript(CALLER, inputs=[Digits("2")]))
    assert handle.ended.wait(10)

    with pytest.raises(TwilioRestException) as raised:
        world.client.calls(handle.sid).update(url=world.url("/voice/incoming"))
    assert raised.value.code == 21220


def test_messages_are_recorded_and_answered_like_twilio(world: World) -> None:
    message = world.client.messages.create(to=CALLER, from_=HOTLINE, body="Ticket 42")

    assert message.sid.startswith("SM")
    assert message.status == "queued"
    assert world.carrier.messages == [
        {"to": CALLER, "from": HOTLINE, "body": "Ticket 42", "sid": message.sid}
    ]
