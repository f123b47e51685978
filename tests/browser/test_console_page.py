"""A hotliner's day in the console, in Debian's chromium, on the real stack.

Nina logs in, goes available and takes a simulated call in the browser: the
offer pop-up shows everything the voice menu learnt (what the caller said,
the known fault, the self-help tried, the incident they heard, their earlier
call), she accepts, answers on the simulated softphone, ticks an agent step,
hangs up and gives the outcome. A `<script>` said to the voice menu, sent as
caller ID or typed in the notes stays text. She declines the next offer and
Omar gets it; a second tab and a dropped connection lose no event.

Screenshots go to the test output folder (`HOTLINE_TEST_OUTPUT`, default
`test-output/` at the project's root).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
from browser.conftest import require_browser
from sqlalchemy.orm import Session

require_browser()

from browser.conftest import OUTPUT  # noqa: E402 - after the skip
from e2e.conftest import RunningHotline  # noqa: E402
from playwright.sync_api import APIResponse, Browser, Page, Route, expect  # noqa: E402
from support import PASSWORD, provision, round_the_clock  # noqa: E402

from accounts.store import AccountStore  # noqa: E402
from calllog.db import create_db_engine  # noqa: E402
from calllog.models import Call  # noqa: E402
from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.scripts import CallerScript, Digits, HotlinerProfile, Speech  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

HOTLINERS = round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là"))
ROUTING = """routing:
  ring_seconds: 120
  wrapup_seconds: 300
  max_missed_offers: 3
  announce_every_seconds: 30
