"""Yes or no, words that describe a known fault, and when the caller last called."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.config import IvrTree, MenuNode, load_ivr_tree
from ivr.kb import SYNONYMS_FILE, load_knowledge_base
from ivr.prompts import days_ago
from ivr.search import KbSearch, load_synonyms
from ivr.tree import (
    Answer,
    is_description,
    option_for_problem,
    yes_or_no,
)
from ivr.triage import PlaceMap, Verdict, triage

CONFIG = Path(__file__).resolve().parents[2] / "config"
LANGUAGES = ("fr-FR", "en-US")
QUEUES = {"software", "printer", "network", "email", "account", "hardware", "general"}
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def search() -> KbSearch:
    kb = load_knowledge_base(CONFIG / "kb", LANGUAGES)
    return KbSearch.from_kb(kb, load_synonyms(CONFIG / "kb" / SYNONYMS_FILE))


@pytest.fixture(scope="module")
def tree() -> IvrTree:
    kb = load_knowledge_base(CONFIG / "kb", LANGUAGES)
    return load_ivr_tree(CONFIG / "ivr.yaml", LANGUAGES, QUEUES, kb)


@pytest.mark.parametrize(
    ("digits", "speech", "answer"),
    [
        ("1", None, Answer.YES),
        ("2", None, Answer.NO),
        (None, "Oui", Answer.YES),
        (None, "C'est réglé !", Answer.YES),
        (None, "ça marche", Answer.YES),
        (None, "No.", Answer.NO),
        ("1", "non", Answer.YES),
        ("7", None, Answer.INVALID),
        (None, "peut-être", Answer.INVALID),
        ("", "", Answer.NO_INPUT),
        (None, None, Answer.NO_INPUT),
    ],
)
def test_a_yes_no_question_is_answered_by_a_key_or_a_word(
    digits: str | None, speech: str | None, answer: Answer
) -> None:
    assert yes_or_no(digits, speech) is answer


def test_only_words_long_enough_describe_a_fault() -> None:
    assert is_description(None, "mon imprimante est hors ligne")
    assert not is_description(None, "imprimante")
    assert not is_description("2", "mon imprimante est hors ligne")


def start_menu(tree: IvrTree) -> MenuNode:
    start = tree.nodes[tree.start]
    assert isinstance(start, MenuNode)
    return start


def test_words_clearly_describing_a_fault_lead_to_its_self_help(
    search: KbSearch, tree: IvrTree
) -> None:
    decided = triage(
        search, PlaceMap(tree), start_menu(tree), "mon imprimante est hors ligne"
    )
    assert decided.verdict is Verdict.ROUTE
    assert decided.first is not None
    assert (decided.first.fault, decided.first.node) == (
        "printer-offline",
        "aide_imprimante_hors_ligne",
    )


def test_a_fault_without_self_help_in_the_tree_leads_to_its_queue(
    search: KbSearch, tree: IvrTree
) -> None:
    decided = triage(
        search, PlaceMap(tree), start_menu(tree), "ordinateur très lent au démarrage"
    )
    assert decided.first is not None
    assert (decided.first.fault, decided.first.node) == ("pc-slow", "file_materiel")


def test_no_clear_fault_goes_to_the_queue_and_no_problem_to_the_menu(
    search: KbSearch, tree: IvrTree
) -> None:
    places = PlaceMap(tree)
    # printer-offline and printer-no-driver score alike: the printer queue.
    vague = triage(search, places, start_menu(tree), "mon imprimante ne marche pas")
    assert vague.verdict is Verdict.ROUTE
    assert vague.first is not None
    assert vague.first.node == "file_imprimante"
    nothing = triage(search, places, start_menu(tree), "bonjour je voudrais de l'aide")
    assert nothing.verdict is Verdict.MENU


def test_words_no_keyword_matched_choose_the_option_for_their_problem(
    search: KbSearch, tree: IvrTree
) -> None:
    start = tree.nodes[tree.start]
    assert isinstance(start, MenuNode)
    printer = next(o for o in start.options if "printer" in o.problem_types)
    words = "mon imprimante ne marche pas"
    assert option_for_problem(start, search, words) == printer.goto
    assert option_for_problem(start, search, "bonjour") is None


@pytest.mark.parametrize(
    ("then", "lang", "wording"),
    [
        (datetime(2026, 12, 2, 5, 0, tzinfo=UTC), "fr-FR", "aujourd'hui"),
        # 23:30 in Paris the evening before is "yesterday", though 6.5 h ago.
        (datetime(2026, 12, 1, 22, 30, tzinfo=UTC), "fr-FR", "hier"),
        (datetime(2026, 12, 1, 22, 30, tzinfo=UTC), "en-US", "yesterday"),
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), "fr-FR", "il y a 4 jours"),
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), "en-US", "4 days ago"),
        # A clock a little ahead never says "in the future".
        (datetime(2026, 12, 3, 12, 0, tzinfo=UTC), "en-US", "today"),
    ],
)
def test_the_last_call_is_worded_in_calendar_days_of_the_hotline(
    then: datetime, lang: str, wording: str
) -> None:
    now = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    assert days_ago(lang, then, now, PARIS) == wording
