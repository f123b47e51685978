"""Lexical search of the knowledge base from what a caller says, in French.

Callers are stressed and lack the words (DOMAIN.md): "mon ordi rame", "plus de
wifi". A BM25 (Okapi) ranking over each fault's French title, symptoms and
keywords, with French analysis, finds the known fault behind such a phrase
and the IVR menu option it belongs to, with no model to download or load.

Analysis, the same for faults and phrases: lowercase, accent folding, elision
removal (l', qu'...), synonym rewriting (caller vocabulary to the terms of the
fiches, from `config/kb/synonyms.yaml`), stopword removal, Snowball French
stemming. The index is built once at configuration load; a search only adds
precomputed per-term weights, so it stays far below a millisecond.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import snowballstemmer

from core.errors import ConfigError
from core.yamlfile import load_yaml
from ivr.kb import (
    Fault,
    FaultId,
    KnowledgeBase,
    ProblemType,
    parse_problem_type,
)
from ivr.respell import Respeller

Synonyms = Mapping[str, tuple[str, ...]]
"""Canonical term -> the words or phrases callers use in its place."""

SEARCH_LANGUAGE = "fr-FR"

# Okapi BM25 parameters (the usual defaults) and field weights: a word in the
# title or the keywords says more about the fault than one in a caller phrase.
K1 = 1.2
B = 0.75
FIELD_WEIGHTS: Mapping[str, float] = {"title": 2.0, "symptoms": 1.0, "keywords": 1.5}

# Words of a phrase looked at: a description is a sentence or two, and
# kilobytes of recognised noise must not cost a webhook more (each word the
# index lacks is respelt, ~0.1 ms).
MAX_QUERY_WORDS = 60

# Below this score, `classify` says it does not know rather than guess: one
# rare word matched in a keyword scores about 3.
MIN_CLASSIFY_SCORE = 1.5

# Function words, folded (no accents), plus what every help-desk call says
# and no fault is told apart by ("ça marche pas", "bonjour", "problème").
# "son" is kept: callers say "plus de son" far more than "son ordinateur".
STOPWORDS: frozenset[str] = frozenset(
    """
    a au aux avec ce ceci cela celui ces cet cette ci de des du en et ou ni
    la le les un une y ou mais donc or car que qui quoi dont quand comme si
    je tu il elle on nous vous ils elles me te se lui leur leurs moi toi soi
    mon ma mes ton ta tes sa ses notre nos votre vos
    ne pas plus jamais aucun aucune
    est suis es sont etre ete etait ai as avons avez ont avoir eu
    sur sous dans par pour sans chez entre vers apres avant depuis pendant
    tres trop bien tout tous toute toutes meme aussi deja encore alors puis
    ca c ya voila voici quelque quelques
    bonjour allo merci svp euh ben bah bon oui non
    marche marcher fonctionne fonctionner arrive arriver reussis reussir
    peux peut pouvez veux veut voudrais voulais faut fait faire dit passe
    probleme problemes souci soucis truc machin impossible
    """.split()
)

# l', d', j', qu', n', s', t', m', c', jusqu', lorsqu', puisqu', quoiqu'
_ELISION = re.compile(r"\b(?:jusqu|lorsqu|puisqu|quoiqu|qu|[ldjnstmc])'")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
_TOKEN = re.compile(r"[a-z0-9]+")

# English callers' function words and fillers, and what every call says.
ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    a an the and or but so if then than of to in on at by for with from up
    out about into over after before as is are was were be been being am
    i me my mine we us our you your he him his she her it its they them their
    this that these those there here what which who whom when where why how
    do does did doing done have has had having can could will would should
    may might must shall not no yes don dont doesn doesnt didn didnt won wont
    can cant couldn couldnt isn isnt aren arent wasn wasnt ll ve re
    just really very too also still even again all any some much many more
    hi hello hey please thanks thank um uh er erm like well ok okay oh yeah
    got get gets getting keep keeps kept anymore today morning now
    work works working worked problem problems issue issues trouble thing stuff
    help need want trying tried try
    """.split()
)

# Per language: the Snowball stemmer and the words that tell nothing apart.
_LANGUAGES: dict[str, tuple[str, frozenset[str]]] = {
    "fr": ("french", STOPWORDS),
    "en": ("english", ENGLISH_STOPWORDS),
}
_stemmers = {name: snowballstemmer.stemmer(name) for name, _ in _LANGUAGES.values()}
_stemmer_lock = threading.Lock()


def _language(tag: str) -> tuple[str, frozenset[str]]:
    """(stemmer, stopwords) of a BCP 47 tag; French for any other language."""
    return _LANGUAGES.get(tag.split("-")[0].lower(), _LANGUAGES["fr"])


