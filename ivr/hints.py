"""Speech hints: the words the triage knows, so speech recognition writes
them the way the knowledge base does.

Twilio's `<Gather hints>` takes a comma-separated list of at most 500
entries of at most 100 characters each. A menu's own keywords come first,
then the knowledge base's keywords and the callers' words of the synonym
list (French) or the faults' `search` words (other languages), shortest
first: acronyms, brand names and short words are what recognition gets
wrong. A menu carries `MENU_HINTS` of them, not Twilio's 500: every answer
repeats them, and 500 made each menu's TwiML 5 KB, a third of a webhook's
cost (`bench/webhooks.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ivr.config import MenuNode
from ivr.kb import KnowledgeBase

#: Twilio's limits on `hints`.
MAX_HINTS = 500
MAX_HINT_LENGTH = 100
#: Entries a menu carries (within `MAX_HINTS`).
MENU_HINTS = 120
#: Knowledge-base entries longer than this are sentences, not hints.
MAX_HINT_WORDS = 3


def vocabulary(
    kb: KnowledgeBase,
    synonyms: Mapping[str, tuple[str, ...]] | None,
    language: str,
    search_language: str = "fr-FR",
) -> tuple[str, ...]:
    """The knowledge base's hint words in `language`, shortest first."""
    if language == search_language:
        words: list[str] = [k for fault in kb for k in fault.keywords]
        for canonical, variants in (synonyms or {}).items():
            words += [canonical, *variants]
    else:
        words = [k for fault in kb for k in fault.search.get(language, ())]
    short = [w for w in words if len(w.split()) <= MAX_HINT_WORDS]
    return tuple(sorted(_unique(short), key=lambda w: (len(w.split()), len(w), w)))


def menu_hints(menu: MenuNode, language: str, known: Iterable[str]) -> str:
    """The `hints` of `menu` in `language`: its options' words, then `known`."""
    words = [
        w
        for option in menu.options
        for w in (*option.keywords.get(language, ()), option.label.get(language, ""))
    ]
    picked = _unique([*words, *known])[:MENU_HINTS]
    return ", ".join(picked)


def _unique(words: Iterable[str]) -> list[str]:
    """Words cleaned for `hints` (no commas, within the length), once each."""
    seen: set[str] = set()
    out: list[str] = []
    for word in words:
        clean = " ".join(word.replace(",", " ").split())[:MAX_HINT_LENGTH]
        if clean and clean.lower() not in seen:
            seen.add(clean.lower())
            out.append(clean)
    return out