"""
TIME_SCALE = 0.1
XSS = "<script>window.__xss = 1</script>"
CALLER = "+33698765432"


@pytest.fixture
def hotline(running_hotline: Callable[..., RunningHotline]) -> RunningHotline:
    hotline = running_hotline(HOTLINERS, ROUTING, TIME_SCALE)
    engine = create_db_engine(hotline.database_url)
    try:
        store = AccountStore(engine)
        provision(store, "nina", "hotliner")
        provision(store, "omar", "hotliner")
        with Session(engine) as session:
            session.merge(
                Call(
                    call_sid="CAearlier0001",
                    from_number=CALLER,
                    agent_id="omar",
                    status="completed",
                    outcome="escalated",
                    offers=1,
                    started_at=datetime.now(tz=UTC) - timedelta(days=3),
                )
            )
            session.commit()
    finally:
        engine.dispose()
    return hotline


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"console-{name}.png"), full_page=True)


def open_console(
    browser: Browser, hotline: RunningHotline, who: str = "nina"
) -> tuple[Page, list[str]]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="fr-FR"
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None
        ),
    )
    page.goto(f"{hotline.url}/login")
    page.get_by_label(re.compile("Identifiant")).fill(who)
    page.get_by_label(re.compile("Mot de passe")).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.locator("#feed-state")).to_have_attribute("data-live", "1")
    expect(page.locator("#phone-status")).to_have_attribute("data-status", "ready")
    return page, problems


def publish_incident(hotline: RunningHotline) -> None:
    response = requests.post(
        f"{hotline.url}/api/incident",
        json={
            "messages": {"fr-FR": "La messagerie est en panne.", "en-US": "Mail down."}
        },
        headers={"Authorization": f"Bearer {hotline.token}"},
        timeout=5,
    )
    assert response.status_code == 201, response.text


def caller(number: str) -> CallerScript:
    """Hears the incident (not theirs), says what is wrong (with a script
    tag), tries both self-help steps of the fault found, then waits."""
    return CallerScript(
        from_number=number,
        inputs=[
            Digits("2"),
            Speech(f"{XSS} mon imprimante est hors ligne"),
            Digits("2"),
            Digits("2"),
            Digits("2"),
        ],
        patience_seconds=3000,
    )


def test_a_hotliner_takes_a_call_in_the_browser(
    browser: Browser, hotline: RunningHotline
) -> None:
    publish_incident(hotline)
    page, problems = open_console(browser, hotline)
    # On shift (round the clock) and offline: the console asks her to start.
    prompt = page.locator("#shift-prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("Votre service a commencé")
    shot(page, "shift-prompt")
    prompt.get_by_role("button", name="Commencer mon service").click()
    expect(page.locator("#state-name")).to_have_attribute("data-state", "available")
    expect(prompt).to_be_hidden()
    shot(page, "available")

    call = hotline.carrier.place_call(caller(CALLER))
    offer = page.locator("#offer")
    expect(offer).to_be_visible(timeout=30_000)
    ctx = page.locator("#offer-context")
    expect(ctx.locator(".ctx-number")).to_have_text(CALLER)
    expect(ctx.locator(".ctx-name")).to_have_text("Marc Lefèvre — Accueil, Paris")
    expect(ctx.locator(".ctx-language")).to_have_text("fr-FR")
    expect(ctx.locator(".ctx-queue")).to_have_text("imprimantes")
    expect(ctx.locator(".ctx-priority")).to_have_text(re.compile(r"^\d$"))
    expect(ctx.locator(".ctx-waited")).to_contain_text("s")
    expect(ctx.locator(".ctx-path")).to_contain_text(f"a dit « {XSS} mon imprimante")
    expect(ctx.locator(".ctx-path")).to_contain_text("a tapé « 2 »")
    expect(ctx.locator(".ctx-fault")).to_contain_text("[L1]")
    expect(ctx.locator(".ctx-selfhelp li")).to_have_count(3)  # all its steps
    expect(ctx.locator(".ctx-selfhelp")).to_contain_text("sans succès")
    expect(ctx.locator(".ctx-previous")).to_contain_text("Omar Toujours-Là")
    expect(ctx.locator(".ctx-previous")).to_contain_text("escalated")
    expect(ctx.locator(".ctx-incident")).to_contain_text("messagerie est en panne")
    expect(ctx.locator(".ctx-incident")).to_contain_text("pas son problème")
    expect(page.locator("#phone-status")).to_have_attribute("data-status", "ringing")
    shot(page, "offer")
    # What the caller said is text, not markup: no script ran, none was added.
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('main script').length") == 0

    page.get_by_role("button", name="Accepter").click()
    expect(offer).to_be_hidden()
    expect(page.locator("#phone-status")).to_have_attribute("data-status", "in_call")
    expect(page.locator("#state-name")).to_have_attribute(
        "data-state", "busy", timeout=20_000
    )
    expect(page.locator("#call-context .ctx-number")).to_have_text(CALLER)
    steps = page.locator("#agent-steps .agent-step")
    assert steps.count() >= 2
    steps.nth(0).check()
    page.locator("#notes").fill(f"Pilote réinstallé {XSS}")
    page.locator("#remote").fill("TeamViewer 123 456 789")
    # Hold and mute go through the carrier's REST API (conference participant).
    page.get_by_role("button", name="Mettre en attente").click()
    expect(page.locator("#hold")).to_have_text("Reprendre")
    page.get_by_role("button", name="Couper le micro").click()
    expect(page.locator("#mute")).to_have_text("Rétablir le micro")
    page.get_by_role("button", name="Reprendre").click()
    expect(page.locator("#hold")).to_have_text("Mettre en attente")
    expect(page.locator("#message")).to_be_hidden()
    page.locator("#dtmf").fill("12#")
    page.get_by_role("button", name="Envoyer").click()
    shot(page, "in-call")

    page.locator("#phone-hangup").click()
    expect(page.locator("#state-name")).to_have_attribute("data-state", "wrapup")
    expect(page.locator("#wrapup")).to_be_visible()
    page.get_by_label("Résolu par prise en main à distance").check()
    expect(page.locator("#fixed-by")).to_have_value("printer-offline")
    # The recap to the caller: previewed, then texted (no mail server here).
    page.locator("#recap summary").click()
    expect(page.locator("#recap-summary")).to_have_value(
        "L'imprimante apparaît hors ligne"
    )
    page.locator("#recap-next").fill(f"Relancer l'impression {XSS}")
    page.get_by_role("button", name="Aperçu").click()
    expect(page.locator("#recap-sms-to")).to_have_text(CALLER)
    expect(page.locator("#recap-sms-text")).to_contain_text(
        f"À faire : Relancer l'impression {XSS}"
    )
    expect(page.locator("#recap-email-text")).to_contain_text("HL-")
    shot(page, "wrap-up")
    page.get_by_role("button", name="Envoyer le récapitulatif").click()
    expect(page.locator("#message")).to_have_text("Récapitulatif envoyé")
    texts = [m for m in hotline.carrier.messages if m.get("to") == CALLER]
    assert len(texts) == 1
    assert f"Relancer l'impression {XSS}" in texts[0]["body"]
    assert page.evaluate("window.__xss") is None
    page.get_by_role("button", name="Enregistrer et prêt").click()
    expect(page.locator("#state-name")).to_have_attribute("data-state", "available")
    # "My day" reads the call log, written a moment later by the worker.
    expect(page.locator("#day-last")).to_contain_text(
        f"Pilote réinstallé {XSS}", timeout=15_000
    )
    expect(page.locator("#day-handled")).to_have_text("1")
    assert call.ended.wait(20)
    assert page.evaluate("window.__xss") is None
    shot(page, "after-call")

    # The outcome is in the call log with what fixed it.
    _wait_for_row(hotline, call.sid, lambda row: row.outcome == "remote_takeover")
    engine = create_db_engine(hotline.database_url)
    with Session(engine) as session:
        row = session.get(Call, call.sid)
        assert row is not None
        assert row.fixed_by == "printer-offline"
        assert row.remote_session == "TeamViewer 123 456 789"
        assert row.notes == f"Pilote réinstallé {XSS}"
        assert row.agent_id == "nina"
    engine.dispose()
    digits = [n for n in _leg_notes(hotline, "client:nina") if n[0] == "digits"]
    assert digits
    assert digits[0][1] == "12#"
    assert hotline.carrier.errors == []
    assert problems == []


def test_a_declined_offer_goes_to_the_next_hotliner_and_tabs_lose_no_event(
    browser: Browser, hotline: RunningHotline
) -> None:
    page, problems = open_console(browser, hotline)
    second = page.context.new_page()
    second.goto(f"{hotline.url}/console")
    expect(second.locator("#feed-state")).to_have_attribute("data-live", "1")
    page.get_by_role("button", name="Disponible").click()
    expect(second.locator("#state-name")).to_have_attribute("data-state", "available")

    number = "<script>window.__xss=2</script>"  # a forged caller ID
    hotline.carrier.place_call(
        CallerScript(
            from_number=number,
            inputs=[Digits("2"), Digits("4")],
            patience_seconds=3000,
        )
    )
    expect(page.locator("#offer")).to_be_visible(timeout=30_000)
    expect(second.locator("#offer")).to_be_visible()
    expect(page.locator("#offer-context .ctx-number")).to_have_text(number)
    shot(page, "offer-forged-caller-id")
    # Omar comes on duty (a simulated hotliner), then Nina declines.
    hotline.carrier.add_hotliner(
        HotlinerProfile(
            "omar",
            "client:omar",
            answer_after_seconds=1,
            talk_seconds=5,
            console=AgentConsoleClient(hotline.url, token=hotline.token),
        )
    )
    page.get_by_role("button", name="Refuser").click()
    expect(page.locator("#offer")).to_be_hidden()
    expect(second.locator("#offer")).to_be_hidden()
    expect(page.locator("#state-name")).to_have_attribute("data-state", "available")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(c.to == "client:omar" for c in hotline.carrier.calls.values()):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the declined caller was not offered to Omar")
    agent = requests.get(
        f"{hotline.url}/api/agents/nina",
        headers={"Authorization": f"Bearer {hotline.token}"},
        timeout=5,
    ).json()
    assert agent["state"] == "available"  # declined is not missed: not away
    assert page.evaluate("window.__xss") is None

    # The first tab's feed drops while the second changes state.
    page.evaluate("window.hotlineConsole.source.close()")
    second.locator("#break-reason").select_option("training")
    second.get_by_role("button", name="Pause").click()
    expect(second.locator("#state-reason")).to_contain_text("Formation")
    second.get_by_role("button", name="Disponible").click()
    expect(second.locator("#state-name")).to_have_attribute("data-state", "available")
    # Reconnect the way EventSource does: Last-Event-ID, the last id seen, to
    # the feed's own port (cross-origin: asked first, then with the cookie).
    last_id = page.evaluate(
        "window.hotlineConsole.log.filter(e => e.id).slice(-1)[0].id"
    )
    feed_url = page.evaluate("window.hotlineConsole.feedUrl")
    assert feed_url == f"{hotline.stack.feed_url}/console/events"
    replay = page.evaluate(
        """async (last) => {
            const headers = {'Last-Event-ID': last};
            const r = await fetch(window.hotlineConsole.feedUrl,
                                  {headers: headers, credentials: 'include'});
            const reader = r.body.getReader();
            let text = '';
            const t0 = Date.now();
            while (Date.now() - t0 < 5000) {
              const {value, done} = await reader.read();
              if (done) break;
              text += new TextDecoder().decode(value);
              if ((text.match(/"from": "break"/g) || []).length) break;
            }
            reader.cancel();
            return text;
        }""",
        last_id,
    )
    assert '"type": "snapshot"' not in replay
    assert '"state": "break"' in replay
    assert '"reason": "training"' in replay
    assert '"from": "break"' in replay
    second_ids = second.evaluate(
        "window.hotlineConsole.log.filter(e => e.type === 'state').map(e => e.id)"
    )
    replay_ids = re.findall(r"^id: (\S+)$", replay, flags=re.MULTILINE)
    missed = [i for i in second_ids if _sid(i) > _sid(last_id)]
    assert missed
    assert all(i in replay_ids for i in missed)
    shot(second, "second-tab")
    assert problems == []


def test_a_hotliner_transfers_a_call_and_the_next_one_reads_her_notes(
    browser: Browser, hotline: RunningHotline
) -> None:
    nina, nina_problems = open_console(browser, hotline, "nina")
    omar, omar_problems = open_console(browser, hotline, "omar")
    nina.get_by_role("button", name="Disponible").click()
    expect(nina.locator("#state-name")).to_have_attribute("data-state", "available")
    call = hotline.carrier.place_call(caller(CALLER))
    expect(nina.locator("#offer")).to_be_visible(timeout=30_000)
    nina.get_by_role("button", name="Accepter").click()
    expect(nina.locator("#phone-status")).to_have_attribute("data-status", "in_call")
    expect(nina.locator("#state-name")).to_have_attribute(
        "data-state", "busy", timeout=20_000
    )
    nina.locator("#notes").fill(f"Réseau du 2e étage en cause {XSS}")
    nina.locator("#transfer-mode").select_option("cold")
    nina.locator("#transfer-queue").select_option("network")
    shot(nina, "transfer")
    nina.get_by_role("button", name="Transférer").click()
    expect(nina.locator("#state-name")).to_have_attribute("data-state", "wrapup")
    expect(nina.locator("#message")).to_have_text("Appel transféré")
    expect(nina.locator("#phone-status")).to_have_attribute("data-status", "ready")

    omar.get_by_role("button", name="Disponible").click()
    offer = omar.locator("#offer")
    expect(offer).to_be_visible(timeout=30_000)
    ctx = omar.locator("#offer-context")
    expect(ctx.locator(".ctx-queue")).to_have_text("connexion internet et réseau")
    expect(ctx.locator(".ctx-transfer")).to_have_text(
        f"Nina Nuit-et-Jour — « Réseau du 2e étage en cause {XSS} »"
    )
    expect(ctx.locator(".ctx-path")).to_contain_text("mon imprimante")
    shot(omar, "offer-transferred")
    assert omar.evaluate("window.__xss") is None
    omar.get_by_role("button", name="Accepter").click()
    expect(omar.locator("#state-name")).to_have_attribute(
        "data-state", "busy", timeout=20_000
    )
    expect(omar.locator("#call-context .ctx-transfer")).to_contain_text("Nina")
    # He hangs up once the caller is with him (hold is offered then): a
    # hang-up before the caller reached his conference gives the caller back
    # to the queue, and Omar, free again, is offered them anew.
    expect(omar.locator("#hold")).to_be_enabled(timeout=20_000)
    omar.locator("#phone-hangup").click()
    expect(omar.locator("#state-name")).to_have_attribute("data-state", "wrapup")
    assert call.ended.wait(20)
    assert hotline.carrier.errors == []
    assert nina_problems == []
    assert omar_problems == []


def test_a_warm_transfer_briefs_omar_in_his_console_then_leaves_him_the_caller(
    browser: Browser, hotline: RunningHotline
) -> None:
    nina, nina_problems = open_console(browser, hotline, "nina")
    omar, omar_problems = open_console(browser, hotline, "omar")
    nina.get_by_role("button", name="Disponible").click()
    expect(nina.locator("#state-name")).to_have_attribute("data-state", "available")
    call = hotline.carrier.place_call(caller(CALLER))
    expect(nina.locator("#offer")).to_be_visible(timeout=30_000)
    nina.get_by_role("button", name="Accepter").click()
    expect(nina.locator("#phone-status")).to_have_attribute(
        "data-status", "in_call", timeout=20_000
    )
    expect(nina.locator("#state-name")).to_have_attribute(
        "data-state", "busy", timeout=20_000
    )
    omar.get_by_role("button", name="Disponible").click()
    expect(omar.locator("#state-name")).to_have_attribute("data-state", "available")

    nina.locator("#notes").fill(f"Pilote réinstallé, rien n'y fait {XSS}")
    nina.locator(".agent-step").first.check()  # done: Omar need not do it again
    nina.locator("#transfer-mode").select_option("warm")
    nina.locator("#transfer-queue").select_option("agent:omar")

    # Omar declines first: the caller is back with Nina, who is told why.
    # The answer to her transfer request is held back until her feed has told
    # her: on a loaded CI machine it came that late, and the page, clearing
    # old messages when a request succeeded, wiped the news.
    held: list[tuple[Route, APIResponse]] = []

    def hold_back(route: Route) -> None:
        held.append((route, route.fetch()))

    nina.route("**/api/calls/*/transfer", hold_back)
    nina.get_by_role("button", name="Transférer").click()
    expect(omar.locator("#offer")).to_be_visible(timeout=30_000)
    omar.get_by_role("button", name="Refuser").click()
    # Nina hears it from her feed (its CPU priority is lower than the web's).
    expect(nina.locator("#message")).to_contain_text(
        "Omar Toujours-Là : refusé", timeout=20_000
    )
    # The request went out before Omar's offer could; its answer may still be
    # on its way (the handler keeps it once `route.fetch` returned, and runs
    # only while Playwright waits).
    deadline = time.monotonic() + 20
    while not held and time.monotonic() < deadline:
        nina.wait_for_timeout(50)
    assert len(held) == 1
    with nina.expect_response("**/api/calls/*/transfer") as answered:
        held[0][0].fulfill(response=held[0][1])
    assert answered.value.ok
    nina.unroute("**/api/calls/*/transfer")
    nina.evaluate("() => new Promise(done => setTimeout(done, 200))")
    expect(nina.locator("#message")).to_contain_text("Omar Toujours-Là : refusé")
    expect(nina.locator("#consult")).to_be_hidden()
    expect(nina.locator("#hold")).to_have_text("Mettre en attente")  # off hold
    expect(omar.locator("#state-name")).to_have_attribute("data-state", "available")
    shot(nina, "warm-transfer-declined")

    nina.get_by_role("button", name="Transférer").click()
    expect(nina.locator("#consult")).to_be_visible()
    expect(nina.locator("#consult-text")).to_contain_text("Omar Toujours-Là")
    expect(nina.locator("#consult-complete")).to_be_disabled()
    expect(nina.locator("#hold")).to_have_text("Reprendre")  # the caller is on hold

    # Omar's pop-up: the whole context and Nina's notes, as text.
    expect(omar.locator("#offer")).to_be_visible(timeout=30_000)
    ctx = omar.locator("#offer-context")
    expect(ctx.locator(".ctx-consult")).to_have_text(
        f"Nina Nuit-et-Jour — « Pilote réinstallé, rien n'y fait {XSS} »"
    )
    expect(ctx.locator(".ctx-path")).to_contain_text("mon imprimante")
    expect(ctx.locator(".ctx-steps-done li")).to_have_count(1)
    expect(ctx.locator(".ctx-steps-done")).to_contain_text("Imprimantes et scanners")
    expect(ctx.locator(".ctx-hold")).to_have_text("En attente (musique)")
    expect(omar.locator("#offer-title-text")).to_have_text("Transfert accompagné")
    shot(omar, "offer-warm-transfer")
    omar.get_by_role("button", name="Accepter").click()
    expect(omar.locator("#state-name")).to_have_attribute(
        "data-state", "busy", timeout=20_000
    )
    expect(nina.locator("#consult-complete")).to_be_enabled(timeout=20_000)
    expect(nina.locator("#consult-text")).to_contain_text("en ligne avec")
    shot(nina, "warm-transfer-briefing")
    deadline = time.monotonic() + 10  # Omar joins at the carrier a moment later
    while time.monotonic() < deadline:
        with hotline.carrier.board.lock:
            conference = hotline.carrier.board.live_conferences[f"hotline-{call.sid}"]
            if len(conference.participants) == 3:
                assert conference.participants[call.sid].hold
                break
        time.sleep(0.05)
    else:
        raise AssertionError("Omar did not join Nina and the caller on hold")

    nina.get_by_role("button", name="Terminer le transfert").click()
    expect(nina.locator("#state-name")).to_have_attribute("data-state", "wrapup")
    expect(nina.locator("#message")).to_contain_text("Omar Toujours-Là")
    expect(nina.locator("#consult")).to_be_hidden()
    expect(omar.locator("#call-context .ctx-transfer")).to_contain_text("Nina")
    shot(omar, "after-warm-transfer")
    assert omar.evaluate("window.__xss") is None
    omar.locator("#phone-hangup").click()
    expect(omar.locator("#state-name")).to_have_attribute("data-state", "wrapup")
    assert call.ended.wait(20)
    holds = [e.detail for e in call.transcript if e.kind == "hold"]
    assert holds == ["hold music", "back from hold"] * 2
    assert hotline.carrier.errors == []
    assert nina_problems == []
    assert omar_problems == []


def _wait_for_row(
    hotline: RunningHotline, sid: str, ready: Callable[[Call], bool]
) -> None:
    engine = create_db_engine(hotline.database_url)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with Session(engine) as session:
                row = session.get(Call, sid)
                if row is not None and ready(row):
                    return
            time.sleep(0.2)
        raise AssertionError(f"call {sid} never reached the call log as expected")
    finally:
        engine.dispose()


def _leg_notes(hotline: RunningHotline, to: str) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    for call in hotline.carrier.calls.values():
        if call.to == to:
            notes.extend((n.kind, n.detail) for n in call.transcript)
    return notes


def _sid(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
