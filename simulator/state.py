"""The simulated network's live state: calls, queues, conferences.

Plain mutable records, all guarded by the switchboard's lock. A call's thread
is told about changes made elsewhere (a REST redirect, a conference ending, a
hotliner dequeuing it) by fields set under the lock and its `wake` event set
right after, so every wait it is in ends at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from core.clock import utcnow
from simulator.scripts import CallerScript, HotlinerProfile

if TYPE_CHECKING:
    from simulator.inbox import CallerInbox

TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format in REST answers and callbacks."""
    return None if moment is None else format_datetime(moment)


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One thing the caller heard or did, for tests to read as a story.

    `language` is a `<Say>`'s; `queue` names the queue the caller was waiting
    in when it happened (position announcements, hold music), if any; `at` is
    when it happened (`time.monotonic()`, not compared).
    """

    kind: str
    detail: str = ""
    language: str | None = None
    queue: str | None = None
    at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True, slots=True)
class Fetch:
    """The next TwiML comes from a URL, with extra parameters (Digits...)."""

    url: str
    method: str = "POST"
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Inline:
    """The next TwiML was given in a REST request (`Twiml=`)."""

    twiml: str


Target = Fetch | Inline


@dataclass(frozen=True, slots=True)
class JoinSpec:
    """Conference options for a leg created by the Participants API."""

    conference_name: str
    label: str | None = None
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    beep: str = "true"
    # The conference's callback, taken from the first participant naming one.
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()


@dataclass(eq=False)
class Call:
    """One call leg; also the handle `Carrier.place_call` returns."""

    sid: str
    account_sid: str
    direction: str  # inbound | outbound-api | outbound-dial
    from_number: str
    to: str
    status: str
    script: CallerScript | None = None
    profile: HotlinerProfile | None = None
    target: Target | None = None
    ring_timeout: float = 60.0
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    parent_call_sid: str | None = None
    join: JoinSpec | None = None
    date_created: datetime = field(default_factory=utcnow)
    start_time: datetime | None = None
    end_time: datetime | None = None
    started_at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None
    duration: int | None = None
    sequence_number: int = 0
    transcript: list[TranscriptEntry] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    # Requests from outside the call's thread, consumed by it.
    redirect: Target | None = None
    end_requested: str | None = None  # the final CallStatus to end with
    end_reason: str = ""
    hangup_at: float | None = None  # monotonic time the caller/hotliner hangs up
    hangup_reason: str = ""
    # Where the call is.
    queue: QueueState | None = None
    enqueued_at: float = 0.0
    queue_time: float = 0.0  # simulated seconds of the last queue wait
    participant: Participant | None = None
    # Conference status callbacks about this leg made through the REST API
    # (hold, mute, modify), sent by the call's own thread like Twilio's.
    outbox: list[Any] = field(default_factory=list)
    # `HoldUrl` / `AnnounceUrl` documents to fetch and play: (kind, url, method).
    documents: list[tuple[str, str, str]] = field(default_factory=list)
    bridge: Bridge | None = None
    # A person's softphone (`profile.human`): its keypad (DTMF for the leg's
    # own <Gather>s), whether the softphone was told the leg rings, and the
    # person's "accept" waiting for the call's thread.
    inbox: CallerInbox | None = None
    softphone_rang: bool = False
    answer_requested: bool = False
    # Who a hotliner talked with, to post the outcome on the right call.
    peer_sid: str | None = None
    talk_started: bool = False
    connected_noted: bool = False  # the "connected" transcript entry is written
    # Monotonic times for benchmarks: first talking with someone (a conference
    # in progress with another participant, or a bridge), the leg's end (before
    # its final status callback), and a hotliner's outcome posted.
    connected_at: float | None = None
    ended_at: float | None = None
    outcome_posted_at: float | None = None
    # Status callbacks sent: (event, sent at, answered at), monotonic. They are
    # sent from the call's thread: the call waits for each answer.
    callbacks_sent: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def is_live(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    def note(self, kind: str, detail: str = "", *, language: str | None = None) -> None:
        queue = self.queue
        self.transcript.append(
            TranscriptEntry(
                kind, detail, language, None if queue is None else queue.name
            )
        )


@dataclass(eq=False)
class RecordingState:
    """A `<Record>` result, served by the Recordings API."""

    sid: str
    account_sid: str
    call_sid: str
    duration: int  # seconds, as Twilio reports it
    status: str = "completed"  # in-progress | completed | absent
    date_created: datetime = field(default_factory=utcnow)
    start_time: datetime = field(default_factory=utcnow)
    error_code: int | None = None


@dataclass(eq=False)
class Bridge:
    """Two legs talking through `<Dial>`: ends as soon as either leaves."""

    caller: Call
    callee: Call
    started_at: float = field(default_factory=time.monotonic)
    over: bool = False

    def other(self, call: Call) -> Call:
        return self.callee if call is self.caller else self.caller


@dataclass(eq=False)
class QueueState:
    sid: str
    name: str
    max_size: int = 1000
    members: list[Call] = field(default_factory=list)
    date_created: datetime = field(default_factory=utcnow)
    waits_total: float = 0.0  # simulated seconds, of callers who left the queue
    waits_count: int = 0

    def average_wait(self) -> int:
        return round(self.waits_total / self.waits_count) if self.waits_count else 0


@dataclass(eq=False)
class Participant:
    call: Call
    conference: ConferenceState
    label: str | None = None
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    date_created: datetime = field(default_factory=utcnow)
    joined_at: float = field(default_factory=time.monotonic)
    status: str = "connected"  # connected | complete
    kicked: bool = False  # removed through the REST API; its call thread leaves

    @property
    def left(self) -> bool:
        return self.status == "complete" or self.kicked

    @classmethod
    def joining(
        cls,
        call: Call,
        conference: ConferenceState,
        spec: JoinSpec,
        status: str = "connected",
    ) -> Participant:
        """A participant as `spec` (a `<Conference>` or the REST API) asks."""
        return cls(
            call=call,
            conference=conference,
            label=spec.label,
            muted=spec.muted,
            coaching=spec.coaching,
            call_sid_to_coach=spec.call_sid_to_coach,
            start_conference_on_enter=spec.start_conference_on_enter,
            end_conference_on_exit=spec.end_conference_on_exit,
            status=status,
        )


@dataclass(eq=False)
class ConferenceState:
    sid: str
    name: str
    status: str = "init"  # init | in-progress | completed
    participants: dict[str, Participant] = field(default_factory=dict)
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    sequence_number: int = 0
    reason_ended: str | None = None
    # Who heard whom, each time it changed: {speaker's CallSid: hearers' CallSids}.
    audio: list[dict[str, tuple[str, ...]]] = field(default_factory=list)

    def audience(self) -> dict[str, tuple[str, ...]]:
        """Who hears each participant now, by Twilio's rules: a muted or held
        participant is heard by nobody, a coach (`Coaching` with
        `CallSidToCoach`) only by the participant it coaches, anyone else by
        every participant not on hold (a held one hears the hold music)."""
        present = [p for p in self.participants.values() if not p.left]
        heard: dict[str, tuple[str, ...]] = {}
        for speaker in present:
            if speaker.muted or speaker.hold:
                heard[speaker.call.sid] = ()
                continue
            heard[speaker.call.sid] = tuple(
                sorted(
                    p.call.sid
                    for p in present
                    if p is not speaker
                    and not p.hold
                    and (
                        not speaker.coaching or p.call.sid == speaker.call_sid_to_coach
                    )
                )
            )
        return heard

    def record_audio(self) -> None:
        """Keep who hears whom, when it changed (tests read it as a story)."""
        now = self.audience()
        if not self.audio or self.audio[-1] != now:
            self.audio.append(now)


@dataclass(frozen=True, slots=True)
class SoftphoneEvent:
    """One server-sent event for a softphone page: its `event:` name and `data:`.

    Names: `ready`, `incoming`, `cancel`, `accept`, `disconnect`.
    """

    name: str
    data: Mapping[str, str]


@dataclass(eq=False)
class SoftphoneFeed:
    """One open events stream of a person's softphone (`client:<identity>`).

    The switchboard puts events under its lock (a queue put, no I/O); the
    stream's own thread takes them, so a slow browser never holds the lock.
    """

    identity: str
    closed: bool = False  # the carrier is stopping: the stream ends
    _events: queue.SimpleQueue[SoftphoneEvent | None] = field(
        default_factory=queue.SimpleQueue, init=False, repr=False
    )

    @property
    def endpoint(self) -> str:
        return f"client:{self.identity}"

    def put(self, event: SoftphoneEvent) -> None:
        self._events.put(event)

    def close(self) -> None:
        self.closed = True
        self._events.put(None)

    def get(self, timeout: float) -> SoftphoneEvent | None:
        """The next event; None after `timeout` real seconds or once closed."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None
