"""A supervisor listens to a live call, whispers to the hotliner, barges in.

The whole hotline with the simulator playing Twilio: Nina talks with a
caller of the email queue; the supervisor's phone (`client:e2e-supervisor`,
answered by the simulator) is called into the call's conference. The
simulator records who heard whom at each change: listening, the supervisor
is heard by nobody and hears both; whispering, Nina alone hears them (the
coach leg); barging, everyone hears everyone. Every control is in the audit
log, and what cannot be is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import requests
from e2e.test_warm_transfer_e2e import live_call
from prometheus_client.parser import text_string_to_metric_families
from support import wait_for

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
"""
ROUTING = """routing:
  ring_seconds: 10
  wrapup_seconds: 0
  max_missed_offers: 3
"""
SUPERVISOR = "client:e2e-supervisor"


def test_a_supervisor_listens_then_whispers_then_barges_in(
    running_hotline: Callable[..., object], redis_client: redis.Redis
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.1)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {hotline.token}"}  # type: ignore[attr-defined]
    console = AgentConsoleClient(url, token=hotline.token)  # type: ignore[attr-defined]
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=100_000.0,  # until the test hangs up
            console=console,
        )
    )
    # The supervisor's browser phone, answered by the simulator.
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="e2e-supervisor",
            endpoint=SUPERVISOR,
            answer_after_seconds=0.5,
            talk_seconds=100_000.0,
        )
    )
    caller = carrier.place_call(
        CallerScript(
            from_number="+33620000077", inputs=[Digits("4")], patience_seconds=3000
        )
    )

    def listen(mode: str) -> requests.Response:
        return requests.post(
            f"{url}/api/calls/{caller.sid}/listen",
            json={"mode": mode},
            headers=headers,
            timeout=5,
        )

    # Before the call is answered there is nothing to listen to.
    early = listen("listen")
    assert early.status_code == 409, early.text
    assert early.json()["why"] == "not_talking"
    wait_for(
        lambda: live_call(redis_client, caller.sid).get("state") == "talking",
        30.0,
        "the caller talking with Nina",
    )
    nina_leg = live_call(redis_client, caller.sid)["leg"]
    conference = f"hotline-{caller.sid}"
    assert listen("eavesdrop").status_code == 400

    # Listen: the supervisor hears both sides, nobody hears them.
    joined = listen("listen")
    assert joined.status_code == 200, joined.text
    sup_leg = joined.json()["leg"]

    def heard(expected: dict[str, tuple[str, ...]]) -> bool:
        return any(
            all(step.get(k) == v for k, v in expected.items())
            for step in carrier.audio_of(conference)
        )

    wait_for(
        lambda: heard(
            {
                sup_leg: (),
                caller.sid: tuple(sorted((nina_leg, sup_leg))),
                nina_leg: tuple(sorted((caller.sid, sup_leg))),
            }
        ),
        15.0,
        "the supervisor in the conference, muted",
    )

    # Whisper: Nina alone hears the supervisor (the coach leg).
    whisper = listen("whisper")
    assert whisper.status_code == 200, whisper.text
    assert whisper.json()["leg"] == sup_leg  # the same participant, updated
    wait_for(
        lambda: heard({sup_leg: (nina_leg,)}), 10.0, "the supervisor coaching Nina"
    )
    with carrier.board.lock:
        coach = next(
            p
            for c in carrier.board.conferences.values()
            if c.name == conference
            for p in c.participants.values()
            if p.call.sid == sup_leg
        )
        assert (coach.coaching, coach.call_sid_to_coach, coach.muted) == (
            True,
            nina_leg,
            False,
        )

    # Barge: everyone hears the supervisor.
    assert listen("barge").status_code == 200
    wait_for(
        lambda: heard({sup_leg: tuple(sorted((caller.sid, nina_leg)))}),
        10.0,
        "the supervisor heard by all",
    )
    # One supervisor at a time; leaving hangs their leg up.
    left = requests.post(
        f"{url}/api/calls/{caller.sid}/listen/end", headers=headers, timeout=5
    )
    assert left.status_code == 200, left.text
    wait_for(
        lambda: "listen_leg" not in live_call(redis_client, caller.sid),
        5.0,
        "the listener forgotten",
    )
    wait_for(
        lambda: sup_leg not in (carrier.audio_of(conference) or [{}])[-1],
        10.0,
        "the supervisor's leg out of the conference",
    )
    again = requests.post(
        f"{url}/api/calls/{caller.sid}/listen/end", headers=headers, timeout=5
    )
    assert again.status_code == 409
    # The caller and Nina were never cut off.
    assert live_call(redis_client, caller.sid)["state"] == "talking"

    audit = requests.get(f"{url}/api/audit", headers=headers, timeout=5).json()
    used = [
        (e["action"], e["target"])
        for e in audit["entries"]
        if e["target"] == caller.sid
    ]
    assert used == [
        ("call_listen_end", caller.sid),
        ("call_barge", caller.sid),
        ("call_whisper", caller.sid),
        ("call_listen", caller.sid),
    ], audit
    carrier.hang_up(caller.sid)

    # /metrics adds up the two gunicorn workers' figures (multiprocess mode):
    # every voice webhook the simulator made is counted once.
    assert carrier.wait_idle(timeout=30.0)

    def counted() -> tuple[float, int]:
        text = requests.get(f"{url}/metrics", headers=headers, timeout=5).text
        total = sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "hotline_webhook_seconds_count"
        )
        with carrier.board.lock:
            made = sum(
                1 for path, _ in carrier.webhook_times if path.startswith("/voice/")
            )
        return total, made

    wait_for(
        lambda: (c := counted())[0] == c[1], 10.0, f"webhooks counted: {counted()}"
    )
