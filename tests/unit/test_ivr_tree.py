"""What keys and words mean at the example tree's first menu."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import MenuNode, load_ivr_tree
from ivr.tree import InputKind, interpret

CONFIG = Path(__file__).resolve().parents[2] / "config"
QUEUES = {"software", "printer", "network", "email", "account", "hardware", "general"}


@pytest.fixture(scope="module")
def menu() -> MenuNode:
    tree = load_ivr_tree(CONFIG / "ivr.yaml", ("fr-FR", "en-US"), QUEUES)
    node = tree.nodes[tree.start]
    assert isinstance(node, MenuNode)
    return node


def test_a_valid_key_chooses_its_option(menu: MenuNode) -> None:
    heard = interpret(menu, "2", None, "fr-FR")
    assert heard.kind is InputKind.CHOSEN
    assert heard.option is not None
    assert heard.option.goto == "menu_imprimante"


@pytest.mark.parametrize("digits", ["7", "0", "22", "a", "٣"])
def test_keys_that_mean_nothing_are_invalid(menu: MenuNode, digits: str) -> None:
    assert interpret(menu, digits, None, "fr-FR").kind is InputKind.INVALID


def test_star_repeats_and_hash_goes_back(menu: MenuNode) -> None:
    assert interpret(menu, "*", None, "fr-FR").kind is InputKind.REPEAT
    assert interpret(menu, "#", None, "fr-FR").kind is InputKind.BACK


def test_silence_is_no_input(menu: MenuNode) -> None:
    assert interpret(menu, None, None, "fr-FR").kind is InputKind.NO_INPUT
    assert interpret(menu, "", "   ", "fr-FR").kind is InputKind.NO_INPUT


@pytest.mark.parametrize(
    ("speech", "goto"),
    [
        ("mon imprimante n'imprime plus", "menu_imprimante"),
        ("J'AI PLUS INTERNET", "menu_reseau"),
        ("je n'arrive pas à installer un logiciel", "file_logiciel"),
        ("mon mot de passe est bloqué", "menu_compte"),
        ("Outlook ne s'ouvre plus", "file_messagerie"),
        ("l'écran reste noir", "file_materiel"),
        ("deux", "menu_imprimante"),
    ],
)
def test_spoken_problems_reach_the_right_option(
    menu: MenuNode, speech: str, goto: str
) -> None:
    heard = interpret(menu, None, speech, "fr-FR")
    assert heard.option is not None, speech
    assert heard.option.goto == goto


def test_unrelated_words_are_invalid(menu: MenuNode) -> None:
    assert interpret(menu, None, "quelle heure est-il", "fr-FR").kind is (
        InputKind.INVALID
    )
