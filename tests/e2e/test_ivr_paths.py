"""Every path of the shipped voice menu, walked by simulated callers.

Paths are generated from `config/ivr.yaml` itself (keypad and speech), so a
new branch of the tree is walked without editing this file. Each call is
checked twice: what the caller heard (the carrier's transcript of the TwiML)
and the row the call left in the SQL call log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import bearer

from calllog.models import Call
from core.settings import DEFAULT_CONFIG_DIR
from ivr.config import MenuNode, QueueNode, SelfHelpNode
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile, Silence, Speech
from web.config import load_config

pytestmark = pytest.mark.e2e

SKILLS = (
    "{software: 3, printer: 3, network: 3, email: 3, account: 3, hardware: 3, "
    "general: 3}"
)
HOTLINERS = "hotliners:\n" + "".join(
    f"""  - id: h{n}
    name: "Hotliner {n}"
    endpoint: "client:h{n}"
    skills: {SKILLS}
    shifts: ["daily 00:00-00:00"]
    languages: [fr-FR, en-US]
"""
    for n in range(4)
)
ROUTING = """routing:
  ring_seconds: 10
  wrapup_seconds: 30
callback:
  max_attempts: 1
  retry_seconds: 1
"""
CONFIG = load_config(DEFAULT_CONFIG_DIR)
TREE = CONFIG.ivr


@dataclass
class Walk:
    """One scripted caller and what their call must show."""

    name: str
    inputs: list[Digits | Speech | Silence]
    status: str
    queue: str | None = None
    outcome: str | None = None
    selfhelp: str | None = None
    language: str = "fr-FR"
    heard: list[str] = field(default_factory=list)


def menu_paths(lang: str = "fr-FR") -> list[tuple[list[tuple[MenuNode, str]], str]]:
    """(menus and keys taken, leaf node id) for every leaf of the tree."""
    found: list[tuple[list[tuple[MenuNode, str]], str]] = []

    def visit(node_id: str, trail: list[tuple[MenuNode, str]]) -> None:
        node = TREE.nodes[node_id]
        if isinstance(node, MenuNode):
            for option in node.options:
                if option.goto is not None and option.goto not in {
                    m.id for m, _ in trail
                }:
                    visit(option.goto, [*trail, (node, option.key)])
            return
        found.append((trail, node_id))

    visit(TREE.start, [])
    return found


def keys(trail: list[tuple[MenuNode, str]]) -> list[Digits | Speech | Silence]:
    return [Digits(key) for _, key in trail]


def spoken(
    trail: list[tuple[MenuNode, str]], lang: str
) -> list[Digits | Speech | Silence]:
    """The same path said aloud: each option's label (its own words)."""
    said: list[Digits | Speech | Silence] = []
    for menu, key in trail:
        option = menu.option_for_key(key)
        assert option is not None
        said.append(Speech(option.label[lang]))
    return said


