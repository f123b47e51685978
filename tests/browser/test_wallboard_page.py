"""The supervisors' wallboard in Debian's chromium, on the real stack.

A supervisor logs in and lands on the wallboard while the simulator runs
calls: Nina talks with a first caller, Omar goes on a break, a second caller
waits. Each change shows within a second of the action that moves it (timed
in the test), and the figures on the screen are the reports API's at the
same moment. Screenshots of the wallboard and of its TV mode go to the test
output folder.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import requests
from browser.conftest import require_browser

require_browser()

from browser.conftest import OUTPUT  # noqa: E402 - after the skip
from e2e.conftest import RunningHotline  # noqa: E402
from integration.test_waiting_moves import (  # noqa: E402
    HOTLINERS as WAITING_MOVES_HOTLINERS,
)
from playwright.sync_api import Browser, Page, expect  # noqa: E402
from support import PASSWORD, provision, round_the_clock, wait_for  # noqa: E402

from accounts.store import AccountStore  # noqa: E402
from calllog.db import create_db_engine  # noqa: E402
from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.scripts import CallerScript, Digits, HotlinerProfile  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

HOTLINERS = round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là"))
ROUTING = """routing:
  ring_seconds: 30
  wrapup_seconds: 0
  max_missed_offers: 3
  announce_every_seconds: 30
