"""What simulated callers do and how simulated hotliners behave.

Scripts are plain values so a test or a benchmark reads as the scenario it
plays: who calls, what they press or say at each prompt, how long they are
willing to wait; and for each hotliner, how fast they pick up, how long they
talk and what they record as the outcome. Durations are simulated seconds,
multiplied by the carrier's time scale when played.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.console import AgentConsoleClient
    from simulator.inbox import CallerInbox


@dataclass(frozen=True, slots=True)
class Digits:
    """Keys pressed at a `<Gather>` once its prompts have played."""

    keys: str


@dataclass(frozen=True, slots=True)
class Speech:
    """Words spoken at a `<Gather>` that listens for speech."""

    text: str
    confidence: float = 0.92


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller says and presses nothing: the `<Gather>` times out."""


CallerInput = Digits | Speech | Silence


@dataclass(frozen=True, slots=True)
class CallerScript:
    """One inbound caller.

    `inputs` answer the `<Gather>`s met outside a queue, in order; `queue_inputs`
    those played by an `<Enqueue>` waitUrl. Once a list is exhausted the caller
    stays silent. `patience_seconds` bounds the time spent in a queue;
    `hangup_after_seconds` bounds the whole call.

    With an `inbox`, the caller is interactive: every `<Gather>` and `<Record>`
    listens to the inbox instead of the lists (a person on the phone page, or a
    test reacting to what it hears), and input interrupts the prompts.

    At a `<Record>`, the caller speaks for `voicemail_seconds` (None: says
    nothing), then presses `voicemail_finish_key` if given, else falls silent
    until the Record's timeout ends the recording.
    """

    from_number: str
    inputs: list[CallerInput] = field(default_factory=list)
    patience_seconds: float = 300.0
    queue_inputs: list[CallerInput] = field(default_factory=list)
    hangup_after_seconds: float | None = None
    to_number: str | None = None
    inbox: CallerInbox | None = None
    voicemail_seconds: float | None = None
    voicemail_finish_key: str | None = None


@dataclass(frozen=True, slots=True)
class HotlinerProfile:
    """A simulated hotliner reachable at `endpoint` (`client:alice` or a number).

    With a `console`, the hotliner declares itself available when added and
    posts its outcome after each call, like a person using the agent console.
    `outcomes`, when given, are used in turn, one per call, instead of `outcome`.

    `outcome_of`, when given, decides each call's outcome from the caller's
    number instead (a scripted day knows what each caller's call ends with,
    whoever takes it).

    `talk_time`, when given, decides each conversation's length instead of
    `talk_seconds`: it is called with the number of the caller the hotliner
    talks with (the peer leg's From) when the talk starts, and answers simulated
    seconds; a benchmark gives each caller a handle time of its own this way.
    It is called with the switchboard's lock held: it must be quick and must not
    touch the carrier.

    A `human` profile is a person answering in a browser (the softphone, see
    `simulator/softphone.py`): its legs ring until the person accepts or
    rejects them (or the ring timeout, or the app, ends them) and last until
    the person hangs up; the timings, `answers`, `busy`, outcomes and console
    above are not used. The carrier makes one while a softphone is connected.
    """

    agent_id: str
    endpoint: str
    answer_after_seconds: float = 2.0
    answers: bool = True
    busy: bool = False
    talk_seconds: float = 60.0
    outcome: str = "resolved"
    outcomes: list[str] = field(default_factory=list)
    notes: str = ""
    console: AgentConsoleClient | None = None
    talk_time: Callable[[str], float] | None = None
    outcome_of: Callable[[str], str] | None = None
    human: bool = False

    def talk_seconds_with(self, caller_number: str | None) -> float:
        """How long this hotliner talks with `caller_number` (simulated seconds)."""
        if self.talk_time is not None and caller_number is not None:
            return self.talk_time(caller_number)
        return self.talk_seconds

    def outcome_for(self, call_number: int, caller_number: str | None = None) -> str:
        """The outcome of this hotliner's `call_number`-th answered call (from
        0), with `caller_number` when it is known."""
        if self.outcome_of is not None and caller_number is not None:
            return self.outcome_of(caller_number)
        if self.outcomes:
            return self.outcomes[call_number % len(self.outcomes)]
        return self.outcome
