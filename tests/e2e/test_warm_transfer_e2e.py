"""Warm transfers through the whole hotline, the simulator playing Twilio.

Nina (email) talks with a caller and asks for a specialist of the printer
queue: the caller hears hold music, Omar's phone rings with the context and
Nina's notes, Omar answers and hears Nina, Nina leaves; Omar and the caller
talk. In the other test Omar does not answer: the caller is back with Nina,
off hold. The call log has each step, and each hotliner's part.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import wait_for

from calllog.models import Call, CallEvent, CallSegment
from core.keys import Keys
from core.text import as_text
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: nina
    name: "Nina Messagerie"
    endpoint: "client:nina"
    skills: {email: 3}
    shifts: ["daily 00:00-00:00"]
  - id: omar
    name: "Omar Imprimantes"
    endpoint: "client:omar"
    skills: {printer: 3}
    shifts: ["daily 00:00-00:00"]
"""

ROUTING = """routing:
  ring_seconds: 10
  wrapup_seconds: 30
  max_missed_offers: 3
"""

NOTES = "Outlook OK ; l'imprimante du 2e ne sort plus rien"
TRANSFER_HOLD_FR = (
    "Je vous mets en relation avec un spécialiste. Merci de patienter quelques "
    "instants."
)


def start(
    running_hotline: Callable[..., object],
    omar_answers: bool,
    routing: str = ROUTING,
) -> tuple[object, object, dict[str, str], object]:
    hotline = running_hotline(HOTLINERS, routing, 0.1)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    token = hotline.token  # type: ignore[attr-defined]
    console = AgentConsoleClient(url, token=token)
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=100_000.0,  # until the test hangs her up
            outcome="escalated",
            console=console,
        )
    )
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="omar",
            endpoint="client:omar",
            answer_after_seconds=1.0 if omar_answers else 100_000.0,
            answers=omar_answers,
            talk_seconds=30.0,
            outcome="resolved",
            console=console,
        )
    )
    caller = carrier.place_call(
        CallerScript(
            from_number="+33620000043",
            inputs=[Digits("4")],  # the email queue
            patience_seconds=3000,
        )
    )

    def talking() -> bool:
        with carrier.board.lock:
            call = carrier.calls.get(caller.sid)
            return call is not None and any(
                e.kind == "connected" for e in call.transcript
            )

    wait_for(talking, 30.0, "the caller talking with Nina")
    return hotline, caller, {"Authorization": f"Bearer {token}"}, carrier


def live_call(redis_client: redis.Redis, sid: str) -> dict[str, str]:
    raw = redis_client.hgetall(Keys().call(sid))
    return {as_text(k): as_text(v) for k, v in raw.items()}  # type: ignore[union-attr]


def logged(
    database_url: str, sid: str
) -> tuple[Call, list[CallEvent], list[CallSegment]]:
    engine = create_engine(database_url)

    def done() -> Call | None:
        with Session(engine) as session:
            row = session.get(Call, sid)
            if row is None or row.status != "completed" or row.outcome is None:
                return None
            session.expunge(row)
            return row

    row = wait_for(done, 30.0, "the call logged with its outcome")
    with Session(engine) as session:
        events = list(
            session.scalars(
                select(CallEvent)
                .where(CallEvent.call_sid == sid)
                .order_by(CallEvent.id)
            ).all()
        )
        segments = list(
            session.scalars(
                select(CallSegment)
                .where(CallSegment.call_sid == sid)
                .order_by(CallSegment.id)
            ).all()
        )
    engine.dispose()
    assert isinstance(row, Call)
    return row, events, segments