"""
TIME_SCALE = 0.1


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"wallboard-{name}.png"), full_page=True)


def open_wallboard(browser: Browser, hotline: RunningHotline, tv: bool = False) -> Page:
    context = browser.new_context(
        viewport={"width": 1500, "height": 950}, locale="fr-FR"
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    page.goto(f"{hotline.url}/login")
    page.get_by_label(re.compile("Identifiant")).fill("sup")
    page.get_by_label(re.compile("Mot de passe")).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/supervisor$"))
    if tv:
        page.goto(f"{hotline.url}/supervisor?tv=1")
    expect(page.locator("#link")).to_have_attribute("data-state", "live")
    page.problems = problems  # type: ignore[attr-defined]
    return page


def provision_supervisor(hotline: RunningHotline) -> None:
    """The account `sup` (password `PASSWORD`) the wallboard is opened as."""
    engine = create_db_engine(hotline.database_url)
    try:
        provision(AccountStore(engine), "sup", "supervisor")
    finally:
        engine.dispose()


def seen_within(page: Page, condition: str, started: float) -> float:
    """Seconds from `started` (monotonic) until `condition` (JS, on the
    page's current board) holds on the page."""
    deadline = time.monotonic() + 10.0
    while not page.evaluate(condition):  # CDP: not the page's eval, which CSP bars
        assert time.monotonic() < deadline, f"never seen: {condition}"
        time.sleep(0.02)
    return time.monotonic() - started


def test_the_wallboard_follows_the_hotline_live(
    running_hotline: Callable[..., RunningHotline], browser: Browser
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, TIME_SCALE)
    provision_supervisor(hotline)
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    headers = {"Authorization": f"Bearer {hotline.token}"}
    carrier = hotline.carrier
    page = open_wallboard(browser, hotline)
    board = "window.hotlineBoard.board"

    # Omar goes on a break: his row says so within a second.
    hotline_omar = HotlinerProfile(
        agent_id="omar", endpoint="client:omar", console=console, talk_seconds=30.0
    )
    carrier.add_hotliner(hotline_omar)
    console.set_state("omar", "available")
    t0 = time.monotonic()
    console.set_state("omar", "break")
    took_break = seen_within(
        page,
        f"{board} && {board}.hotliners.some("
        "h => h.id === 'omar' && h.state === 'break')",
        t0,
    )
    expect(page.locator('tr[data-agent="omar"]')).to_have_attribute(
        "data-state", "break"
    )

    # Nina takes a first caller; a second one waits, seen within a second of
    # joining the email queue (the simulator notes when).
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=60.0,
            console=console,
        )
    )
    first = carrier.place_call(
        CallerScript(from_number="+33611000001", inputs=[Digits("4")])
    )
    seen_within(page, f"{board} && {board}.calls.length === 1", time.monotonic())
    second = carrier.place_call(
        CallerScript(from_number="+33611000002", inputs=[Digits("4")])
    )

    def queued() -> float | None:
        with carrier.board.lock:
            call = carrier.calls.get(second.sid)
            return call.enqueued_at if call is not None and call.queue else None

    joined = wait_for(queued, 20.0, "the second caller in the queue")
    assert isinstance(joined, float)
    took_wait = seen_within(
        page,
        f"{board} && {board}.queues.some(q => q.id === 'email' && q.waiting === 1)",
        joined,
    )
    expect(page.locator('tr[data-queue="email"] td').nth(1)).to_have_text("1")
    expect(page.locator("#t-calls")).to_have_text("1")
    shot(page, "live")
    assert took_break < 1.0, took_break
    assert took_wait < 1.0, took_wait

    # Both calls over: the figures on the screen are the reports API's.
    assert carrier.wait_idle(timeout=60.0), carrier.snapshot()
    assert first.sid != second.sid

    def same_as_reports() -> bool:
        shown = page.evaluate(f"{board}")
        day = shown["day"]
        answer = requests.get(
            f"{hotline.url}/api/reports?from={day}&to={day}&by=queue",
            headers=headers,
            timeout=5,
        ).json()
        rows = {r["key"]: r for r in answer["rows"]}
        email = next(q for q in shown["queues"] if q["id"] == "email")
        row = rows.get("email")
        return (
            row is not None
            and row["answered"] == 2
            and (email["offered"], email["answered"], email["service_level"])
            == (row["offered"], row["answered"], row["service_level"])
            and email["abandon_rate"] == row["abandon_rate"]
            and email["asa_seconds"] == row["asa_seconds"]
        )

    wait_for(same_as_reports, 15.0, "the wallboard's figures to be the reports'")

    # The charts: today's half hours add up to the day's report.
    def charted() -> bool:
        shown = page.evaluate(f"{board}")
        day = shown["day"]
        total = requests.get(
            f"{hotline.url}/api/reports?from={day}&to={day}&by=halfhour",
            headers=headers,
            timeout=5,
        ).json()["total"]
        series = shown["charts"]["today"]
        return (sum(series["offered"]), sum(series["answered"])) == (
            total["offered"],
            total["answered"],
        ) and total["answered"] >= 2

    wait_for(charted, 15.0, "the charts to add up to the day's report")
    expect(page.locator("#chart-volume canvas")).to_have_count(1)
    expect(page.locator("#chart-sl canvas")).to_have_count(1)
    expect(page.locator('tr[data-queue="email"]')).to_contain_text("2")
    inline = "script:not([src]):not([type='application/json'])"
    assert page.evaluate(f'document.querySelectorAll("{inline}").length') == 0
    shot(page, "after")
    assert page.problems == []  # type: ignore[attr-defined]

    # Controls: an incident message, the email queue closed with a reason and
    # reopened, the incident over; each one shows on the board and in the
    # audit log, the supervisor's name beside it.
    page.locator("#incident-fr-FR").fill("Messagerie en panne, nous y travaillons.")
    page.locator("#incident-en-US").fill("Email is down, we are on it.")
    page.get_by_role("button", name="Publier").click()
    expect(page.locator("#incident")).to_contain_text("Messagerie en panne")
    page.locator('button[data-queue="email"]').click()
    page.locator("#queue-reason").fill("Exchange en maintenance")
    page.get_by_role("button", name="Confirmer").click()
    expect(page.locator('tr[data-queue="email"]')).to_contain_text("fermée à la main")
    expect(page.locator('#audit tr[data-action="queue_override"]')).to_contain_text(
        "Exchange en maintenance"
    )
    shot(page, "controls")
    page.locator('button[data-queue="email"]').click()  # reopen
    expect(page.locator('tr[data-queue="email"]')).not_to_contain_text("fermée")
    page.get_by_role("button", name="Fin de l'incident").click()
    expect(page.locator("#incident")).to_be_hidden()
    audit = requests.get(f"{hotline.url}/api/audit", headers=headers, timeout=5).json()[
        "entries"
    ]
    assert [(e["action"], e["actor"]) for e in audit[:4]] == [
        ("incident_resolved", "sup"),
        ("queue_override", "sup"),
        ("queue_override", "sup"),
        ("incident_published", "sup"),
    ]
    assert audit[2]["reason"] == "Exchange en maintenance"
    expect(page.locator("#audit tbody tr").first).to_have_attribute(
        "data-action", "incident_resolved"
    )
    assert page.problems == []  # type: ignore[attr-defined]

    # History: the call list, searched by the second caller's number, and
    # that call's timeline, step by step.
    page.locator("#to-calls").click()
    expect(page.locator("#calls")).to_be_visible()
    page.locator('input[name="number"]').fill("+33611000002")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("#calls tbody tr")).to_have_count(1)
    shot(page, "calls")
    page.get_by_role("link", name="chronologie").click()
    expect(page.locator("#timeline li").first).to_contain_text("Appel reçu")
    expect(page.locator("#timeline")).to_contain_text("Proposé à un téléassistant")
    expect(page.locator("#timeline")).to_contain_text("Appel terminé")
    expect(page.locator("#segments")).to_contain_text("nina")
    shot(page, "timeline")
    assert page.problems == []  # type: ignore[attr-defined]

    # TV mode: large type, no controls, live.
    tv = open_wallboard(browser, hotline, tv=True)
    expect(tv.locator(".views")).to_have_count(0)
    expect(tv.locator("#incident-control")).to_have_count(0)
    expect(tv.locator(".topbar")).to_be_hidden()
    shot(tv, "tv")
    assert tv.problems == []  # type: ignore[attr-defined]
    print(
        f"wallboard: break shown after {took_break:.3f} s, wait after {took_wait:.3f} s"
    )


