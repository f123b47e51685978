"""Searching the knowledge base from what callers say, in French."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.yamlfile import load_yaml
from ivr.errors import UnknownProblemTypeError
from ivr.kb import SYNONYMS_FILE, ProblemType, load_knowledge_base
from ivr.search import Analyzer, KbSearch, fold, load_synonyms, stem, tokenize

ROOT = Path(__file__).resolve().parents[2]
KB_FOLDER = ROOT / "config" / "kb"
PHRASES = ROOT / "tests" / "data" / "kb_phrases.yaml"


@pytest.fixture(scope="module")
def search() -> KbSearch:
    kb = load_knowledge_base(KB_FOLDER)
    return KbSearch.from_kb(kb, load_synonyms(KB_FOLDER / SYNONYMS_FILE))


@pytest.fixture(scope="module")
def analyzer(search: KbSearch) -> Analyzer:
    return search.analyzer


def test_folding_removes_accents_ligatures_and_case() -> None:
    assert fold("Éteignez l’Œil DÉJÀ") == "eteignez l'oeil deja"


def test_elided_articles_and_pronouns_are_removed() -> None:
    assert tokenize("L'imprimante d'Hélène qu’il n'a jamais") == [
        "imprimante",
        "helene",
        "il",
        "a",
        "jamais",
    ]


def test_word_inside_aujourd_hui_is_not_taken_for_an_elision() -> None:
    assert tokenize("aujourd'hui") == ["aujourd", "hui"]


def test_inflected_forms_share_one_stem() -> None:
    assert stem("imprimante") == stem("imprimantes") == stem("imprimer")
    assert stem("connecter") == stem("connecte")


def test_phrase_without_accents_or_in_capitals_gives_the_same_terms(
    analyzer: Analyzer,
) -> None:
    expected = analyzer.terms("Mon écran reste noir après la mise à jour")
    assert analyzer.terms("MON ECRAN RESTE NOIR APRES LA MISE A JOUR") == expected


def test_stopwords_and_call_filler_are_dropped(analyzer: Analyzer) -> None:
    assert analyzer.terms("bonjour, ça ne marche pas du tout") == []


def test_caller_vocabulary_is_rewritten_to_the_fiche_terms(analyzer: Analyzer) -> None:
    assert analyzer.terms("mdp") == analyzer.terms("mot de passe")
    assert analyzer.terms("mon ordi") == analyzer.terms("mon ordinateur")
    assert analyzer.terms("le wi-fi") == analyzer.terms("le réseau sans fil")
    assert analyzer.terms("un courriel") == analyzer.terms("un e-mail")


def test_synonym_phrases_match_only_as_whole_phrases(analyzer: Analyzer) -> None:
    assert analyzer.terms("il ne se passe rien") == analyzer.terms("rien")
    assert analyzer.terms("sans fil") != analyzer.terms("fil")


def test_search_ranks_the_described_fault_first(search: KbSearch) -> None:
    hits = search.search("mon imprimante n'imprime plus rien")

    assert hits[0].fault_id == "printer-offline"
    assert hits[0].problem_type is ProblemType.PRINTER
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_returns_at_most_limit_hits(search: KbSearch) -> None:
    assert len(search.search("écran", limit=1)) == 1
    assert len(search.search("imprimante écran mot de passe wifi", limit=5)) == 5


def test_search_can_be_restricted_to_one_problem_type(search: KbSearch) -> None:
    hits = search.search("mon poste est bloqué", limit=10, problem_type="account")

    assert hits
    assert {hit.problem_type for hit in hits} == {ProblemType.ACCOUNT}


def test_search_for_an_unknown_problem_type_is_refused(search: KbSearch) -> None:
    with pytest.raises(UnknownProblemTypeError):
        search.search("imprimante", problem_type="fax")


def test_search_finds_nothing_for_words_outside_the_base(search: KbSearch) -> None:
    assert search.search("zorglub blabla") == []
    assert search.search("") == []


@pytest.mark.parametrize(
    ("phrase", "problem_type"),
    [
        ("mon imprimante n'imprime plus", "printer"),
        ("ça imprime des pages blanches", "printer"),
        ("plus de wifi depuis ce matin", "network"),
        ("le VPN ne marche pas de chez moi", "remote_access"),
        ("mon outlook plante au démarrage", "email"),
        ("j'ai oublié mon mot de passe", "account"),
        ("mon compte est verrouillé", "account"),
        ("mon ordi rame", "hardware"),
        ("écran bleu", "hardware"),
        ("Teams ne se lance pas", "software"),
    ],
)
def test_classify_maps_typical_phrases_to_their_problem_type(
    search: KbSearch, phrase: str, problem_type: str
) -> None:
    assert search.classify(phrase) == problem_type


@pytest.mark.parametrize(
    "phrase",
    ["", "euh", "zorglub blabla flurp", "bonjour c'est pour un problème"],
)
def test_classify_says_none_when_nothing_fits(search: KbSearch, phrase: str) -> None:
    assert search.classify(phrase) is None


def test_caller_phrase_set_meets_the_accuracy_targets(search: KbSearch) -> None:
    data, _ = load_yaml(PHRASES)
    phrases = [(p["text"], p["fault"]) for p in data["phrases"]]
    assert len(phrases) >= 45

    top1 = top3 = 0
    for text, expected in phrases:
        ids = [hit.fault_id for hit in search.search(text, limit=3)]
        top1 += ids[:1] == [expected]
        top3 += expected in ids

    assert top1 / len(phrases) >= 0.80
    assert top3 / len(phrases) >= 0.95


def test_search_of_a_short_phrase_takes_well_under_a_millisecond(
    search: KbSearch,
) -> None:
    phrase = "mon imprimante affiche hors ligne depuis ce matin"
    search.search(phrase)  # stems are cached after the first time
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        search.search(phrase)

    assert (time.perf_counter() - started) / rounds < 0.001


def write_synonyms(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "synonyms.yaml"
    path.write_text("synonyms:\n" + body, encoding="utf-8")
    return path


def test_shipped_synonyms_load() -> None:
    synonyms = load_synonyms(KB_FOLDER / SYNONYMS_FILE)

    assert "mdp" in synonyms["mot de passe"]


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("  wifi: wi-fi\n", 2, "variants must be a non-empty list"),
        ("  wifi: []\n", 2, "variants must be a non-empty list"),
        ("  wifi: [wi-fi, 3]\n", 2, "every variant must be a non-empty string"),
        ("  wifi: [wi-fi]\n  réseau: [wi fi]\n", 3, "already a synonym of 'wifi'"),
        ("  wifi: [wi-fi]\n  réseau: [wifi]\n", 3, "already a synonym of 'wifi'"),
        ("  imprimer: [imprimante]\n", 2, "same as 'imprimer'"),
        ("  ordinateur: [le, pc]\n", 2, "only a stopword"),
        ("  le: [la]\n", 2, "meaningful word"),
        ("  wifi: [wi-fi]\n  wifi: [wlan]\n", 3, "duplicate key"),
    ],
)
def test_malformed_synonyms_are_refused_with_file_and_line(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = write_synonyms(tmp_path, body)

    with pytest.raises(ConfigError) as caught:
        load_synonyms(path)

    assert (caught.value.path, caught.value.line) == (str(path), line)
    assert reason in caught.value.reason


def test_synonyms_file_without_the_synonyms_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.yaml"
    path.write_text("wifi: [wi-fi]\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="one key, 'synonyms'"):
        load_synonyms(path)


def test_only_the_first_words_of_a_long_phrase_are_searched(search: KbSearch) -> None:
    """Kilobytes of recognised noise must not cost a webhook more than a
    sentence: words past `MAX_QUERY_WORDS` are not looked at."""
    from ivr.search import MAX_QUERY_WORDS

    noise = " ".join(f"zorglub{n}" for n in range(MAX_QUERY_WORDS))
    assert search.search(f"{noise} bourrage papier") == []
    assert search.search(f"bourrage papier {noise}")[0].fault_id == "printer-paper-jam"
