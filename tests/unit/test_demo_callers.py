"""The demo's callers walk the shipped tree to a leaf, as a person would."""

from __future__ import annotations

import random
from pathlib import Path

from cli.demo import random_caller
from ivr.config import MenuNode, QueueNode, SelfHelpNode
from ivr.tree import InputKind, interpret
from simulator.scripts import Digits, Speech
from web.config import load_config

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config")


def end_of_walk(inputs: list[Digits | Speech]) -> str:
    """Where the inputs lead: a queue id, or 'fixed' by self-help."""
    node = CONFIG.ivr.nodes[CONFIG.ivr.start]
    pending = list(inputs)
    while pending:
        step = pending.pop(0)
        if isinstance(node, MenuNode):
            heard = interpret(
                node,
                step.keys if isinstance(step, Digits) else None,
                step.text if isinstance(step, Speech) else None,
                "fr-FR",
            )
            assert heard.kind is InputKind.CHOSEN, (inputs, node.id, step)
            assert heard.option is not None
            assert heard.option.goto is not None
            node = CONFIG.ivr.nodes[heard.option.goto]
        elif isinstance(node, SelfHelpNode):
            if isinstance(step, Digits) and step.keys == "1":
                return "fixed"
            fault = CONFIG.kb.get(node.fault)
            assert fault is not None
            for _ in range(len(fault.self_help) - 1):
                pending.pop(0)
            node = CONFIG.ivr.nodes[node.unresolved]
    assert isinstance(node, QueueNode), (inputs, node.id)
    return node.queue


def test_demo_callers_reach_a_queue_or_are_fixed_by_self_help() -> None:
    rng = random.Random(11)
    ends = {
        end_of_walk(random_caller(CONFIG, rng).inputs)  # type: ignore[arg-type]
        for _ in range(300)
    }
    assert "fixed" in ends
    assert {"printer", "network", "email", "account", "hardware", "software"} <= ends