def test_a_supervisor_steers_from_the_wallboard(
    running_hotline: Callable[..., RunningHotline], browser: Browser
) -> None:
    """From the wallboard's own controls: a caller waiting in the email
    queue (Nina, who takes email, is on a break) is raised; Omar (printers
    only) is given the email skill and takes them at once; the supervisor
    whispers to Omar on that call, then leaves it. Each control is in the
    audit log."""
    # Nina takes email, Omar printers (as in the integration test of moves).
    hotline = running_hotline(WAITING_MOVES_HOTLINERS, ROUTING, TIME_SCALE)
    provision_supervisor(hotline)
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    headers = {"Authorization": f"Bearer {hotline.token}"}
    carrier = hotline.carrier
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="omar",
            endpoint="client:omar",
            answer_after_seconds=0.5,
            talk_seconds=100_000.0,  # until the test hangs up
            console=console,
        )
    )
    # The supervisor's phone (`client:sup`, the dialog's default), answered.
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="sup",
            endpoint="client:sup",
            answer_after_seconds=0.3,
            talk_seconds=100_000.0,
        )
    )
    console.set_state("omar", "available")
    console.set_state("nina", "available")
    console.set_state("nina", "break")
    page = open_wallboard(browser, hotline)
    caller = carrier.place_call(
        CallerScript(
            from_number="+33611000009", inputs=[Digits("4")], patience_seconds=3000
        )
    )
    waiting = page.locator(f'#waiting tr[data-call="{caller.sid}"]')
    expect(waiting).to_be_visible(timeout=20_000)
    expect(waiting).to_contain_text("messagerie")

    # Raised to priority 5, from the row's dialog.
    waiting.get_by_role("button", name="Déplacer").click()
    expect(page.locator("#move-queue")).to_have_value("email")
    page.locator("#move-priority").fill("5")
    shot(page, "move-dialog")
    page.get_by_role("button", name="Appliquer").click()
    expect(waiting.locator("td").nth(2)).to_have_text("5")
    expect(page.locator("#control-result")).to_contain_text("priorité 5")

    # Omar given the email skill: the caller is his at once.
    omar = page.locator('tr[data-agent="omar"]')
    omar.get_by_role("button", name="Piloter").click()
    expect(page.locator("#skill-printer")).to_be_checked()
    expect(page.locator("#skill-email")).not_to_be_checked()
    page.locator("#skill-email").check()
    page.locator("#level-email").select_option("2")
    shot(page, "hotliner-dialog")
    page.get_by_role("button", name="Enregistrer les compétences").click()
    expect(omar).to_contain_text("compétences du jour")
    talking = page.locator(f'#calls tr[data-call="{caller.sid}"]')
    expect(talking).to_contain_text("omar", timeout=20_000)
    expect(page.locator("#waiting")).to_contain_text("personne")

    # Whisper to Omar: the simulator shows the supervisor's coach leg.
    talking.get_by_role("button", name="Écouter").click()
    page.get_by_label("Souffler").check()
    shot(page, "listen-dialog")
    page.get_by_role("button", name="Rejoindre / changer de mode").click()
    expect(page.locator("#control-result")).to_contain_text("whisper")

    def coaching() -> tuple[bool, str] | None:
        with carrier.board.lock:
            for conference in carrier.board.conferences.values():
                if conference.name != f"hotline-{caller.sid}":
                    continue
                for p in conference.participants.values():
                    if p.call.to == "client:sup" and p.coaching:
                        return p.coaching, p.call_sid_to_coach or ""
        return None

    coached, whom = wait_for(coaching, 15.0, "the supervisor's coach leg")
    with carrier.board.lock:
        omar_legs = {c.sid for c in carrier.calls.values() if c.to == "client:omar"}
    assert coached
    assert whom in omar_legs
    talking.get_by_role("button", name="Écouter").click()
    page.get_by_role("button", name="Quitter l'appel").click()
    expect(page.locator("#control-result")).to_contain_text("Sorti de l'appel")
    expect(page.locator('#audit tr[data-action="agent_skills"]')).to_contain_text(
        "email 2, printer 3"
    )
    shot(page, "steered")
    audit = requests.get(f"{hotline.url}/api/audit", headers=headers, timeout=5).json()
    assert [(e["action"], e["actor"]) for e in audit["entries"][:4]] == [
        ("call_listen_end", "sup"),
        ("call_whisper", "sup"),
        ("agent_skills", "sup"),
        ("caller_moved", "sup"),
    ]
    carrier.hang_up(caller.sid)
    assert page.problems == []  # type: ignore[attr-defined]
