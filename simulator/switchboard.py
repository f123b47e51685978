"""Who is where: the calls, queues and conferences of the simulated network.

Every method must be called with `lock` held, and none does I/O: moves that
Twilio reports to the app (conference events) are returned as values for the
caller to send once the lock is released, so a slow app never blocks another
call's thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime

from core.clock import utcnow
from simulator.scripts import HotlinerProfile
from simulator.sids import new_sid
from simulator.state import (
    Call,
    ConferenceState,
    JoinSpec,
    Participant,
    QueueState,
    RecordingState,
    SoftphoneEvent,
    SoftphoneFeed,
    Target,
)

DEFAULT_MAX_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Notice:
    """A callback to send once the lock is released."""

    url: str
    method: str
    params: dict[str, str]


class Switchboard:
    """In-memory registry of calls, queues, conferences and hotliners."""

    def __init__(self, account_sid: str, time_scale: float) -> None:
        self.account_sid = account_sid
        self.time_scale = time_scale
        self.lock = threading.RLock()
        self.calls: dict[str, Call] = {}
        self.queues: dict[str, QueueState] = {}  # by friendly name
        self.conferences: dict[str, ConferenceState] = {}  # every one, by sid
        self.live_conferences: dict[str, ConferenceState] = {}  # by friendly name
        self.hotliners: dict[str, HotlinerProfile] = {}  # by endpoint
        self.answered_counts: dict[str, int] = {}  # by agent id
        self.recordings: dict[str, RecordingState] = {}  # by sid
        # People's softphones: open event streams, by endpoint; the simulated
        # hotliner (or None) each one replaced, until it is handed back; and a
        # counter per endpoint, moved by every connection and last departure,
        # so only the newest departure's timer hands the endpoint back.
        self.softphones: dict[str, list[SoftphoneFeed]] = {}
        self.replaced_hotliners: dict[str, HotlinerProfile | None] = {}
        self.softphone_generations: dict[str, int] = {}

    def simulated_seconds(self, since: float, until: float | None = None) -> float:
        """Real seconds elapsed since a monotonic time, in simulated seconds."""
        end = time.monotonic() if until is None else until
        return max(0.0, end - since) / self.time_scale

    # Calls -------------------------------------------------------------------

    def redirect(self, call: Call, target: Target) -> None:
        call.redirect = target
        call.wake.set()

    def request_end(self, call: Call, status: str, reason: str) -> None:
        if call.end_requested is None:
            call.end_requested = status
            call.end_reason = reason
        call.wake.set()

    # Queues ------------------------------------------------------------------

    def queue(self, name: str, max_size: int | None = None) -> QueueState:
        queue = self.queues.get(name)
        if queue is None:
            queue = QueueState(
                sid=new_sid("QU"),
                name=name,
                max_size=max_size or DEFAULT_MAX_QUEUE_SIZE,
            )
            self.queues[name] = queue
        elif max_size is not None:
            queue.max_size = max_size
        return queue

    def queue_by_sid(self, sid: str) -> QueueState | None:
        return next((q for q in self.queues.values() if q.sid == sid), None)

    def enqueue(self, call: Call, name: str, max_size: int | None) -> QueueState | None:
        """Adds the caller at the back of the queue; None when the queue is full."""
        queue = self.queue(name, max_size)
        if len(queue.members) >= queue.max_size:
            return None
        queue.members.append(call)
        call.queue = queue
        call.enqueued_at = time.monotonic()
        return queue

    def leave_queue(self, call: Call) -> float:
        """Takes the caller out of its queue; its wait in simulated seconds."""
        queue = call.queue
        if queue is None:
            return 0.0
        waited = self.simulated_seconds(call.enqueued_at)
        if call in queue.members:
            queue.members.remove(call)
        queue.waits_total += waited
        queue.waits_count += 1
        call.queue = None
        call.queue_time = waited
        return waited

    def queue_params(self, call: Call) -> dict[str, str]:
        """What Twilio adds to waitUrl requests about the caller's queue."""
        queue = call.queue
        if queue is None:
            return {}
        position = queue.members.index(call) + 1 if call in queue.members else 0
        return {
            "QueueSid": queue.sid,
            "QueuePosition": str(position),
            "QueueTime": str(round(self.simulated_seconds(call.enqueued_at))),
            "AvgQueueTime": str(queue.average_wait()),
            "CurrentQueueSize": str(len(queue.members)),
            "MaxQueueSize": str(queue.max_size),
        }

    # Hotliners and softphones ------------------------------------------------

    def add_hotliner(self, profile: HotlinerProfile) -> None:
        """Registers a simulated hotliner at its endpoint.

        While a person's softphone holds the endpoint, the profile waits to be
        handed the endpoint back when the softphone goes.
        """
        if profile.endpoint in self.replaced_hotliners:
            self.replaced_hotliners[profile.endpoint] = profile
        else:
            self.hotliners[profile.endpoint] = profile

    def connect_softphone(self, identity: str) -> SoftphoneFeed:
        """A softphone page opened its events stream: `client:<identity>` is a person.

        The first stream replaces the simulated hotliner registered there (kept
        to hand back later). The feed starts with `ready`, then an `incoming`
        for every leg already ringing at the person, so a reloaded page still
        sees the call that rings.
        """
        feed = SoftphoneFeed(identity)
        endpoint = feed.endpoint
        self.softphones.setdefault(endpoint, []).append(feed)
        self.softphone_generations[endpoint] = (
            self.softphone_generations.get(endpoint, 0) + 1
        )
        if endpoint not in self.replaced_hotliners:
            self.replaced_hotliners[endpoint] = self.hotliners.get(endpoint)
            self.hotliners[endpoint] = HotlinerProfile(identity, endpoint, human=True)
        feed.put(SoftphoneEvent("ready", {"identity": identity}))
        for call in self.calls.values():
            if call.to == endpoint and self.is_ringing_softphone(call):
                feed.put(_incoming(call))
        return feed

    def disconnect_softphone(self, feed: SoftphoneFeed) -> int | None:
        """A stream ended; if it was the endpoint's last, the generation to restore."""
        endpoint = feed.endpoint
        feeds = self.softphones.get(endpoint, [])
        if feed in feeds:
            feeds.remove(feed)
        if feeds:
            return None
        self.softphones.pop(endpoint, None)
        generation = self.softphone_generations.get(endpoint, 0) + 1
        self.softphone_generations[endpoint] = generation
        return generation

    def restore_hotliner(self, endpoint: str, generation: int) -> bool:
        """Hands the endpoint back to the simulated hotliner a softphone replaced.

        Only if no stream came back since the departure numbered `generation`.
        The person's answered legs are hung up: nobody is on the line any more
        (closing the SDK's page drops its call too). Legs still ringing ring on
        until their timeout, as for a client with no device registered.
        """
        if (
            self.softphones.get(endpoint)
            or self.softphone_generations.get(endpoint) != generation
            or endpoint not in self.replaced_hotliners
        ):
            return False
        replaced = self.replaced_hotliners.pop(endpoint)
        if replaced is None:
            self.hotliners.pop(endpoint, None)
        else:
            self.hotliners[endpoint] = replaced
        for call in self.calls.values():
            if (
                call.to == endpoint
                and call.softphone_rang
                and call.status == "in-progress"
            ):
                self.request_end(call, "completed", "softphone closed")
        return True

    def is_ringing_softphone(self, call: Call) -> bool:
        """Whether the leg rings at a person who can still accept or reject it."""
        return (
            call.softphone_rang
            and call.status == "ringing"
            and not call.answer_requested
            and call.end_requested is None
        )

    def ring_softphone(self, call: Call) -> None:
        """Tells the person's open pages that the leg rings."""
        call.softphone_rang = True
        self.publish(call.to, _incoming(call))

    def publish(self, endpoint: str, event: SoftphoneEvent) -> None:
        for feed in self.softphones.get(endpoint, ()):
            feed.put(event)

    def close_softphones(self) -> None:
        """Ends every events stream (the carrier is stopping)."""
        for feeds in self.softphones.values():
            for feed in feeds:
                feed.close()

    # Conferences -------------------------------------------------------------

    def conference(self, name: str) -> ConferenceState:
        """The live conference with this friendly name, created on first use."""
        conference = self.live_conferences.get(name)
        if conference is None:
            conference = ConferenceState(sid=new_sid("CF"), name=name)
            self.live_conferences[name] = conference
            self.conferences[conference.sid] = conference
        return conference

    def join(self, call: Call, spec: JoinSpec) -> tuple[Participant, list[Notice]]:
        conference = self.conference(spec.conference_name)
        if spec.status_callback and conference.status_callback is None:
            # Twilio takes the conference's callback from the first participant
            # that names one.
            conference.status_callback = spec.status_callback
            conference.status_callback_method = spec.status_callback_method
            conference.status_callback_events = spec.status_callback_events
        participant = Participant.joining(call, conference, spec)
        conference.participants[call.sid] = participant
        conference.date_updated = utcnow()
        call.participant = participant
        notices = self._conference_notice(conference, "join", participant)
        if conference.status == "init" and spec.start_conference_on_enter:
            conference.status = "in-progress"
            notices = self._conference_notice(conference, "start", None) + notices
        if conference.status == "in-progress" and len(conference.participants) >= 2:
            self.mark_connected(*(p.call for p in conference.participants.values()))
        self._wake_conference(conference)
        return participant, notices

    def leave(self, participant: Participant) -> list[Notice]:
        """Takes a participant out; ends the conference if it was its anchor."""
        if participant.status == "complete":
            return []
        conference = participant.conference
        participant.status = "complete"
        conference.participants.pop(participant.call.sid, None)
        participant.call.participant = None
        conference.date_updated = utcnow()
        participant.call.wake.set()
        notices = self._conference_notice(conference, "leave", participant)
        if conference.status != "completed":
            if participant.end_conference_on_exit:
                reason = "participant-with-end-conference-on-exit-left"
                notices += self._end_conference(conference, reason)
            elif not conference.participants:
                notices += self._end_conference(conference, "last-participant-left")
        self._wake_conference(conference)
        return notices

    def participant_changed(
        self, participant: Participant, event: str, on: bool
    ) -> list[Notice]:
        """A REST update changed a participant: `event` is 'hold', 'mute' or
        'modify' (what the conference subscribes to); `on` says which way."""
        conference = participant.conference
        conference.date_updated = utcnow()
        name = {
            "hold": "participant-hold" if on else "participant-unhold",
            "mute": "participant-mute" if on else "participant-unmute",
        }.get(event, "participant-modified")
        return self._conference_notice(conference, event, participant, name)

    def _end_conference(self, conference: ConferenceState, reason: str) -> list[Notice]:
        conference.status = "completed"
        conference.reason_ended = reason
        if self.live_conferences.get(conference.name) is conference:
            del self.live_conferences[conference.name]
        notices: list[Notice] = []
        for other in list(conference.participants.values()):
            other.status = "complete"
            other.call.participant = None
            other.call.wake.set()
            notices += self._conference_notice(conference, "leave", other)
        conference.participants.clear()
        return notices + self._conference_notice(conference, "end", None)

    def mark_connected(self, *calls: Call) -> None:
        """Notes the first moment each leg talks with someone (for benchmarks)."""
        now = time.monotonic()
        for call in calls:
            if call.connected_at is None:
                call.connected_at = now

    def is_connected(self, call: Call) -> bool:
        """Whether the leg is talking with someone (the hotliner's talk clock)."""
        if call.bridge is not None and not call.bridge.over:
            return True
        participant = call.participant
        return (
            participant is not None
            and participant.conference.status == "in-progress"
            and len(participant.conference.participants) >= 2
        )

    def peer_of(self, call: Call) -> str | None:
        if call.bridge is not None:
            return call.bridge.other(call).sid
        if call.participant is not None:
            # A caller first: several hotliners may share a caller's conference
            # (a warm transfer's briefing).
            others = sorted(
                (
                    p.call
                    for p in call.participant.conference.participants.values()
                    if p.call is not call
                ),
                key=lambda other: other.direction != "inbound",
            )
            return others[0].sid if others else None
        return None

    def _wake_conference(self, conference: ConferenceState) -> None:
        conference.record_audio()
        for participant in conference.participants.values():
            participant.call.wake.set()

    def _conference_notice(
        self,
        conference: ConferenceState,
        event: str,
        participant: Participant | None,
        name: str | None = None,
    ) -> list[Notice]:
        if not conference.status_callback or event not in (
            conference.status_callback_events
        ):
            return []
        conference.sequence_number += 1
        params = {
            "AccountSid": self.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.name,
            "StatusCallbackEvent": name or _CONFERENCE_EVENT_NAMES[event],
            "SequenceNumber": str(conference.sequence_number),
            "Timestamp": format_datetime(utcnow()),
        }
        if participant is not None:
            params.update(
                CallSid=participant.call.sid,
                Muted=_flag(participant.muted),
                Hold=_flag(participant.hold),
                Coaching=_flag(participant.coaching),
                EndConferenceOnExit=_flag(participant.end_conference_on_exit),
                StartConferenceOnEnter=_flag(participant.start_conference_on_enter),
            )
            if participant.label:
                params["ParticipantLabel"] = participant.label
        if event == "end" and conference.reason_ended:
            params["ReasonConferenceEnded"] = conference.reason_ended
        return [
            Notice(
                conference.status_callback, conference.status_callback_method, params
            )
        ]


_CONFERENCE_EVENT_NAMES = {
    "start": "conference-start",
    "end": "conference-end",
    "join": "participant-join",
    "leave": "participant-leave",
}


def _incoming(call: Call) -> SoftphoneEvent:
    return SoftphoneEvent(
        "incoming", {"CallSid": call.sid, "From": call.from_number, "To": call.to}
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"
