"""Someone tries the voice menu from the phone page, in Debian's chromium.

The real hotline (gunicorn, worker, Redis, SQL) answers a call placed from the
page through the carrier simulator; the page shows the French welcome, the
person presses 2 (printer) then 4 (other) on the keypad and follows the call into
the queue.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from browser.conftest import require_browser

require_browser()

from browser.conftest import OUTPUT  # noqa: E402 - after the skip
from e2e.conftest import RunningHotline  # noqa: E402
from playwright.sync_api import Browser, ConsoleMessage, Page, expect  # noqa: E402

from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.scripts import HotlinerProfile  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCREENSHOT = OUTPUT / "phone-page.png"
CONNECTED_SCREENSHOT = OUTPUT / "phone-page-connected.png"

# Alice is available but slow to pick up: the caller waits in the queue a
# little (announcement, hold music), then is put through to her.
HOTLINERS = """
hotliners:
  - id: alice
    name: "Alice Martin"
    endpoint: "client:alice"
    skills: {printer: 3}
    shifts: ["daily 00:00-00:00"]
"""
ROUTING = """routing:
  ring_seconds: 60
  wrapup_seconds: 30
  max_missed_offers: 3
  announce_every_seconds: 30
"""
TIME_SCALE = 0.2  # the 6 s menu timeout lasts 1.2 s
ALICE_ANSWERS_AFTER = 40.0  # simulated seconds: 8 s in the queue


@pytest.fixture
def hotline(running_hotline: Callable[..., RunningHotline]) -> RunningHotline:
    hotline = running_hotline(HOTLINERS, ROUTING, TIME_SCALE)
    hotline.carrier.add_hotliner(
        HotlinerProfile(
            "alice",
            "client:alice",
            answer_after_seconds=ALICE_ANSWERS_AFTER,
            talk_seconds=600,
            console=AgentConsoleClient(hotline.url, token=hotline.token),
        )
    )
    return hotline


def open_phone(browser: Browser, hotline: RunningHotline) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    page.on("console", console)
    page.goto(f"{hotline.carrier.api_base_url}/phone")
    return page, problems


def test_a_caller_hears_the_welcome_presses_2_and_waits_for_a_printer_technician(
    browser: Browser, hotline: RunningHotline
) -> None:
    page, problems = open_phone(browser, hotline)
    transcript = page.locator("#transcript")
    status = page.locator("#status")
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Essayer le serveur vocal"
    )

    page.get_by_label("Votre numéro").fill("+33612345678")
    page.get_by_role("button", name=re.compile("Appeler")).click()

    expect(transcript).to_contain_text("Bienvenue à la hotline informatique.")
    expect(transcript.locator("li.say .tag").first).to_have_text("fr-FR")
    expect(status).to_contain_text("À vous")
    page.locator('#keypad button[data-key="2"]').click()

    expect(transcript).to_contain_text("vous tapez 2")
    expect(transcript).to_contain_text("Bourrage papier, tapez 2")
    expect(status).to_contain_text("À vous")
    page.locator('#keypad button[data-key="4"]').click()
    expect(transcript).to_contain_text("technicien impression")
    expect(transcript).to_contain_text("en file d'attente « printer »")
    expect(status).to_contain_text("printer")
    expect(transcript).to_contain_text("musique d'attente (hold music)")
    expect(status).to_contain_text("printer")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    call = next(c for c in hotline.carrier.calls.values() if c.to != "client:alice")
    assert call.from_number == "+33612345678"

    expect(status).to_contain_text("En ligne avec un technicien", timeout=15_000)
    expect(transcript).to_contain_text("client:alice")
    page.screenshot(path=str(CONNECTED_SCREENSHOT), full_page=True)
    page.get_by_role("button", name=re.compile("Raccrocher")).click()

    expect(status).to_contain_text("Appel terminé")
    expect(transcript).to_contain_text("vous avez raccroché")
    assert call.ended.wait(10)
    assert hotline.carrier.errors == []
    assert problems == []


def test_the_page_works_as_text_where_speech_synthesis_is_missing(
    browser: Browser, hotline: RunningHotline
) -> None:
    page = browser.new_page()
    page.add_init_script("delete window.speechSynthesis;")
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{hotline.carrier.api_base_url}/phone")

    expect(page.locator("#voice-note")).to_be_visible()
    page.get_by_role("button", name=re.compile("Appeler")).click()
    expect(page.locator("#transcript")).to_contain_text("Bienvenue")
    page.get_by_label("Dire une phrase").fill("mon imprimante est hors ligne")
    page.get_by_role("button", name=re.compile("Dire")).click()

    expect(page.locator("#transcript")).to_contain_text(
        "vous dites « mon imprimante est hors ligne »"
    )
    # The knowledge base knows the fault: its first self-help step is read,
    # no menu in between.
    expect(page.locator("#transcript")).to_contain_text("Si c'est réglé, tapez 1")
    expect(page.locator("#transcript")).not_to_contain_text("Bourrage papier")
    page.locator('#keypad button[data-key="1"]').click()
    expect(page.locator("#transcript")).to_contain_text("votre problème est réglé")
    expect(page.locator("#status")).to_contain_text("Appel terminé")
    assert problems == []
