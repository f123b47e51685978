"""A live caller's keypad and voice: inputs a person gives a call as it plays.

A scripted caller answers each `<Gather>` from a list written in advance; an
interactive caller (the phone page, or a test that reacts to what it hears)
answers from a `CallerInbox` filled from another thread. The call's thread
opens the inbox while a `<Gather>` or a `<Record>` listens and closes it after:
like Twilio, which drops keys pressed when nothing is listening, the inbox
refuses inputs given while it is closed or of a kind the verb does not hear.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from simulator.scripts import CallerInput, Digits, Silence, Speech


@dataclass(frozen=True, slots=True)
class Listening:
    """What the call is listening for right now."""

    verb: str  # "gather" | "record"
    input: frozenset[str]  # "dtmf", "speech"
    language: str | None = None
    num_digits: int | None = None
    finish_on_key: str = ""
    timeout: float = 5.0  # simulated seconds of silence that end the wait

    def hears(self, item: CallerInput) -> bool:
        if isinstance(item, Digits):
            return "dtmf" in self.input and bool(item.keys)
        if isinstance(item, Speech):
            return "speech" in self.input and bool(item.text.strip())
        return False


class CallerInbox:
    """Thread-safe inputs for one interactive call.

    `press`/`say` return False when the call is not listening for that kind of
    input (the person sees their key was not heard). The call's thread waits
    for inputs through `CallSession.sleep`, woken by the event it attaches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[CallerInput] = deque()
        self._listening: Listening | None = None
        self._prompting = False
        self._wake: threading.Event | None = None

    # The person's side -------------------------------------------------------

    def press(self, keys: str) -> bool:
        """Keys pressed on the keypad (0-9, *, #)."""
        return self.give(Digits(keys))

    def say(self, text: str, confidence: float = 0.92) -> bool:
        """A phrase spoken into the phone (reported as SpeechResult)."""
        return self.give(Speech(text, confidence))

    def give(self, item: CallerInput) -> bool:
        if isinstance(item, Silence):
            return True  # saying nothing needs no delivery
        with self._lock:
            listening = self._listening
            if listening is None or not listening.hears(item):
                return False
            self._items.append(item)
            wake = self._wake
        if wake is not None:
            wake.set()
        return True

    @property
    def listening(self) -> Listening | None:
        with self._lock:
            return self._listening

    @property
    def prompting(self) -> bool:
        """True while the listening verb's own prompts still play."""
        with self._lock:
            return self._listening is not None and self._prompting

    # The call's side ---------------------------------------------------------

    def attach(self, wake: threading.Event) -> None:
        with self._lock:
            self._wake = wake

    def open(self, listening: Listening, *, prompting: bool = False) -> None:
        with self._lock:
            self._items.clear()
            self._listening = listening
            self._prompting = prompting

    def prompts_done(self) -> None:
        with self._lock:
            self._prompting = False

    def close(self) -> None:
        with self._lock:
            self._items.clear()
            self._listening = None
            self._prompting = False

    def has_input(self) -> bool:
        with self._lock:
            return bool(self._items)

    def take(self) -> CallerInput | None:
        with self._lock:
            return self._items.popleft() if self._items else None
