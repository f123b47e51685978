"""What a caller's key press or words mean at a menu or a yes/no question.

Pure and total: any Digits/SpeechResult string maps to exactly one
`MenuInput` (or `Answer`), so a webhook can never fail on odd input; the view
decides what the caller hears next. Words long enough to describe a problem
are triaged first (`ivr.triage`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from ivr.config import MenuNode, MenuOption
from ivr.search import KbSearch

#: After this many failed attempts at one menu the caller goes to the general queue.
MAX_ATTEMPTS = 3

#: A spoken description this long or longer is looked up in the knowledge base
#: before the menu's keywords ("imprimante" alone is a menu choice, "mon
#: imprimante est hors ligne" a known fault).
KB_MIN_WORDS = 3

#: Folded words that answer a self-help step's "is it fixed?".
YES_WORDS = frozenset({"oui", "yes", "c est regle", "ca marche"})
NO_WORDS = frozenset({"non", "no"})


class InputKind(StrEnum):
    CHOSEN = "chosen"  # a valid option
    REPEAT = "repeat"  # '*': say the menu again
    BACK = "back"  # '#': previous menu
    INVALID = "invalid"  # a key or words that match nothing
    NO_INPUT = "no_input"  # silence until the Gather timed out


@dataclass(frozen=True, slots=True)
class MenuInput:
    kind: InputKind
    option: MenuOption | None = None
    heard: str = ""


def fold(text: str) -> str:
    """Lowercase without accents or punctuation, for matching spoken words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", stripped).strip()


def interpret(
    menu: MenuNode, digits: str | None, speech: str | None, language: str
) -> MenuInput:
    """Map what the caller did at `menu` to one `MenuInput`."""
    digits = (digits or "").strip()
    if digits:
        first = digits[0]
        if first == "*":
            return MenuInput(InputKind.REPEAT, heard=digits)
        if first == "#":
            return MenuInput(InputKind.BACK, heard=digits)
        option = menu.option_for_key(first) if len(digits) == 1 else None
        if option is None:
            return MenuInput(InputKind.INVALID, heard=digits)
        return MenuInput(InputKind.CHOSEN, option=option, heard=digits)
    spoken = fold(speech or "")
    if not spoken:
        return MenuInput(InputKind.NO_INPUT)
    option = match_speech(menu, spoken, language)
    if option is None:
        return MenuInput(InputKind.INVALID, heard=speech or "")
    return MenuInput(InputKind.CHOSEN, option=option, heard=speech or "")


_SPOKEN_DIGITS = {
    "zero": "0",
    "un": "1",
    "une": "1",
    "deux": "2",
    "trois": "3",
    "quatre": "4",
    "cinq": "5",
    "six": "6",
    "sept": "7",
    "huit": "8",
    "neuf": "9",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


def match_speech(menu: MenuNode, spoken: str, language: str) -> MenuOption | None:
    """Best option for folded speech: most keyword hits, then a spoken digit."""
    words = spoken.split()
    padded = f" {spoken} "
    best: tuple[int, MenuOption] | None = None
    for option in menu.options:
        candidates = [*option.keywords.get(language, ()), option.label[language]]
        hits = sum(1 for kw in candidates if fold(kw) and f" {fold(kw)} " in padded)
        if hits and (best is None or hits > best[0]):
            best = (hits, option)
    if best is not None:
        return best[1]
    if len(words) <= 3:
        for word in words:
            key = word if word.isdigit() else _SPOKEN_DIGITS.get(word)
            if key is not None and len(key) == 1:
                return menu.option_for_key(key)
    return None


# -- words describing a known fault --------------------------------------------


def is_description(digits: str | None, speech: str) -> bool:
    """Words alone, enough of them to describe a fault rather than name a choice."""
    return not digits and len(speech.split()) >= KB_MIN_WORDS


def option_for_problem(menu: MenuNode, search: KbSearch, speech: str) -> str | None:
    """Where words no keyword matched lead, if the knowledge base says which
    kind of problem they describe and one of the menu's options is for it."""
    problem = search.classify(speech)
    option = next((o for o in menu.options if problem in o.problem_types), None)
    if problem is not None and option is not None and option.goto:
        return option.goto
    return None


# -- yes or no -----------------------------------------------------------------


class Answer(StrEnum):
    YES = "yes"  # key 1, or a word of `YES_WORDS`
    NO = "no"  # key 2, or a word of `NO_WORDS`
    INVALID = "invalid"  # another key, or other words
    NO_INPUT = "no_input"  # silence


def yes_or_no(digits: str | None, speech: str | None) -> Answer:
    """What the caller answered to a yes (1) / no (2) question."""
    key = (digits or "")[:1]
    spoken = fold(speech or "")
    if key == "1" or spoken in YES_WORDS:
        return Answer.YES
    if key == "2" or spoken in NO_WORDS:
        return Answer.NO
    return Answer.INVALID if key or spoken else Answer.NO_INPUT
