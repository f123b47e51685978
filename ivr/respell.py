"""Words as speech recognition writes them, brought back to words the
knowledge base knows.

Speech recognition writes what it hears: "tims" for Teams, "softfone",
"micro soft", "wi fi", "vizio". A word the index has never seen scores
nothing, so before the search each unknown word is matched to a known one
that sounds the same (a rough phonetic key, enough for brand names and
homophones), else to one spelt almost the same (character trigrams), and
two unknown neighbours are tried joined ("one drive" -> "onedrive").
Precomputed at load; a phrase costs a few dictionary lookups.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

#: Words shorter than this are never respelt (too many near neighbours).
MIN_LENGTH = 4
#: Trigram (Dice) similarity a spelling must reach to stand for a known word.
MIN_SIMILARITY = 0.7
#: Spellings remembered with the word they stand for.
CACHE_SIZE = 8192

_SOUNDS = (
    (re.compile(r"ph"), "f"),
    (re.compile(r"(ea|ee|ie|y)"), "i"),
    (re.compile(r"(ck|qu|c(?=[aou])|k)"), "k"),
    (re.compile(r"(ou|oo)"), "u"),
    (re.compile(r"(au|eau)"), "o"),
    (re.compile(r"w"), "v"),
    (re.compile(r"z"), "s"),
    (re.compile(r"h"), ""),
    (re.compile(r"(.)\1+"), r"\1"),
    (re.compile(r"[estx]+$"), ""),
)


def sound(word: str) -> str:
    """A rough phonetic key of a folded word ("teams", "tims" -> "tim")."""
    for pattern, replacement in _SOUNDS:
        word = pattern.sub(replacement, word)
    return word


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class Respeller:
    """Known words, and the way to them from a spelling the index lacks."""

    __slots__ = (
        "_known",
        "_by_sound",
        "_by_trigram",
        "_trigrams",
        "_ignore",
        "_cache",
    )

    def __init__(self, known: Iterable[str], ignore: Iterable[str] = ()) -> None:
        self._known = frozenset(w for w in known if w)
        self._ignore = frozenset(ignore)
        by_sound: dict[str, set[str]] = defaultdict(set)
        by_trigram: dict[str, set[str]] = defaultdict(set)
        self._trigrams: dict[str, set[str]] = {}
        for word in self._known:
            if len(word) < MIN_LENGTH - 1:
                continue
            by_sound[sound(word)].add(word)
            grams = _trigrams(word)
            self._trigrams[word] = grams
            for gram in grams:
                by_trigram[gram].add(word)
        self._by_sound = {k: min(v) for k, v in by_sound.items()}
        self._by_trigram = dict(by_trigram)
        self._cache: dict[str, str] = {}  # spelling -> known word (or itself)

    def respell(self, tokens: list[str]) -> list[str]:
        """`tokens` (folded words) with unknown ones replaced by known ones."""
        out: list[str] = []
        i = 0
        while i < len(tokens):
            word = tokens[i]
            if word in self._known or word in self._ignore or word.isdigit():
                out.append(word)
                i += 1
                continue
            if i + 1 < len(tokens):
                joined = word + tokens[i + 1]
                if joined in self._known:
                    out.append(joined)
                    i += 2
                    continue
                if len(joined) >= MIN_LENGTH and (
                    found := self._by_sound.get(sound(joined))
                ):
                    out.append(found)
                    i += 2
                    continue
            out.append(self._closest(word) if len(word) >= MIN_LENGTH else word)
            i += 1
        return out

    def _closest(self, word: str) -> str:
        found = self._cache.get(word)
        if found is None:
            found = self._search(word)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()  # callers' vocabulary is small: rarely
            self._cache[word] = found
        return found

    def _search(self, word: str) -> str:
        found = self._by_sound.get(sound(word))
        if found is not None:
            return found
        grams = _trigrams(word)
        counts: dict[str, int] = defaultdict(int)
        for gram in grams:
            for known in self._by_trigram.get(gram, ()):
                counts[known] += 1
        best, best_score = word, 0.0
        for known, shared in counts.items():
            score = 2 * shared / (len(grams) + len(self._trigrams[known]))
            if score < MIN_SIMILARITY:
                continue
            if score > best_score or (score == best_score and known < best):
                best, best_score = known, score
        return best
