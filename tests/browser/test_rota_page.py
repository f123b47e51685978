"""The supervisors' rota page in Debian's chromium, on the real stack.

Nina and Omar work round the clock with every skill, and no call has come
yet: every half hour of the week shows 2 hotliners on shift for 0 needed
(overstaffed). The supervisor marks Omar sick today from the page's form:
the tag appears in his row, today's column goes to 1 on shift (covered),
the file `rota.yaml` holds it, and removing it puts everything back.
Screenshots go to the test output folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from browser.conftest import require_browser

require_browser()

from browser.conftest import OUTPUT  # noqa: E402 - after the skip
from browser.test_wallboard_page import provision_supervisor  # noqa: E402
from e2e.conftest import RunningHotline  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402
from support import PASSWORD, round_the_clock, wait_for  # noqa: E402

from core.clock import utcnow  # noqa: E402
from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.scripts import CallerScript, Digits, HotlinerProfile  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

HOTLINERS = round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là"))
ROUTING = """routing:
  ring_seconds: 30
  wrapup_seconds: 0
"""


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"rota-{name}.png"), full_page=True)


def test_a_supervisor_marks_a_hotliner_sick_from_the_rota_page(
    running_hotline: Callable[..., RunningHotline], browser: Browser
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.1)
    provision_supervisor(hotline)
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="fr-FR"
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(f"{hotline.url}/login")
    page.get_by_label(re.compile("Identifiant")).fill("sup")
    page.get_by_label(re.compile("Mot de passe")).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/supervisor$"))
    page.goto(f"{hotline.url}/supervisor/rota")

    paris = utcnow().astimezone(ZoneInfo("Europe/Paris"))
    today, column = paris.date().isoformat(), paris.weekday()  # Monday first
    ten = page.locator("#coverage tbody tr", has=page.locator("th", has_text="10:00"))
    today_ten = ten.locator("td").nth(column)
    expect(today_ten).to_have_text("2 / 0")
    expect(today_ten.locator(".cell")).to_have_class(re.compile("over"))
    expect(page.locator('#hotliners tr[data-agent="omar"]')).to_contain_text(
        "00:00-00:00"
    )
    shot(page, "week")

    page.locator("#ex-agent").select_option("omar")
    page.locator("#ex-kind").select_option("sick")
    page.locator("#ex-day").fill(today)
    page.get_by_role("button", name="Ajouter").click()
    expect(page.locator("#ex-result")).to_have_text(f"ajouté : sick {today}")
    omar = page.locator('#hotliners tr[data-agent="omar"]')
    expect(omar.locator(".exception.added")).to_contain_text(f"sick {today}")
    expect(today_ten).to_have_text("1 / 0")
    expect(today_ten.locator(".cell")).to_have_class(re.compile("ok"))
    rota = (hotline.config_dir / "rota.yaml").read_text(encoding="utf-8")
    assert f"sick {today}" in rota
    shot(page, "sick-day")

    # A leave ending before it starts is refused with the API's reason.
    page.locator("#ex-kind").select_option("leave")
    page.locator("#ex-day").fill(today)
    page.locator("#ex-to").fill((paris.date() - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Ajouter").click()
    expect(page.locator("#ex-result")).to_have_class(re.compile("bad"))
    expect(page.locator("#ex-result")).to_contain_text("ends before it starts")

    omar.get_by_role("button", name=f"retirer sick {today}").click()
    expect(page.locator("#ex-result")).to_have_text(f"retiré : sick {today}")
    expect(omar.locator(".exception.added")).to_have_count(0)
    expect(today_ten).to_have_text("2 / 0")

    # Nina's week changed from the page (a dialog), then put back.
    nina = page.locator('#hotliners tr[data-agent="nina"]')
    nina.get_by_role("button", name="Modifier").click()
    page.locator("#shifts-text").fill("mon-fri 08:00-16:00\nsat 09:00-12:00")
    shot(page, "shifts-dialog")
    page.get_by_role("button", name="Enregistrer").click()
    expect(nina).to_contain_text("mon-fri 08:00-16:00 · sat 09:00-12:00")
    expect(nina).to_contain_text("(modifiés ici)")
    nina.get_by_role("button", name="Modifier").click()
    expect(page.locator("#shifts-configured")).to_contain_text("daily 00:00-00:00")
    page.get_by_role("button", name="Comme dans hotliners.yaml").click()
    expect(nina).to_contain_text("daily 00:00-00:00")
    expect(nina).not_to_contain_text("modifiés ici")

    # Omar takes a long call; meanwhile he is put on leave since yesterday:
    # his shift is over, he finishes the call, and the wallboard flags him
    # (still logged in more than a quarter of an hour after his shift).
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    hotline.carrier.add_hotliner(
        HotlinerProfile(
            agent_id="omar",
            endpoint="client:omar",
            answer_after_seconds=1.0,
            talk_seconds=900.0,  # 90 real seconds
            console=console,
        )
    )
    console.set_state("omar", "available")
    hotline.carrier.place_call(
        CallerScript(from_number="+33611000009", inputs=[Digits("4")])
    )
    wait_for(
        lambda: console.agent("omar").get("state") == "busy", 30.0, "Omar on a call"
    )
    yesterday = (paris.date() - timedelta(days=1)).isoformat()
    page.locator("#ex-agent").select_option("omar")
    page.locator("#ex-kind").select_option("leave")
    page.locator("#ex-day").fill(yesterday)
    page.locator("#ex-to").fill(today)
    page.get_by_role("button", name="Ajouter").click()
    expect(page.locator("#ex-result")).to_have_text(
        f"ajouté : leave {yesterday}..{today}"
    )
    page.goto(f"{hotline.url}/supervisor")
    row = page.locator('#hotliners tr[data-agent="omar"]')
    expect(row).to_have_attribute("data-state", "busy")
    expect(row).to_have_class(re.compile("late"), timeout=15_000)
    expect(row.locator(".late")).to_contain_text("fin de service")
    page.screenshot(path=str(OUTPUT / "wallboard-late.png"), full_page=True)
    assert problems == []