def walks(closed_queue: str) -> list[Walk]:
    out: list[Walk] = []
    for trail, leaf_id in menu_paths():
        leaf = TREE.nodes[leaf_id]
        if isinstance(leaf, QueueNode):
            status = "voicemail" if leaf.queue == closed_queue else "completed"
            extra: list[Digits | Speech | Silence] = (
                [Digits("2")] if leaf.queue == closed_queue else []
            )
            out.append(
                Walk(
                    f"keys to {leaf_id}",
                    keys(trail) + extra,
                    status,
                    queue=None if status == "voicemail" else leaf.queue,
                    outcome="voicemail" if status == "voicemail" else "resolved",
                    heard=[leaf.announce["fr-FR"]]
                    if status == "completed"
                    else ["ouvert du lundi au vendredi"],
                )
            )
            if status == "completed":
                out.append(
                    Walk(
                        f"words to {leaf_id}",
                        spoken(trail, "fr-FR"),
                        "completed",
                        queue=leaf.queue,
                        outcome="resolved",
                    )
                )
        elif isinstance(leaf, SelfHelpNode):
            fault = CONFIG.kb.get(leaf.fault)
            assert fault is not None
            steps = len(fault.self_help)
            target = TREE.nodes[leaf.unresolved]
            assert isinstance(target, QueueNode)
            out.append(
                Walk(
                    f"{leaf_id} fixed at step 1",
                    [*keys(trail), Digits("1")],
                    "self_served",
                    outcome="self_service_resolved",
                    selfhelp=f"{leaf.fault}:1",
                    heard=[
                        fault.self_help[0].text("fr-FR"),
                        "votre problème est réglé",
                    ],
                )
            )
            out.append(
                Walk(
                    f"{leaf_id} not fixed",
                    [*keys(trail)] + [Digits("2")] * steps,
                    "completed",
                    queue=target.queue,
                    outcome="resolved",
                    selfhelp=f"{leaf.fault}:{steps}",
                    heard=["un technicien va prendre le relais"],
                )
            )
    # Bad input, silence and the third failure.
    out.append(
        Walk(
            "invalid key then a valid one",
            [Digits("7"), Digits("6")],
            "completed",
            queue="hardware",
            outcome="resolved",
            heard=["Je n'ai pas compris", "Tapez un chiffre de 1 à 6"],
        )
    )
    out.append(
        Walk(
            "silence then a valid key",
            [Silence(), Digits("6")],
            "completed",
            queue="hardware",
            outcome="resolved",
            heard=["Je n'ai rien entendu"],
        )
    )
    out.append(
        Walk(
            "three failures reach the general queue",
            [Digits("7"), Silence(), Speech("la météo de demain")],
            "completed",
            queue="general",
            outcome="resolved",
            heard=["Nous vous mettons en relation avec un technicien"],
        )
    )
    out.append(
        Walk(
            "star repeats, hash goes back",
            [Digits("2"), Digits("*"), Digits("#"), Digits("6")],
            "completed",
            queue="hardware",
            outcome="resolved",
        )
    )
    # Descriptions: one question when two queues fit, none when one does.
    out.append(
        Walk(
            "a description fitting two queues, then the answer",
            [Speech("mon téléphone ne reçoit plus mes mails"), Digits("2")],
            "completed",
            queue="email",
            outcome="resolved",
            heard=["Pour être sûr", "La messagerie, tapez 2"],
        )
    )
    out.append(
        Walk(
            "a vague description of one kind of problem",
            [Speech("j'ai un souci avec mon imprimante")],
            "completed",
            queue="printer",
            outcome="resolved",
            heard=["technicien impression"],
        )
    )
    out.append(
        Walk(
            "an english description, understood in english",
            [Digits("9"), Speech("my mailbox is full and i cannot send anything")],
            "completed",
            queue="email",
            outcome="resolved",
            language="en-US",
            heard=["We are putting you through to an email technician."],
        )
    )
    # English.
    out.append(
        Walk(
            "english caller",
            [Digits("9"), Digits("4")],
            "completed",
            queue="email",
            outcome="resolved",
            language="en-US",
            heard=[
                "For a software installation problem, press 1",
                "We are putting you through to an email technician.",
            ],
        )
    )
    return out


def closed_window(tz: ZoneInfo) -> str:
    """An opening-hours spec that is closed right now (opens in two hours)."""
    start = datetime.now(tz) + timedelta(hours=2)
    end = start + timedelta(hours=1)
    return f"daily {start:%H}:00-{end:%H}:00"


def test_every_path_of_the_example_tree_by_keys_and_by_words(
    running_hotline: Callable[..., object],
) -> None:
    hours = closed_window(CONFIG.routing.hotline.timezone)
    hotline = running_hotline(
        HOTLINERS,
        ROUTING,
        0.05,
        queues_patch=(
            'opening_hours: ["mon-fri 07:00-21:00", "sat 08:00-13:00"]',
            f'opening_hours: ["{hours}"]',
        ),
    )
    carrier = hotline.carrier  # type: ignore[attr-defined]
    console = AgentConsoleClient(hotline.url, token=hotline.token)  # type: ignore[attr-defined]
    for n in range(4):
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=f"h{n}",
                endpoint=f"client:h{n}",
                answer_after_seconds=1.0,
                talk_seconds=10.0,
                outcome="resolved",
                console=console,
            )
        )
    plan = walks(closed_queue="software")
    handles = {}
    for n, walk in enumerate(plan):
        handle = carrier.place_call(
            CallerScript(
                from_number=f"+3364{n:07d}",
                inputs=walk.inputs,
                voicemail_seconds=5.0,
                voicemail_finish_key="#",
            )
        )
        handles[handle.sid] = (walk, handle)
        time.sleep(0.05)
    assert carrier.wait_idle(timeout=240.0)
    assert carrier.errors == []

    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]
    final = {"completed", "self_served", "voicemail", "abandoned"}

    def settled() -> dict[str, Call]:
        with Session(engine) as session:
            return {
                r.call_sid: r
                for r in session.scalars(select(Call)).all()
                if r.status in final and (r.status != "completed" or r.outcome)
            }

    deadline = time.monotonic() + 30
    rows = settled()
    while len(rows) < len(plan) and time.monotonic() < deadline:
        time.sleep(0.25)
        rows = settled()
    engine.dispose()
    problems = []
    for sid, (walk, handle) in handles.items():
        row = rows.get(sid)
        heard = " ".join(e.detail for e in handle.transcript if e.kind == "say")
        got = (
            None
            if row is None
            else (row.status, row.queue, row.outcome, row.selfhelp_tried, row.language)
        )
        want = (walk.status, walk.queue, walk.outcome, walk.selfhelp, walk.language)
        if got != want:
            problems.append(f"{walk.name}: call log {got}, expected {want}")
        for text in walk.heard:
            if text not in heard:
                problems.append(f"{walk.name}: never heard {text!r}")
    assert problems == [], "\n".join(problems)
    assert len(plan) >= 30


