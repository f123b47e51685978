"""One decision per utterance (`ivr.triage`), the respelling of what speech
recognition writes (`ivr.respell`) and the speech hints (`ivr.hints`), on the
shipped configuration."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from core.settings import DEFAULT_CONFIG_DIR
from ivr.config import MenuNode
from ivr.hints import MAX_HINT_LENGTH, MAX_HINTS, MENU_HINTS, menu_hints
from ivr.kb import PROBLEM_TYPES
from ivr.prompts import PHRASES, PROBLEM_NAMES, phrase, problem_name
from ivr.respell import Respeller, sound
from ivr.triage import (
    Triage,
    Verdict,
    answer_between,
    destination,
    place_of,
    triage,
)
from web.config import HotlineConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> HotlineConfig:
    return load_config(DEFAULT_CONFIG_DIR)


@pytest.fixture(scope="module")
def start(config: HotlineConfig) -> MenuNode:
    node = config.ivr.nodes[config.ivr.start]
    assert isinstance(node, MenuNode)
    return node


def decide(
    config: HotlineConfig, start: MenuNode, text: str, lang: str = "fr-FR"
) -> Triage:
    return triage(config.search_in(lang), config.places, start, text)


def test_a_clear_description_goes_straight_to_its_self_help(
    config: HotlineConfig, start: MenuNode
) -> None:
    decided = decide(config, start, "mon imprimante affiche bourrage papier")
    assert decided.verdict is Verdict.ROUTE
    assert decided.first is not None
    assert (decided.first.node, decided.first.fault) == (
        "aide_bourrage",
        "printer-paper-jam",
    )
    assert decided.confidence > 0.8


def test_a_kind_of_problem_without_a_fault_goes_to_its_queue_unasked(
    config: HotlineConfig, start: MenuNode
) -> None:
    decided = decide(config, start, "j'ai un souci avec mon imprimante")
    assert decided.verdict is Verdict.ROUTE
    assert decided.first is not None
    assert decided.first.node == "file_imprimante"  # not one fault's self-help


def test_two_queues_that_fit_as_well_are_asked_about(
    config: HotlineConfig, start: MenuNode
) -> None:
    decided = decide(config, start, "mon téléphone ne reçoit plus mes mails")
    assert decided.verdict is Verdict.ASK
    assert decided.first is not None
    assert decided.second is not None
    ends = {destination(config.ivr, p.node) for p in (decided.first, decided.second)}
    assert ends == {"file_materiel", "file_messagerie"}
    assert 0.5 <= decided.confidence < 1


def test_words_the_knowledge_base_does_not_know_leave_the_menu(
    config: HotlineConfig, start: MenuNode
) -> None:
    decided = decide(config, start, "zorglub blabla truc")
    assert decided.verdict is Verdict.MENU
    assert decided.first is None
    assert decided.confidence == 0


def test_an_english_caller_is_understood_in_english(
    config: HotlineConfig, start: MenuNode
) -> None:
    decided = decide(config, start, "my outlook inbox is full", "en-US")
    assert decided.verdict is Verdict.ROUTE
    assert decided.first is not None
    assert decided.first.fault == "mailbox-full"
    assert destination(config.ivr, decided.first.node) == "file_messagerie"


def test_a_fault_without_self_help_goes_past_the_sub_menu_to_the_queue(
    config: HotlineConfig, start: MenuNode
) -> None:
    # The printer option opens a sub-menu that would ask what was just said.
    assert place_of(config.ivr, start, "printer-no-driver", "printer") == (
        "file_imprimante"
    )
    assert place_of(config.ivr, start, "printer-paper-jam", "printer") == (
        "aide_bourrage"
    )
    assert place_of(config.ivr, start, "mobile-broken", "mobile") == "file_materiel"


@pytest.mark.parametrize(
    ("digits", "speech", "picked"),
    [
        ("1", None, "aide_wifi"),
        ("2", None, "aide_imprimante_hors_ligne"),
        ("3", None, None),
        (None, "le premier", "aide_wifi"),
        (None, "deux", "aide_imprimante_hors_ligne"),
        (None, "c'est l'imprimante", "aide_imprimante_hors_ligne"),
        (None, "le wifi", "aide_wifi"),
        (None, "ni l'un ni l'autre", None),
        (None, "", None),
    ],
)
def test_the_answer_to_the_one_question_picks_a_place_or_none(
    config: HotlineConfig,
    start: MenuNode,
    digits: str | None,
    speech: str | None,
    picked: str | None,
) -> None:
    assert (
        answer_between(
            config.search,
            config.places,
            start,
            digits,
            speech,
            "aide_wifi",
            "aide_imprimante_hors_ligne",
        )
        == picked
    )


def test_speech_recognition_spellings_are_brought_back_to_known_words() -> None:
    respeller = Respeller(["teams", "softphone", "onedrive", "imprimante"])
    assert respeller.respell(["tims", "veut", "pas"]) == ["teams", "veut", "pas"]
    assert respeller.respell(["softfone"]) == ["softphone"]
    assert respeller.respell(["one", "drive"]) == ["onedrive"]
    assert respeller.respell(["imprimente"]) == ["imprimante"]  # spelt nearly
    assert respeller.respell(["bon", "zorglub"]) == ["bon", "zorglub"]  # unknown
    assert sound("teams") == sound("tims")


def test_every_problem_type_has_a_name_for_the_question_in_every_language() -> None:
    for lang in PHRASES:
        assert set(PROBLEM_NAMES[lang]) == set(PROBLEM_TYPES)
        question = phrase(
            lang,
            "which",
            first=problem_name(lang, "printer"),
            second=problem_name(lang, "network"),
        )
        assert "1" in question
        assert "2" in question


def test_hints_stay_within_twilios_limits_and_start_with_the_menu(
    config: HotlineConfig, start: MenuNode
) -> None:
    for lang in config.ivr.languages:
        hints = menu_hints(start, lang, config.hints[lang]).split(", ")
        assert len(hints) <= MAX_HINTS
        assert all(0 < len(h) <= MAX_HINT_LENGTH for h in hints)
        assert len({h.lower() for h in hints}) == len(hints)
        first_option = start.options[0]
        assert hints[0] == first_option.keywords[lang][0]
        assert len(hints) == MENU_HINTS  # the knowledge base's words too
    assert "imprimante" in config.hints["fr-FR"]
    assert "outlook" in config.hints["en-US"]


def test_the_blind_set_is_the_one_frozen_before_tuning() -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_triage", ROOT / "bench" / "triage.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_triage"] = bench
    spec.loader.exec_module(bench)
    blind = ROOT / "tests" / "data" / "triage" / "blind.yaml"
    assert hashlib.sha256(blind.read_bytes()).hexdigest() == bench.BLIND_SHA256
    phrases = bench.load_set("blind")
    assert sum(p.lang == "fr-FR" for p in phrases) >= 300
    assert sum(p.lang == "en-US" for p in phrases) >= 60
    assert {p.problem_type for p in phrases} == set(PROBLEM_TYPES)
    tuning = {p.text for p in bench.load_set("tuning")}
    assert not tuning & {p.text for p in phrases}  # never moved across