def test_a_warm_transfer_briefs_omar_then_leaves_him_the_caller(
    running_hotline: Callable[..., object], redis_client: redis.Redis
) -> None:
    hotline, caller, headers, carrier = start(running_hotline, omar_answers=True)
    url = hotline.url  # type: ignore[attr-defined]
    sid = caller.sid  # type: ignore[attr-defined]
    asked = requests.post(
        f"{url}/api/calls/{sid}/transfer",
        json={"queue": "printer", "mode": "warm", "notes": NOTES},
        headers=headers,
        timeout=5,
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["specialist"] == "omar"
    # Omar's phone rings with Nina's notes on his pop-up (the call's context).
    call = live_call(redis_client, sid)
    assert (call["consult_agent"], call["consult_notes"]) == ("omar", NOTES)
    wait_for(
        lambda: live_call(redis_client, sid).get("consult_state") == "joined",
        20.0,
        "Omar answering",
    )

    def briefing() -> bool:
        """Omar in the caller's conference at the carrier (a moment after the
        app let him in), with Nina, the caller on hold."""
        with carrier.board.lock:  # type: ignore[attr-defined]
            conference = carrier.board.live_conferences[f"hotline-{sid}"]  # type: ignore[attr-defined]
            legs = {p.call.to for p in conference.participants.values()}
            return (
                bool(conference.participants[sid].hold)
                and {
                    "client:nina",
                    "client:omar",
                }
                <= legs
            )

    wait_for(briefing, 10.0, "Omar, Nina and the caller on hold in the conference")
    done = requests.post(
        f"{url}/api/calls/{sid}/transfer/complete", headers=headers, timeout=5
    )
    assert done.status_code == 200, done.text
    assert carrier.wait_idle(timeout=90.0), [  # type: ignore[attr-defined]
        (c.sid, c.to, c.status)
        for c in carrier.calls.values()  # type: ignore[attr-defined]
    ]
    assert carrier.errors == []  # type: ignore[attr-defined]
    transcript = carrier.calls[sid].transcript  # type: ignore[attr-defined]
    holds = [e.detail for e in transcript if e.kind == "hold"]
    assert holds == ["hold music", "back from hold"]
    # Told why, in French, from the HoldUrl document, between the two.
    kinds = [(e.kind, e.detail) for e in transcript]
    told = kinds.index(("say", TRANSFER_HOLD_FR))
    assert kinds.index(("hold", "hold music")) < told
    assert told < kinds.index(("hold", "back from hold"))

    row, events, segments = logged(hotline.database_url, sid)  # type: ignore[attr-defined]
    assert (row.queue, row.agent_id, row.outcome, row.transfers) == (
        "printer",
        "omar",
        "resolved",
        1,
    )
    kinds = [e.type for e in events]
    assert kinds.index("consult_offered") < kinds.index("consult_joined")
    assert kinds.index("consult_joined") < kinds.index("transferred")
    moved = next(e for e in events if e.type == "transferred")
    assert (moved.agent_id, moved.data["kind"], moved.data["to"]) == (
        "nina",
        "warm",
        "omar",
    )
    assert moved.data["notes"] == NOTES
    # Nina's part (with the briefing on hold), then Omar's to the hang-up.
    assert [(s.agent_id, s.end_reason) for s in segments] == [
        ("nina", "transferred"),
        ("omar", "completed"),
    ]
    assert segments[0].hold_seconds is not None
    assert segments[0].hold_seconds > 0
    assert all(s.talk_seconds is not None and s.talk_seconds > 0 for s in segments)


@pytest.mark.parametrize("how", ["no-answer", "declined"])
def test_a_specialist_who_does_not_take_it_leaves_the_caller_with_nina(
    running_hotline: Callable[..., object], redis_client: redis.Redis, how: str
) -> None:
    # Declined: his phone rings long enough (in simulated time) to decline.
    routing = ROUTING if how == "no-answer" else ROUTING.replace("10", "120", 1)
    hotline, caller, headers, carrier = start(
        running_hotline, omar_answers=False, routing=routing
    )
    url = hotline.url  # type: ignore[attr-defined]
    sid = caller.sid  # type: ignore[attr-defined]
    asked = requests.post(
        f"{url}/api/calls/{sid}/transfer",
        json={"agent": "omar", "notes": NOTES},
        headers=headers,
        timeout=5,
    )
    assert asked.status_code == 202, asked.text
    if how == "declined":
        offer = live_call(redis_client, sid)["consult"]
        declined = requests.post(
            f"{url}/api/offers/{offer}/decline", headers=headers, timeout=5
        )
        assert declined.status_code == 200, declined.text
    wait_for(
        lambda: "consult" not in live_call(redis_client, sid),
        30.0,
        "the transfer off",
    )
    call = live_call(redis_client, sid)
    assert (call["state"], call["agent"], call["hold"]) == ("talking", "nina", "0")

    def back_with_nina() -> str | None:
        """Nina's leg, once the caller is off hold at the carrier and her
        leaving ends the call again (just after the decision in Redis)."""
        with carrier.board.lock:  # type: ignore[attr-defined]
            conference = carrier.board.live_conferences[f"hotline-{sid}"]  # type: ignore[attr-defined]
            nina_leg = next(
                p
                for p in conference.participants.values()
                if p.call.to == "client:nina"
            )
            if conference.participants[sid].hold or not nina_leg.end_conference_on_exit:
                return None
            return str(nina_leg.call.sid)

    nina_sid = wait_for(back_with_nina, 10.0, "the caller back with Nina")
    carrier.hang_up(nina_sid, "Nina solved it herself")  # type: ignore[attr-defined]
    assert carrier.wait_idle(timeout=60.0)  # type: ignore[attr-defined]
    assert carrier.errors == []  # type: ignore[attr-defined]
    row, events, segments = logged(hotline.database_url, sid)  # type: ignore[attr-defined]
    assert (row.agent_id, row.queue, row.transfers or 0) == ("nina", "email", 0)
    ended = next(e for e in events if e.type == "consult_ended")
    assert (ended.agent_id, ended.data["reason"]) == ("nina", how)
    assert ended.data["specialist"] == "omar"
    # Omar's leg stopped ringing, never answered.
    omar_legs = [c for c in carrier.calls.values() if c.to == "client:omar"]  # type: ignore[attr-defined]
    assert [c.status for c in omar_legs] == [
        "no-answer" if how == "no-answer" else "canceled"
    ]
    assert [(s.agent_id, s.end_reason) for s in segments] == [("nina", "completed")]


def test_an_external_transfer_leaves_the_caller_with_the_on_call_engineer(
    running_hotline: Callable[..., object], redis_client: redis.Redis
) -> None:
    engineer = "+33612000001"
    hotline = running_hotline(
        HOTLINERS
        + f"""on_call:
  - id: astreinte
    name: "Astreinte réseau"
    number: "{engineer}"
""",
        ROUTING,
        0.1,
    )
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    token = hotline.token  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token}"}
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=100_000.0,
            outcome="escalated",
            console=AgentConsoleClient(url, token=token),
        )
    )
    # The engineer's mobile: no console, they talk a while and hang up.
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="astreinte",
            endpoint=engineer,
            answer_after_seconds=2.0,
            talk_seconds=40.0,
        )
    )
    caller = carrier.place_call(
        CallerScript(from_number="+33620000044", inputs=[Digits("4")])
    )

    def talking() -> bool:
        with carrier.board.lock:
            call = carrier.calls.get(caller.sid)
            return call is not None and any(
                e.kind == "connected" for e in call.transcript
            )

    wait_for(talking, 30.0, "the caller talking with Nina")
    asked = requests.post(
        f"{url}/api/calls/{caller.sid}/transfer",
        json={"on_call": "astreinte", "notes": NOTES},
        headers=headers,
        timeout=5,
    )
    assert asked.status_code == 202, asked.text
    wait_for(
        lambda: live_call(redis_client, caller.sid).get("consult_state") == "joined",
        20.0,
        "the engineer answering",
    )
    done = requests.post(
        f"{url}/api/calls/{caller.sid}/transfer/complete", headers=headers, timeout=5
    )
    assert done.status_code == 200, done.text
    assert carrier.wait_idle(timeout=90.0)
    assert carrier.errors == []
    heard = [e.detail for e in carrier.calls[caller.sid].transcript if e.kind == "hold"]
    assert heard == ["hold music", "back from hold"]
    outside = next(c for c in carrier.calls.values() if c.to == engineer)
    assert outside.duration is not None
    assert outside.duration >= 30  # they talked with the caller after Nina left
    row, events, segments = logged(hotline.database_url, caller.sid)  # type: ignore[attr-defined]
    assert (row.agent_id, row.outcome, row.transfers) == ("nina", "escalated", 1)
    moved = next(e for e in events if e.type == "transferred")
    assert (moved.data["kind"], moved.data["to"]) == ("external", "external:astreinte")
    assert [(s.agent_id, s.end_reason) for s in segments] == [
        ("nina", "transferred"),
        ("external:astreinte", "completed"),
    ]