def test_incident_message_is_heard_first_confirmed_and_texted_when_resolved(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.05)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    token = hotline.token  # type: ignore[attr-defined]
    console = AgentConsoleClient(url, token=token)
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="h0",
            endpoint="client:h0",
            answer_after_seconds=1.0,
            talk_seconds=10.0,
            outcome="resolved",
            console=console,
        )
    )
    published = requests.post(
        f"{url}/api/incident",
        headers=bearer(token),
        timeout=5,
        json={
            "messages": {
                "fr-FR": "La messagerie est indisponible, retour prévu à 14 heures.",
                "en-US": "Email is down, back at 2 pm.",
            }
        },
    )
    assert published.status_code == 201
    about_it = carrier.place_call(
        CallerScript(from_number="+33650000001", inputs=[Digits("1")])
    )
    other = carrier.place_call(
        CallerScript(from_number="+33650000002", inputs=[Digits("2"), Digits("6")])
    )
    assert carrier.wait_idle(timeout=60.0)
    assert carrier.errors == []
    assert (
        requests.get(f"{url}/api/incident", headers=bearer(token), timeout=5).json()[
            "incident"
        ]["confirmations"]
        == 1
    )
    resolved = requests.delete(
        f"{url}/api/incident", headers=bearer(token), timeout=5
    ).json()
    assert resolved["texted"] == 1
    heard = " ".join(e.detail for e in about_it.transcript if e.kind == "say")
    assert "La messagerie est indisponible" in heard
    assert "SMS" in heard
    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with Session(engine) as session:
            first = session.get(Call, about_it.sid)
            second = session.get(Call, other.sid)
            if (
                first
                and second
                and first.status == "self_served"
                and second.status == "completed"
                and second.outcome == "resolved"
            ):
                break
        time.sleep(0.25)
    assert first is not None
    assert second is not None
    assert (first.status, first.outcome) == ("self_served", "incident_confirmed")
    assert (second.status, second.queue) == ("completed", "hardware")
    engine.dispose()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not carrier.messages:
        time.sleep(0.25)
    assert [m["to"] for m in carrier.messages] == ["+33650000001"]


def test_returning_caller_is_offered_the_same_queue_and_the_calls_are_linked(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.05)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    console = AgentConsoleClient(hotline.url, token=hotline.token)  # type: ignore[attr-defined]
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="h1",
            endpoint="client:h1",
            answer_after_seconds=1.0,
            talk_seconds=10.0,
            outcome="resolved",
            console=console,
        )
    )
    first = carrier.place_call(
        CallerScript(from_number="+33660000001", inputs=[Digits("4")])
    )
    assert carrier.wait_idle(timeout=60.0)
    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]

    def logged(sid: str) -> Call | None:
        with Session(engine) as session:
            row = session.get(Call, sid)
            return row if row is not None and row.outcome else None

    deadline = time.monotonic() + 20
    while logged(first.sid) is None and time.monotonic() < deadline:
        time.sleep(0.25)
    again = carrier.place_call(
        CallerScript(from_number="+33660000001", inputs=[Digits("1")])
    )
    assert carrier.wait_idle(timeout=60.0)
    assert carrier.errors == []
    heard = " ".join(e.detail for e in again.transcript if e.kind == "say")
    assert "Vous nous avez appelé aujourd'hui au sujet de : messagerie" in heard
    deadline = time.monotonic() + 20
    row = logged(again.sid)
    while row is None and time.monotonic() < deadline:
        time.sleep(0.25)
        row = logged(again.sid)
    assert row is not None
    assert (row.queue, row.previous_call_sid, row.agent_id) == (
        "email",
        first.sid,
        "h1",
    )
    engine.dispose()
