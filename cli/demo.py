"""The demo a new user sees: simulated hotliners on shift and a trickle of calls.

Runs inside `hotline run` when no Twilio credentials are set. Callers pick
menu options at random (keys or words), some hang up while waiting, hotliners
answer after a few seconds, talk, and record an outcome through the API.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime

from agents.shifts import is_on_shift
from ivr.config import MenuNode, SelfHelpNode
from simulator.carrier import Carrier
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile, Speech
from web.config import HotlineConfig

log = logging.getLogger(__name__)

OUTCOMES = (
    "resolved",
    "resolved",
    "resolved",
    "remote_takeover",
    "escalated",
    "callback",
)


def register_hotliners(
    carrier: Carrier, config: HotlineConfig, app_url: str, rng: random.Random
) -> list[str]:
    """Give every hotliner on shift now a simulated person at the console."""
    tz = config.routing.hotline.timezone
    now = datetime.now(tz=UTC)
    started: list[str] = []
    for hotliner in config.routing.hotliners.values():
        if not is_on_shift(hotliner.shifts, now, tz):
            continue
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=hotliner.id,
                endpoint=hotliner.endpoint,
                answer_after_seconds=rng.uniform(1.0, 4.0),
                answers=True,
                talk_seconds=rng.uniform(20.0, 60.0),
                outcome=rng.choice(OUTCOMES),
                console=AgentConsoleClient(app_url),
            )
        )
        started.append(hotliner.id)
    return started


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