@lru_cache(maxsize=65536)
def stem(word: str, stemmer: str = "french") -> str:
    """The Snowball stem of one folded word (cached: stemming is slow)."""
    with _stemmer_lock:  # the Snowball stemmer keeps state between calls
        return str(_stemmers[stemmer].stemWord(word))


def fold(text: str) -> str:
    """Lowercase, without accents or ligatures, with straight apostrophes."""
    text = text.lower().translate(_APOSTROPHES).translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    """Folded words, elided articles and pronouns removed ("l'imprimante")."""
    return _TOKEN.findall(_ELISION.sub(" ", fold(text)))


def _keep(token: str, stopwords: frozenset[str] = STOPWORDS) -> bool:
    return token not in stopwords and (len(token) > 1 or token.isdigit())


class Analyzer:
    """Turns text of one language into search terms; the same for faults and
    phrases."""

    __slots__ = ("_rewrites", "_longest", "stemmer", "stopwords")

    def __init__(
        self, synonyms: Synonyms | None = None, language: str = SEARCH_LANGUAGE
    ) -> None:
        self.stemmer, self.stopwords = _language(language)
        # Stem sequence of a variant (stopwords included, so "sans fil" only
        # matches as a phrase) -> one term for the canonical concept: "mot de
        # passe" becomes `mot_pass`, so "il se passe" does not match it. Each
        # canonical maps to itself so a longer match never splits it.
        self._rewrites: dict[tuple[str, ...], str] = {}
        for canonical, variants in (synonyms or {}).items():
            target = "_".join(
                self._stem(t) for t in tokenize(canonical) if self.keep(t)
            )
            for phrase in (canonical, *variants):
                key = tuple(self._stem(t) for t in tokenize(phrase))
                if key and target:
                    self._rewrites.setdefault(key, target)
        self._longest = max((len(k) for k in self._rewrites), default=0)

    def _stem(self, word: str) -> str:
        return stem(word, self.stemmer)

    def keep(self, token: str) -> bool:
        """Whether a folded word can tell faults apart (not a stopword)."""
        return _keep(token, self.stopwords)

    def terms(self, text: str) -> list[str]:
        """The terms of `text`, in order, synonyms rewritten."""
        return self.terms_of(tokenize(text))

    def terms_of(self, tokens: list[str]) -> list[str]:
        """The terms of already folded words (`tokenize`)."""
        stems = [self._stem(t) for t in tokens]
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for size in range(min(self._longest, len(tokens) - i), 0, -1):
                target = self._rewrites.get(tuple(stems[i : i + size]))
                if target is not None:
                    out.append(target)
                    i += size
                    break
            else:
                if self.keep(tokens[i]):
                    out.append(stems[i])
                i += 1
        return out


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One fault that matches a phrase, with its BM25 score (higher is better)."""

    fault_id: FaultId
    problem_type: ProblemType
    score: float


class KbSearch:
    """A BM25 index of the knowledge base in one language, built once and
    shared by requests."""

    __slots__ = ("analyzer", "_faults", "_impacts", "_respeller")

    def __init__(
        self,
        analyzer: Analyzer,
        faults: Sequence[Fault],
        impacts: Mapping[str, Sequence[tuple[int, float]]],
        respeller: Respeller | None = None,
    ) -> None:
        self.analyzer = analyzer
        self._faults = tuple(faults)
        self._impacts = impacts
        self._respeller = respeller

    @classmethod
    def from_kb(
        cls,
        kb: KnowledgeBase,
        synonyms: Synonyms | None = None,
        language: str = SEARCH_LANGUAGE,
        *,
        respell: bool = True,
    ) -> KbSearch:
        """Index every fault of `kb` in `language`: the French title, symptoms
        and keywords, or another language's title and `search` words.
        `respell=False` leaves words the index lacks as they are (the search
        as it was before `ivr.respell`, for `bench/triage.py`)."""
        analyzer = Analyzer(synonyms, language)
        faults = list(kb)
        texts = [_fields(f, language) for f in faults]
        docs = [_weighted_terms(analyzer, fields) for fields in texts]
        known = {
            token
            for fields in texts
            for values in fields.values()
            for text in values
            for token in tokenize(text)
        }
        for canonical, variants in (synonyms or {}).items():
            for text in (canonical, *variants):
                known.update(tokenize(text))
        respeller = Respeller(known, ignore=analyzer.stopwords) if respell else None
        return cls(analyzer, faults, _bm25_impacts(docs), respeller)

    def search(
        self, text: str, limit: int = 3, problem_type: str | None = None
    ) -> list[SearchHit]:
        """The best `limit` faults for `text`, best first; no hit scores zero."""
        wanted = None if problem_type is None else parse_problem_type(problem_type)
        tokens = tokenize(text)[:MAX_QUERY_WORDS]
        if self._respeller is not None:
            tokens = self._respeller.respell(tokens)
        scores: dict[int, float] = {}
        for term in set(self.analyzer.terms_of(tokens)):
            for doc, impact in self._impacts.get(term, ()):
                scores[doc] = scores.get(doc, 0.0) + impact
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        hits: list[SearchHit] = []
        for doc, score in ranked:
            fault = self._faults[doc]
            if wanted is not None and fault.problem_type is not wanted:
                continue
            hits.append(SearchHit(fault.id, fault.problem_type, score))
            if len(hits) >= limit:
                break
        return hits

    def classify(
        self, text: str, min_score: float = MIN_CLASSIFY_SCORE
    ) -> ProblemType | None:
        """The problem type of the best fault for `text`, or None if none fits."""
        hits = self.search(text, limit=1)
        if not hits or hits[0].score < min_score:
            return None
        return hits[0].problem_type


def _fields(fault: Fault, language: str) -> dict[str, Iterable[str]]:
    """The texts indexed for a fault in `language`, by field."""
    if language == SEARCH_LANGUAGE:
        return {
            "title": [fault.title_in(SEARCH_LANGUAGE)],
            "symptoms": fault.symptoms,
            "keywords": fault.keywords,
        }
    return {
        "title": [fault.title.get(language, "")],
        "symptoms": (),
        "keywords": fault.search.get(language, ()),
    }


def _weighted_terms(
    analyzer: Analyzer, fields: Mapping[str, Iterable[str]]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for field, texts in fields.items():
        weight = FIELD_WEIGHTS[field]
        for text in texts:
            for term in analyzer.terms(text):
                counts[term] += weight  # type: ignore[assignment]
    return counts


def _bm25_impacts(
    docs: Sequence[Counter[str]],
) -> dict[str, list[tuple[int, float]]]:
    """Term -> (document, BM25 contribution) pairs, computed once."""
    count = len(docs)
    lengths = [float(sum(doc.values())) for doc in docs]
    average = sum(lengths) / count if count else 0.0
    frequency: Counter[str] = Counter()
    for doc in docs:
        frequency.update(doc.keys())
    impacts: dict[str, list[tuple[int, float]]] = {}
    for index, doc in enumerate(docs):
        norm = K1 * (1.0 - B + B * lengths[index] / average)
        for term, tf in doc.items():
            n = frequency[term]
            idf = math.log(1.0 + (count - n + 0.5) / (n + 0.5))
            impact = idf * tf * (K1 + 1.0) / (tf + norm)
            impacts.setdefault(term, []).append((index, impact))
    return impacts


def load_synonyms(path: Path) -> dict[str, tuple[str, ...]]:
    """Read `synonyms.yaml`: `synonyms:` mapping canonical term -> variants.

    Raises `ConfigError` with file and line for a malformed file, a variant
    listed twice or under a canonical term, or one that says nothing once
    analysed (only stopwords) or the same as its canonical term.
    """
    data, located = load_yaml(path)
    if not isinstance(data, dict) or set(data) != {"synonyms"}:
        raise ConfigError(
            "a synonyms file must be a mapping with one key, 'synonyms'",
            path=located.path,
            line=located.line_of(data) or 1,
        )
    table: Any = data["synonyms"]
    if not isinstance(table, dict) or not table:
        raise located.error("'synonyms' must be a non-empty mapping", data, "synonyms")
    bare = Analyzer()
    owner: dict[tuple[str, ...], tuple[str, str]] = {}
    result: dict[str, tuple[str, ...]] = {}
    for canonical in table:
        if not isinstance(canonical, str) or not bare.terms(canonical):
            raise located.error(
                f"canonical term {canonical!r} must be text with a meaningful word",
                table,
                str(canonical),
            )
        owner[_key(canonical)] = (canonical, canonical)
    for canonical, variants in table.items():
        if not isinstance(variants, list) or not variants:
            raise located.error(
                f"{canonical!r}: variants must be a non-empty list", table, canonical
            )
        for variant in variants:
            if not isinstance(variant, str) or not variant.strip():
                raise located.error(
                    f"{canonical!r}: every variant must be a non-empty string "
                    f"(got {variant!r})",
                    table,
                    canonical,
                )
            key = _key(variant)
            if not key or (len(key) == 1 and not bare.terms(variant)):
                # A lone function word would rewrite every "le" or "de".
                raise located.error(
                    f"{canonical!r}: variant {variant!r} is only a stopword",
                    table,
                    canonical,
                )
            if key in owner:
                first, phrase = owner[key]
                if first != canonical:
                    reason = f"variant {variant!r} is already a synonym of {first!r}"
                else:
                    reason = f"variant {variant!r} is the same as {phrase!r}"
                raise located.error(
                    f"{canonical!r}: {reason} once analysed", table, canonical
                )
            owner[key] = (canonical, variant)
        result[canonical] = tuple(v.strip() for v in variants)
    return result


def _key(phrase: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in tokenize(phrase))
