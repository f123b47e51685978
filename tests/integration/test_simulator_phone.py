"""The phone page's API: a person calls through the simulator, key by key.

The carrier plays an interactive caller whose inputs come from the page (here:
plain HTTP requests) against the same small app as the carrier tests, so each
test reads as someone trying the voice menu.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from test_simulator_carrier import (
    CALLER,
    HOTLINE,
    World,
    running_world,
)

from simulator.console import AgentConsoleClient
from simulator.phone import PhoneLines, place_interactive_call
from simulator.scripts import CallerScript, Digits, HotlinerProfile

# Slow enough for a test to answer a Gather over HTTP (a 5 s timeout lasts 1 s).
SCALE = 0.2

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def phone_world() -> Iterator[World]:
    with running_world(SCALE) as built:
        yield built


class Page:
    """What the page's JavaScript does, as HTTP requests."""

    def __init__(self, world: World) -> None:
        self.base = world.carrier.api_base_url + "/phone/api/calls"
        self.session = requests.Session()
        self.sid = ""
        self.events: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}

    def close(self) -> None:
        self.session.close()

    def call(self, from_number: str = CALLER) -> str:
        response = self.session.post(self.base, json={"from": from_number}, timeout=5)
        assert response.status_code == 201, response.text
        self.sid = response.json()["sid"]
        return self.sid

    def poll(self) -> dict[str, Any]:
        url = f"{self.base}/{self.sid}/events"
        response = self.session.get(url, params={"after": len(self.events)}, timeout=5)
        assert response.status_code == 200, response.text
        self.state = response.json()
        assert [e["n"] for e in self.state["events"]] == list(
            range(len(self.events), self.state["next"])
        )
        self.events += self.state["events"]
        return self.state

    def until(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> None:
        deadline = time.monotonic() + 10
        while not predicate(self.poll()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never saw {what}: {self.events}")
            time.sleep(0.02)

    def listening(self) -> None:
        self.until(lambda s: s["listening"] is not None, "a listening Gather")

    def press(self, keys: str) -> bool:
        response = self.session.post(
            f"{self.base}/{self.sid}/keys", json={"keys": keys}, timeout=5
        )
        assert response.status_code == 200, response.text
        heard: bool = response.json()["heard"]
        return heard

    def say(self, text: str) -> bool:
        response = self.session.post(
            f"{self.base}/{self.sid}/speech", json={"text": text}, timeout=5
        )
        assert response.status_code == 200, response.text
        heard: bool = response.json()["heard"]
        return heard

    def hang_up(self) -> bool:
        response = self.session.post(
            f"{self.base}/{self.sid}/hangup", json={}, timeout=5
        )
        assert response.status_code == 200, response.text
        ended: bool = response.json()["ended"]
        return ended

    def story(self) -> list[tuple[str, str]]:
        return [(e["kind"], e["detail"]) for e in self.events]


@pytest.fixture
def page(phone_world: World) -> Iterator[Page]:
    page = Page(phone_world)
    try:
        yield page
    finally:
        page.close()


def test_the_page_and_its_script_are_served_without_twilio_auth(
    phone_world: World,
) -> None:
    base = phone_world.carrier.api_base_url

    html = requests.get(f"{base}/phone", timeout=5)
    script = requests.get(f"{base}/phone/static/phone.js", timeout=5)

    assert html.status_code == 200
    assert "text/html" in html.headers["Content-Type"]
    assert "Appeler" in html.text
    assert HOTLINE in html.text
    assert "/phone/static/phone.js" in html.text
    assert script.status_code == 200
    assert "speechSynthesis" in script.text


def test_a_caller_reads_the_prompt_presses_a_key_and_waits_in_the_queue(
    phone_world: World, page: Page
) -> None:
    page.call()
    page.listening()
    assert page.state["listening"]["input"] == ["dtmf", "speech"]
    assert page.state["listening"]["language"] == "fr-FR"

    assert page.press("1") is True
    page.until(lambda s: s["queue"] is not None, "the queue")

    (menu,) = phone_world.recorded.forms("/voice/menu")
    assert menu["Digits"] == "1"
    assert menu["From"] == CALLER
    say = next(e for e in page.events if e["kind"] == "say")
    assert say["detail"] == "Tapez 1 pour un problème d'imprimante."
    assert say["language"] == "fr-FR"
    assert ("input", "digits 1") in page.story()
    assert ("enqueue", "printer") in page.story()
    assert page.state["queue"] == {"name": "printer", "position": 1, "size": 1}
    page.until(
        lambda s: any(e["kind"] == "say" and e["queue"] for e in s["events"]),
        "a position announcement",
    )
    announcement = [e for e in page.events if e["kind"] == "say" and e["queue"]][0]
    assert announcement == {
        "n": announcement["n"],
        "kind": "say",
        "detail": "Veuillez patienter.",
        "language": None,
        "queue": "printer",
    }
    # Nothing listens in the queue: a key is not heard.
    assert page.press("5") is False

    assert page.hang_up() is True
    page.until(lambda s: not s["live"], "the end of the call")
    assert page.state["status"] == "completed"
    assert page.story()[-1] == ("hangup", "caller hung up")
    (done,) = phone_world.recorded.forms("/voice/queue-done")
    assert done["QueueResult"] == "hangup"
    assert page.hang_up() is False
    assert phone_world.carrier.errors == []


def test_a_silent_caller_times_the_gather_out(phone_world: World, page: Page) -> None:
    page.call()

    page.until(lambda s: not s["live"], "the end of the call")

    assert page.story()[-3:] == [
        ("input", "silence"),
        ("say", "Nous n'avons pas compris. Au revoir."),
        ("hangup", "end of TwiML"),
    ]
    assert phone_world.recorded.forms("/voice/menu") == []


def test_a_typed_phrase_is_posted_as_speech_result(
    phone_world: World, page: Page
) -> None:
    page.call()
    page.listening()

    assert page.say("  mon   imprimante bourre ") is True
    page.until(lambda s: s["queue"] is not None, "the queue")

    (menu,) = phone_world.recorded.forms("/voice/menu")
    assert menu["SpeechResult"] == "mon imprimante bourre"
    assert menu["Language"] == "fr-FR"
    assert "Digits" not in menu
    assert ("input", "speech mon imprimante bourre") in page.story()
    page.hang_up()


def test_a_key_interrupts_a_prompt_that_would_never_end(
    phone_world: World, page: Page
) -> None:
    page.call()
    page.listening()
    page.press("6")
    page.until(
        lambda s: (
            ("say", "Tapez 1 pour une imprimante.")
            in [(e["kind"], e["detail"]) for e in s["events"]]
        ),
        "the endless prompt",
    )
    assert page.state["listening"]["prompting"] is True

    assert page.press("1") is True
    page.until(lambda s: s["queue"] is not None, "the queue")

    forms = phone_world.recorded.forms("/voice/menu")
    assert [form["Digits"] for form in forms] == ["6", "1"]
    page.hang_up()


def test_a_voicemail_is_left_by_typing_the_message_then_the_finish_key(
    phone_world: World, page: Page
) -> None:
    page.call()
    page.listening()
    page.press("7")
    page.until(
        lambda s: s["listening"] is not None and s["listening"]["verb"] == "record",
        "the recording",
    )

    assert page.say("Bonjour, mon imprimante du deuxième étage est en panne") is True
    page.until(
        lambda s: (
            ("input", "speech Bonjour, mon imprimante du deuxième étage est en panne")
            in [(e["kind"], e["detail"]) for e in s["events"]]
            and s["listening"] is not None
        ),
        "the message taken",
    )
    assert page.press("#") is True
    page.until(lambda s: not s["live"], "the end of the call")

    (action,) = phone_world.recorded.forms("/voice/recorded")
    assert action["Digits"] == "#"
    assert action["RecordingDuration"] == "4"  # 9 words at 2.5 words/s
    assert ("say", "Message reçu, au revoir.") in page.story()
    assert phone_world.carrier.errors == []


def test_the_page_sees_the_caller_connected_to_a_hotliner(
    phone_world: World, page: Page
) -> None:
    phone_world.carrier.add_hotliner(
        HotlinerProfile(
            "alice",
            "client:alice",
            answer_after_seconds=1,
            talk_seconds=4,
            console=AgentConsoleClient(phone_world.app_url),
        )
    )
    page.call()
    page.listening()
    page.press("1")
    page.until(lambda s: s["queue"] is not None, "the queue")

    phone_world.client.calls(page.sid).update(url=phone_world.url("/voice/dial-alice"))
    page.until(lambda s: s["connected"], "the hotliner")
    # The call's own thread notes it in the transcript on its next tick.
    page.until(
        lambda s: ("connected", "client:alice") in page.story(), "the connected note"
    )
    assert page.state["queue"] is None
    page.until(lambda s: not s["live"], "the end of the call")
    assert ("say", "Merci, au revoir.") in page.story()
    assert phone_world.carrier.errors == []


def test_a_call_whose_page_went_away_is_hung_up(phone_world: World) -> None:
    lines = phone_world.carrier.app.extensions["simulator.phone"]
    assert isinstance(lines, PhoneLines)
    lines.abandon_after = 0.3
    base = phone_world.carrier.api_base_url
    sid = requests.post(
        f"{base}/phone/api/calls", json={"from": CALLER}, timeout=5
    ).json()["sid"]
    time.sleep(0.5)

    requests.get(f"{base}/phone", timeout=5)  # any later visit sweeps

    call = phone_world.carrier.calls[sid]
    assert call.ended.wait(5)
    assert call.transcript[-1].detail == "phone page closed"


def test_the_api_refuses_bad_requests_and_other_calls(
    phone_world: World, page: Page
) -> None:
    base = page.base
    scripted = phone_world.carrier.place_call(
        CallerScript(CALLER, inputs=[Digits("1")])
    )
    page.call()

    def post(path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{base}{path}", timeout=5, **kwargs)

    assert post("", json={"from": "nobody"}).status_code == 400
    assert post("", data={"from": CALLER}).status_code == 415  # no cross-site forms
    assert post(f"/{page.sid}/keys", json={"keys": "12a"}).status_code == 400
    assert post(f"/{page.sid}/speech", json={"text": " "}).status_code == 400
    assert post(f"/{scripted.sid}/keys", json={"keys": "1"}).status_code == 409
    assert post("/CA0000/keys", json={"keys": "1"}).status_code == 404
    missing = requests.get(f"{base}/CA0000/events", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"error": "no call CA0000"}
    # Any call's story can be read (the demo's calls too).
    watched = requests.get(f"{base}/{scripted.sid}/events", timeout=5).json()
    assert watched["listening"] is None
    page.hang_up()


def test_a_test_can_drive_an_interactive_call_without_the_page(
    phone_world: World,
) -> None:
    call = place_interactive_call(phone_world.carrier, CALLER)
    assert call.script is not None
    inbox = call.script.inbox
    assert inbox is not None
    deadline = time.monotonic() + 5
    while inbox.listening is None and time.monotonic() < deadline:
        time.sleep(0.01)

    assert inbox.press("2") is True

    assert call.ended.wait(10)
    (menu,) = phone_world.recorded.forms("/voice/menu")
    assert menu["Digits"] == "2"
    assert call.transcript[-2].detail == "Au revoir."
