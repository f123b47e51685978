"""The demo a new user sees: simulated hotliners on shift and a trickle of calls.

Runs inside `hotline run` when no Twilio credentials are set. Callers pick
menu options at random (keys or words), some hang up while waiting, hotliners
answer after a few seconds, talk, and record an outcome through the API.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from datetime import UTC, datetime

from accounts.roles import Role
from accounts.store import AccountStore
from calllog.db import create_db_engine
from core.settings import Settings
from ivr.config import MenuNode, SelfHelpNode
from simulator.carrier import Carrier
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile, Speech
from web.config import HotlineConfig

log = logging.getLogger(__name__)

#: The demo supervisor's login.
DEMO_SUPERVISOR = "superviseur"

OUTCOMES = (
    "resolved",
    "resolved",
    "resolved",
    "remote_takeover",
    "escalated",
    "callback",
)


def demo_accounts(
    settings: Settings, config: HotlineConfig
) -> tuple[list[str], dict[str, str]]:
    """Accounts a new user can log in with, in simulation only.

    A supervisor `superviseur` and one account per hotliner, with passwords
    made anew at each run (printed by `hotline run`), and an API token per
    hotliner for their simulated console. Returns (login lines, tokens).
    """
    engine = create_db_engine(settings.effective_database_url)
    try:
        store = AccountStore(engine)
        store.add_hotliners((h.id, h.name) for h in config.routing.hotliners.values())
        if store.get(DEMO_SUPERVISOR) is None:
            store.add(DEMO_SUPERVISOR, "Superviseur (démo)", Role.SUPERVISOR)
        supervisor_password = secrets.token_urlsafe(9)
        store.set_password(DEMO_SUPERVISOR, supervisor_password)
        hotliner_password = secrets.token_urlsafe(9)
        tokens: dict[str, str] = {}
        for agent_id in config.routing.hotliners:
            store.set_password(agent_id, hotliner_password)
            tokens[agent_id] = store.issue_token(agent_id)
    finally:
        engine.dispose()
    ids = ", ".join(config.routing.hotliners)
    return (
        [
            f"supervisor  {DEMO_SUPERVISOR} / {supervisor_password}",
            f"hotliners   {ids} / {hotliner_password}",
        ],
        tokens,
    )


def register_hotliners(
    carrier: Carrier,
    config: HotlineConfig,
    app_url: str,
    rng: random.Random,
    tokens: dict[str, str],
) -> list[str]:
    """Give every hotliner on shift now a simulated person at the console
    (using that hotliner's own API token)."""
    now = datetime.now(tz=UTC)
    started: list[str] = []
    for hotliner in config.routing.hotliners.values():
        if not config.routing.roster.on_shift(hotliner.id, now):
            continue
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=hotliner.id,
                endpoint=hotliner.endpoint,
                answer_after_seconds=rng.uniform(1.0, 4.0),
                answers=True,
                talk_seconds=rng.uniform(20.0, 60.0),
                outcome=rng.choice(OUTCOMES),
                console=AgentConsoleClient(app_url, token=tokens.get(hotliner.id)),
            )
        )
        started.append(hotliner.id)
    return started


def register_on_call(carrier: Carrier, config: HotlineConfig) -> list[str]:
    """Simulated people behind the on-call numbers (`on_call` in
    `hotliners.yaml`): in simulation, an external transfer reaches someone
    who answers, listens to the briefing and talks with the caller."""
    for entry in config.routing.on_call.values():
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=entry.id,
                endpoint=entry.number,
                answer_after_seconds=4.0,
                talk_seconds=180.0,
            )
        )
    return list(config.routing.on_call)


def random_caller(config: HotlineConfig, rng: random.Random) -> CallerScript:
    """A caller who walks the tree like a person: keys or words, self-help tried.

    From the start menu they pick options at random down to a leaf (a third of
    them say the option's word instead of pressing its key); at a self-help
    node, one in three is fixed by the first step, the others say no to each.
    """
    inputs: list[Digits | Speech] = []
    node = config.ivr.nodes[config.ivr.start]
    for _ in range(10):  # trees are shallow; never loop for ever
        if isinstance(node, MenuNode):
            options = [o for o in node.options if o.goto is not None]
            option = rng.choice(options)
            words = option.keywords.get("fr-FR", ())
            inputs.append(
                Speech(rng.choice(words))
                if words and rng.random() < 0.3
                else Digits(option.key)
            )
            assert option.goto is not None
            node = config.ivr.nodes[option.goto]
        elif isinstance(node, SelfHelpNode):
            fault = config.kb.get(node.fault)
            steps = len(fault.self_help) if fault else 0
            if rng.random() < 0.33:
                inputs.append(Digits("1"))
                break
            inputs.extend(Digits("2") for _ in range(steps))
            node = config.ivr.nodes[node.unresolved]
        else:
            break
    return CallerScript(
        from_number=f"+336{rng.randrange(10**7, 10**8)}",
        inputs=list(inputs),
        patience_seconds=rng.uniform(30.0, 240.0),
        voicemail_seconds=rng.uniform(5.0, 20.0),
        voicemail_finish_key="#",
    )


def trickle(
    carrier: Carrier,
    config: HotlineConfig,
    stop: threading.Event,
    calls_per_minute: float,
    rng: random.Random,
) -> None:
    """Place calls at random (Poisson) intervals until stopped."""
    while not stop.is_set():
        try:
            carrier.place_call(random_caller(config, rng))
        except Exception:  # noqa: BLE001 - the demo keeps going
            log.exception("demo call failed to start")
        stop.wait(rng.expovariate(calls_per_minute / 60.0))
