"""One call's life, played in its own thread: ring, fetch TwiML, obey it, hang up.

A `CallSession` is Twilio's call engine for a single leg. Control flow that
Twilio drives from outside the document (a REST redirect, a hang-up, a hotliner
taking the caller off a queue) arrives as private exceptions raised by the
session's only blocking primitive, `sleep`, so every wait ends at once and the
verb being played unwinds the way Twilio's would (an `<Enqueue>` still
requests its action with the right `QueueResult`, a conference participant
still leaves and the conference still reports it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from core.clock import utcnow
from simulator.errors import SimulatorError, TwimlError, WebhookError
from simulator.inbox import CallerInbox, Listening
from simulator.scripts import CallerInput, Digits, HotlinerProfile, Silence, Speech
from simulator.sids import new_sid
from simulator.state import (
    Bridge,
    Call,
    Fetch,
    Inline,
    JoinSpec,
    RecordingState,
    SoftphoneEvent,
    Target,
    rfc2822,
)
from simulator.switchboard import Notice
from simulator.twiml import (
    WAIT_URL_VERBS,
    Client,
    Conference,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Number,
    Pause,
    Play,
    Prompt,
    Queue,
    Record,
    Redirect,
    Reject,
    Say,
    Verb,
    parse_twiml,
)
from simulator.webhooks import WebhookSender

if TYPE_CHECKING:
    from simulator.carrier import Carrier

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
PLAY_SECONDS = 8.0  # nominal length of one <Play>
WORDS_PER_SECOND = 2.5  # text-to-speech and caller speech pace
BUSY_SIGNAL_SECONDS = 1.0
BEEP_SECONDS = 0.5  # the <Record> beep
_MAX_WAIT = 3600.0  # threading.Event.wait cannot take infinity


class _Redirected(Exception):
    def __init__(self, target: Target) -> None:
        self.target = target


class _Ended(Exception):
    def __init__(self, status: str, reason: str) -> None:
        self.status = status
        self.reason = reason


class _AppError(Exception):
    """The app answered something Twilio would play as "an application error"."""


class _Left(Exception):
    """`<Leave>` in a waitUrl."""


class _Bridged(Exception):
    """A hotliner's `<Dial><Queue>` took this caller off the queue."""


class _Take:
    """How a recording went so far, in simulated seconds."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.spoken = 0.0
        self.key: str | None = None  # the finishOnKey key, or "hangup"


def speech_seconds(text: str) -> float:
    return max(1.0, len(text.split()) / WORDS_PER_SECOND)


class CallSession:
    """Plays one call leg from its first ring to its status callback."""

    def __init__(self, carrier: Carrier, call: Call) -> None:
        self.carrier = carrier
        self.board = carrier.board
        self.call = call
        self.sender = WebhookSender(
            carrier.config.auth_token, observe=carrier.record_webhook_time
        )
        script = call.script
        self.inputs: list[CallerInput] = list(script.inputs) if script else []
        self.queue_inputs: list[CallerInput] = (
            list(script.queue_inputs) if script else []
        )
        self.in_queue = False
        self.inbox: CallerInbox | None = script.inbox if script else None
        if self.inbox is not None:
            self.inbox.attach(call.wake)
        # Callbacks Twilio sends once the next document is fetched (a
        # recording's status arrives after its action request).
        self.deferred: list[tuple[str, str, dict[str, str]]] = []

    # Life cycle --------------------------------------------------------------

    def run(self) -> None:
        call = self.call
        status = "completed"
        try:
            if call.direction == "inbound":
                self._play_inbound()
            else:
                self._play_outbound()
            call.note("hangup", "end of TwiML")
        except _Ended as ended:
            status = ended.status
            call.note("hangup", ended.reason)
        except _AppError as exc:
            status = "completed" if call.answered_at is not None else "failed"
            call.note("error", "We are sorry, an application error has occurred.")
            self.carrier.record_error(f"call {call.sid}: {exc}")
        except Exception as exc:  # a simulator bug must not kill the carrier silently
            log.exception("simulator failure on call_sid=%s", call.sid)
            status = "failed"
            call.note("error", f"simulator failure: {exc!r}")
            self.carrier.record_error(f"call {call.sid}: simulator failure: {exc!r}")
        finally:
            try:
                if self.inbox is not None:
                    self.inbox.close()
                self._finish(status)
            finally:
                self.sender.close()

    def _play_inbound(self) -> None:
        call = self.call
        script = call.script
        if script is not None and script.hangup_after_seconds is not None:
            with self.board.lock:
                self._hang_up_in(script.hangup_after_seconds, "caller hung up")
        assert call.target is not None
        self._run_documents(call.target)

    def _play_outbound(self) -> None:
        call = self.call
        if call.direction == "outbound-api" and self.carrier.config.calls_per_second:
            # Twilio dials an account's calls at its CPS; the rest wait
            # queued, in turn (a REST cancel ends them there). Unlimited, no
            # lock is taken: the load generator's own hot path.
            try:
                while (wait := self.carrier.dial_wait(call.sid)) > 0:
                    self.sleep(wait / self.board.time_scale)
            finally:
                self.carrier.leave_dial_queue(call.sid)
        self._status_event("initiated")
        with self.board.lock:
            profile = self.board.hotliners.get(call.to)
            # Who answers is settled now: a softphone that connects or goes
            # while the leg rings does not change hands mid-call.
            call.profile = profile
            if profile is not None and profile.human:
                call.inbox = CallerInbox()
        if profile is None:
            raise _Ended("failed", f"{call.to} is not a registered endpoint")
        if call.inbox is not None:
            self.inbox = call.inbox  # the softphone's keys answer this leg's Gathers
            self.inbox.attach(call.wake)
        with self.board.lock:
            call.status = "ringing"
        self._status_event("ringing")
        self._ring(profile)
        with self.board.lock:
            call.status = "in-progress"
            call.start_time = utcnow()
            call.answered_at = time.monotonic()
            if call.softphone_rang:
                self.board.publish(
                    call.to, SoftphoneEvent("accept", {"CallSid": call.sid})
                )
        self._status_event("answered")
        if call.direction == "outbound-dial":
            self._bridge_to_parent()
        elif call.join is not None:
            self._conference(call.join, time_limit=math.inf)
        else:
            assert call.target is not None
            self._run_documents(call.target)

    def _ring(self, profile: HotlinerProfile) -> None:
        if profile.human:
            self._ring_softphone()
            return
        if profile.busy:
            self.sleep(BUSY_SIGNAL_SECONDS)
            raise _Ended("busy", f"{profile.agent_id} is busy")
        if profile.answers and profile.answer_after_seconds < self.call.ring_timeout:
            self.sleep(profile.answer_after_seconds)
            return
        self.sleep(self.call.ring_timeout)
        raise _Ended("no-answer", f"{profile.agent_id} did not answer")

    def _ring_softphone(self) -> None:
        """Rings a person's browser until they accept; a reject, the app or the
        caller ends the leg through `end_requested` (`sleep` raises)."""
        call = self.call
        with self.board.lock:
            self.board.ring_softphone(call)
        if not self.sleep(call.ring_timeout, until=lambda: call.answer_requested):
            raise _Ended("no-answer", f"{call.to} did not answer")

    def _finish(self, status: str) -> None:
        call = self.call
        board = self.board
        with board.lock:
            call.ended_at = time.monotonic()
            call.status = status
            call.end_time = utcnow()
            call.duration = (
                round(board.simulated_seconds(call.answered_at))
                if call.answered_at is not None
                else 0
            )
            board.leave_queue(call)
            notices = board.leave(call.participant) if call.participant else []
            if call.bridge is not None and not call.bridge.over:
                call.bridge.over = True
                call.bridge.other(call).wake.set()
            talked = call.talk_started
            if call.softphone_rang:
                event = "cancel" if call.answered_at is None else "disconnect"
                board.publish(call.to, SoftphoneEvent(event, {"CallSid": call.sid}))
        self._send_notices(notices)
        self._send_deferred()
        self._status_event("completed")
        profile = call.profile
        if (
            profile is not None
            and profile.console is not None
            and not profile.human
            and talked
        ):
            self._post_outcome(profile)
        call.ended.set()

    def _post_outcome(self, profile: HotlinerProfile) -> None:
        console = profile.console
        assert console is not None
        try:
            with self.board.lock:
                peer = self.board.calls.get(self.call.peer_sid or "")
                # An inbound caller's CallSid is the app's call: the hotliner
                # knows it, whatever the app says they are handling now.
                known = peer.sid if peer and peer.direction == "inbound" else None
                caller = None if peer is None else _caller_number(peer)
            call_sid = (
                known or console.current_call(profile.agent_id) or self.call.peer_sid
            )
            if call_sid is None:
                raise SimulatorError(
                    f"{profile.agent_id}: no call to post an outcome on"
                )
            with self.board.lock:
                number = self.board.answered_counts.get(profile.agent_id, 0)
                self.board.answered_counts[profile.agent_id] = number + 1
            console.post_outcome(
                profile.agent_id,
                call_sid,
                profile.outcome_for(number, caller),
                profile.notes,
            )
            with self.board.lock:
                self.call.outcome_posted_at = time.monotonic()
        except SimulatorError as exc:
            self.carrier.record_error(f"hotliner {profile.agent_id}: {exc}")

    # Waiting -----------------------------------------------------------------

    def sleep(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Waits simulated `seconds`; True as soon as `until()` holds.

        Raises the private control-flow exceptions when the call is redirected,
        ended, hung up or dequeued, whatever it was waiting for.
        """
        call = self.call
        deadline = time.monotonic() + seconds * self.board.time_scale
        while True:
            call.wake.clear()
            with self.board.lock:
                self._check()
                if until is not None and until():
                    return True
                wake_at = min(deadline, call.hangup_at or math.inf)
            now = time.monotonic()
            if deadline <= now:
                return False
            if wake_at > now:
                call.wake.wait(min(wake_at - now, _MAX_WAIT))

    def _check(self) -> None:
        call = self.call
        if call.end_requested is not None:
            raise _Ended(call.end_requested, call.end_reason)
        if call.redirect is not None:
            target, call.redirect = call.redirect, None
            raise _Redirected(target)
        if self.in_queue and call.bridge is not None:
            raise _Bridged()
        if call.hangup_at is not None and time.monotonic() >= call.hangup_at:
            raise _Ended("completed", call.hangup_reason)
        if not call.connected_noted and self.board.is_connected(call):
            call.connected_noted = True
            peer = self.board.calls.get(self.board.peer_of(call) or "")
            call.note("connected", peer.to if peer is not None else "")
        profile = call.profile
        if (
            profile is not None
            and not profile.human  # a person talks until they hang up
            and not call.talk_started
            and self.board.is_connected(call)
        ):
            call.talk_started = True
            call.peer_sid = self.board.peer_of(call)
            peer = self.board.calls.get(call.peer_sid or "")
            talk = profile.talk_seconds_with(
                None if peer is None else _caller_number(peer)
            )
            self._hang_up_in(talk, "hotliner hung up")

    def _hang_up_in(self, seconds: float, reason: str) -> None:
        at = time.monotonic() + seconds * self.board.time_scale
        if self.call.hangup_at is None or at < self.call.hangup_at:
            self.call.hangup_at = at
            self.call.hangup_reason = reason

    # Documents ---------------------------------------------------------------

    def _run_documents(self, target: Target | None) -> None:
        while target is not None:
            try:
                verbs, url = self._load(target)
                self._send_deferred()
                target = self._execute(verbs, url)
            except _Redirected as redirected:
                self.call.note("redirect", _describe(redirected.target))
                target = redirected.target

    def _load(self, target: Target) -> tuple[tuple[Verb, ...], str | None]:
        if isinstance(target, Inline):
            text, url = target.twiml, None
        else:
            with self.board.lock:
                params = self._params()
            params.update(target.params)
            text, url = self._request(target.url, target.method, params), target.url
        try:
            verbs = parse_twiml(text)
        except TwimlError as exc:
            raise _AppError(f"{url or 'inline TwiML'}: {exc.reason}") from None
        call = self.call
        if call.answered_at is None:
            with self.board.lock:
                call.status = "in-progress"
                call.start_time = utcnow()
                call.answered_at = time.monotonic()
        return verbs, url

    def _execute(
        self, verbs: tuple[Verb, ...], url: str | None, *, in_wait_url: bool = False
    ) -> Target | None:
        """Plays a document; the next one to fetch, or None at its end."""
        for verb in verbs:
            if in_wait_url and not isinstance(verb, WAIT_URL_VERBS):
                name = type(verb).__name__
                raise _AppError(f"{url}: <{name}> is not allowed in an Enqueue waitUrl")
            if isinstance(verb, Say | Play | Pause):
                self._prompt(verb)
            elif isinstance(verb, Gather):
                following = self._gather(verb, url, in_wait_url)
                if following is not None:
                    return following
            elif isinstance(verb, Redirect):
                self.call.note("redirect", verb.url)
                return Fetch(self._resolve(url, verb.url), verb.method)
            elif isinstance(verb, Leave):
                if not in_wait_url:
                    raise _AppError(f"{url}: <Leave> outside an Enqueue waitUrl")
                self.call.note("leave", "leave")
                raise _Left()
            elif isinstance(verb, Hangup):
                raise _Ended("completed", "<Hangup>")
            elif isinstance(verb, Reject):
                raise _Ended("busy", f"<Reject reason={verb.reason}>")
            elif isinstance(verb, Enqueue):
                following = self._enqueue(verb, url)
                if following is not None:
                    return following
            elif isinstance(verb, Record):
                following = self._record(verb, url)
                if following is not None:
                    return following
            else:
                following = self._dial(verb, url)
                if following is not None:
                    return following
        return None

    def _prompt(self, verb: Prompt, until: Callable[[], bool] | None = None) -> bool:
        """Plays a prompt; True if `until()` interrupted it (caller input)."""
        if isinstance(verb, Say):
            self.call.note("say", verb.text, language=verb.language)
            return self._hear(speech_seconds(verb.text), verb.loop, until)
        if isinstance(verb, Play):
            self.call.note("play", verb.url or f"digits {verb.digits}")
            return self._hear(PLAY_SECONDS, verb.loop, until)
        self.call.note("pause", f"{verb.length:g}")
        return self.sleep(verb.length, until)

    def _hear(
        self, seconds: float, loop: int, until: Callable[[], bool] | None
    ) -> bool:
        return self.sleep(math.inf if loop == 0 else seconds * loop, until)

    # Gather ------------------------------------------------------------------

    def _gather(
        self, verb: Gather, url: str | None, in_wait_url: bool
    ) -> Target | None:
        call = self.call
        call.note("gather", " ".join(sorted(verb.input)), language=verb.language)
        if self.inbox is not None:
            params = self._listen(verb, self.inbox)
        else:
            params = self._scripted_answer(verb, in_wait_url)
        if not params and not verb.action_on_empty_result:
            return None
        action = verb.action if verb.action is not None else url
        if action is None:
            raise _AppError("<Gather> without action in inline TwiML")
        return Fetch(self._resolve(url, action), verb.method, params)

    def _scripted_answer(self, verb: Gather, in_wait_url: bool) -> dict[str, str]:
        """The script's next input, given once the prompts have played."""
        call = self.call
        for prompt in verb.prompts:
            self._prompt(prompt)
        answer = self._next_input(in_wait_url)
        params: dict[str, str] = {}
        if isinstance(answer, Digits) and "dtmf" in verb.input:
            call.note("input", f"digits {answer.keys}")
            digits, complete = _typed_digits(answer.keys, verb)
            if not complete:
                self.sleep(verb.timeout)  # Twilio waits for more keys
            if digits:
                params["Digits"] = digits
        elif isinstance(answer, Speech) and "speech" in verb.input:
            call.note("input", f"speech {answer.text}")
            self.sleep(speech_seconds(answer.text))
            params["SpeechResult"] = answer.text
            params["Confidence"] = f"{answer.confidence:g}"
            if verb.language:
                params["Language"] = verb.language
        else:
            call.note("input", "silence")
            self.sleep(verb.timeout)
        return params

    def _listen(self, verb: Gather, inbox: CallerInbox) -> dict[str, str]:
        """A live caller's answer: input interrupts the prompts (barge-in), each
        key restarts the timeout, and silence for `timeout` ends the Gather."""
        call = self.call
        inbox.open(
            Listening(
                "gather",
                verb.input,
                language=verb.language,
                num_digits=verb.num_digits,
                finish_on_key=verb.finish_on_key,
                timeout=verb.timeout,
            ),
            prompting=bool(verb.prompts),
        )
        try:
            for prompt in verb.prompts:
                if self._prompt(prompt, inbox.has_input):
                    break
            inbox.prompts_done()
            digits = ""
            heard = False
            while self.sleep(verb.timeout, inbox.has_input):
                item = inbox.take()
                heard = True
                if isinstance(item, Speech) and not digits:
                    call.note("input", f"speech {item.text}")
                    self.sleep(speech_seconds(item.text))
                    params = {
                        "SpeechResult": item.text,
                        "Confidence": f"{item.confidence:g}",
                    }
                    if verb.language:
                        params["Language"] = verb.language
                    return params
                if isinstance(item, Digits):
                    call.note("input", f"digits {item.keys}")
                    digits, complete = _typed_digits(digits + item.keys, verb)
                    if complete:
                        break
            if not heard:
                call.note("input", "silence")
            return {"Digits": digits} if digits else {}
        finally:
            inbox.close()

    def _next_input(self, in_wait_url: bool) -> CallerInput:
        inputs = self.queue_inputs if in_wait_url else self.inputs
        return inputs.pop(0) if inputs else Silence()

    # Record ------------------------------------------------------------------

    def _record(self, verb: Record, url: str | None) -> Target | None:
        """Voicemail: the caller speaks, then a key, silence, maxLength or a
        hang-up ends the recording. A recording with nothing said is "absent":
        no action request, the document goes on (Twilio's documented choice)."""
        call = self.call
        action = verb.action if verb.action is not None else url
        if action is None:
            raise _AppError("<Record> without action in inline TwiML")
        action_url = self._resolve(url, action)
        callback = (
            None
            if verb.recording_status_callback is None
            else self._resolve(url, verb.recording_status_callback)
        )
        call.note("record", f"up to {verb.max_length:g} s")
        if verb.play_beep:
            call.note("play", "beep")
            self.sleep(BEEP_SECONDS)
        recording = RecordingState(
            sid=new_sid("RE"),
            account_sid=call.account_sid,
            call_sid=call.sid,
            duration=0,
            status="in-progress",
        )
        with self.board.lock:
            self.board.recordings[recording.sid] = recording
        self._recording_event(verb, callback, recording, "in-progress")
        take = _Take(started=time.monotonic())
        try:
            if self.inbox is not None:
                self._record_live(verb, self.inbox, take)
            else:
                self._record_scripted(verb, take)
        except (_Ended, _Redirected) as exc:
            hung_up = isinstance(exc, _Ended)
            if hung_up:
                take.key = "hangup"
            self._end_recording(verb, take, recording)
            if hung_up and recording.status == "completed":
                params = self._recording_params(recording) | {"Digits": "hangup"}
                with self.board.lock:
                    request = self._params() | params
                try:
                    self.sender.send(action_url, verb.method, request)
                except WebhookError as exc:
                    self.carrier.record_error(f"call {call.sid}: Record action: {exc}")
            self._recording_event(verb, callback, recording, recording.status)
            raise
        self._end_recording(verb, take, recording)
        event = (callback, recording)
        if recording.status == "absent":
            self._recording_event(verb, *event, "absent")
            return None
        self._recording_event(verb, *event, "completed", deferred=True)
        params = self._recording_params(recording)
        if take.key is not None:
            params["Digits"] = take.key
        return Fetch(action_url, verb.method, params)

    def _record_scripted(self, verb: Record, take: _Take) -> None:
        script = self.call.script
        seconds = script.voicemail_seconds if script is not None else None
        key = script.voicemail_finish_key if script is not None else None
        limit = verb.max_length
        if seconds:
            take.spoken = min(seconds, limit)
            self.call.note("input", f"voicemail {take.spoken:g} s")
            self.sleep(take.spoken)
            if take.spoken >= limit:
                return
        if key and key in verb.finish_on_key:
            self.call.note("input", f"digits {key}")
            take.key = key
            return
        self.call.note("input", "silence")
        silence = verb.timeout if verb.timeout > 0 else math.inf
        self.sleep(min(silence, limit - take.spoken))

    def _record_live(self, verb: Record, inbox: CallerInbox, take: _Take) -> None:
        """A live caller: phrases are the message, a finishOnKey key ends it."""
        call = self.call
        inbox.open(
            Listening(
                "record",
                frozenset({"dtmf", "speech"}),
                finish_on_key=verb.finish_on_key,
                timeout=verb.timeout,
            )
        )
        try:
            while True:
                remaining = verb.max_length - self.board.simulated_seconds(take.started)
                if remaining <= 0:
                    return
                wait = min(verb.timeout, remaining) if verb.timeout > 0 else remaining
                if not self.sleep(wait, inbox.has_input):
                    return
                item = inbox.take()
                if isinstance(item, Speech):
                    call.note("input", f"speech {item.text}")
                    seconds = min(speech_seconds(item.text), remaining)
                    take.spoken += seconds
                    self.sleep(seconds)
                elif isinstance(item, Digits):
                    call.note("input", f"digits {item.keys}")
                    key = next((k for k in item.keys if k in verb.finish_on_key), None)
                    if key is not None:
                        take.key = key
                        return
        finally:
            inbox.close()

    def _end_recording(
        self, verb: Record, take: _Take, recording: RecordingState
    ) -> None:
        elapsed = min(self.board.simulated_seconds(take.started), verb.max_length)
        spoken = min(take.spoken, elapsed)
        with self.board.lock:
            if spoken <= 0:
                recording.status = "absent"
                recording.error_code = 16102  # "recording is silent"
                recording.duration = 0
            else:
                seconds = spoken if verb.trim == "trim-silence" else elapsed
                recording.status = "completed"
                recording.duration = max(1, round(seconds))
        self.call.note(
            "recorded",
            f"{recording.sid} {recording.duration} s"
            if recording.status == "completed"
            else "nothing said",
        )

    def _recording_params(self, recording: RecordingState) -> dict[str, str]:
        return {
            "RecordingUrl": self.carrier.recording_url(recording.sid),
            "RecordingSid": recording.sid,
            "RecordingDuration": str(recording.duration),
        }

    def _recording_event(
        self,
        verb: Record,
        callback: str | None,
        recording: RecordingState,
        status: str,
        *,
        deferred: bool = False,
    ) -> None:
        """The recordingStatusCallback for one of its subscribed events."""
        if callback is None or status not in verb.recording_status_callback_event:
            return
        params = {
            "AccountSid": recording.account_sid,
            "CallSid": recording.call_sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self.carrier.recording_url(recording.sid),
            "RecordingStatus": status,
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
            "RecordingStartTime": rfc2822(recording.start_time) or "",
        }
        if status != "in-progress":
            params["RecordingDuration"] = str(recording.duration)
        if recording.error_code is not None:
            params["ErrorCode"] = str(recording.error_code)
        method = verb.recording_status_callback_method
        if deferred:
            self.deferred.append((callback, method, params))
            return
        try:
            self.sender.send(callback, method, params)
        except WebhookError as exc:
            self.carrier.record_error(f"recording status callback {status}: {exc}")

    def _send_deferred(self) -> None:
        pending, self.deferred = self.deferred, []
        for url, method, params in pending:
            try:
                self.sender.send(url, method, params)
            except WebhookError as exc:
                self.carrier.record_error(f"recording status callback: {exc}")

    # Enqueue -----------------------------------------------------------------

    def _enqueue(self, verb: Enqueue, url: str | None) -> Target | None:
        call = self.call
        board = self.board
        call.note("enqueue", verb.name)
        with board.lock:
            queue = board.enqueue(call, verb.name, verb.max_queue_size)
            queue_sid = board.queue(verb.name).sid
            saved_hangup = (call.hangup_at, call.hangup_reason)
            if queue is not None and call.script is not None:
                patience = call.script.patience_seconds
                self._hang_up_in(patience, f"caller gave up after {patience:g} s")
        if queue is None:
            call.note("leave", "queue-full")
            return self._queue_action(verb, url, "queue-full", queue_sid)
        wait_target: Target | None = (
            Fetch(self._resolve(url, verb.wait_url), verb.wait_url_method)
            if verb.wait_url
            else None
        )
        self.in_queue = True
        try:
            target = wait_target
            while True:
                if target is None:
                    call.note("wait", "hold music")
                    self.sleep(math.inf)
                else:
                    call.note("wait", _describe(target))
                    verbs, doc_url = self._load(target)
                    target = (
                        self._execute(verbs, doc_url, in_wait_url=True) or wait_target
                    )
        except _Left:
            result = "leave"
        except _Bridged:
            self.in_queue = False
            assert call.bridge is not None
            bridge = call.bridge
            call.note("dial", f"bridged with {bridge.other(call).to}")
            self.sleep(math.inf, until=lambda: bridge.over)
            result = "bridged"
        except _Redirected:
            self._leave_queue(saved_hangup)
            self._queue_action(verb, url, "redirected", queue_sid, follow=False)
            raise
        except _Ended:
            self._leave_queue(saved_hangup)
            self._queue_action(verb, url, "hangup", queue_sid, follow=False)
            raise
        finally:
            self.in_queue = False
        self._leave_queue(saved_hangup)
        return self._queue_action(verb, url, result, queue_sid)

    def _leave_queue(self, saved_hangup: tuple[float | None, str]) -> None:
        with self.board.lock:
            self.board.leave_queue(self.call)
            self.call.hangup_at, self.call.hangup_reason = saved_hangup

    def _queue_action(
        self,
        verb: Enqueue,
        url: str | None,
        result: str,
        queue_sid: str,
        *,
        follow: bool = True,
    ) -> Target | None:
        """The Enqueue action with its QueueResult; fetched now when not followed."""
        if verb.action is None:
            return None
        params = {
            "QueueResult": result,
            "QueueSid": queue_sid,
            "QueueTime": str(round(self.call.queue_time)),
        }
        target = Fetch(self._resolve(url, verb.action), verb.method, params)
        if follow:
            return target
        with self.board.lock:
            request = self._params() | params
        try:
            self.sender.send(target.url, target.method, request)
        except WebhookError as exc:
            self.carrier.record_error(f"call {self.call.sid}: Enqueue action: {exc}")
        return None

    # Dial --------------------------------------------------------------------

    def _dial(self, verb: Dial, url: str | None) -> Target | None:
        started = time.monotonic()
        first = verb.targets[0]
        extra: dict[str, str] = {}
        if isinstance(first, Conference):
            spec = self._join_spec(first, url)
            status = self._conference(spec, time_limit=verb.time_limit)
        elif isinstance(first, Queue):
            status = self._dial_queue(verb, first)
        else:
            status, child_sid = self._dial_endpoints(verb)
            if child_sid is not None:
                extra["DialCallSid"] = child_sid
        if verb.action is None:
            return None
        seconds = self.board.simulated_seconds(started)
        params = {"DialCallStatus": status, "DialCallDuration": str(round(seconds))}
        return Fetch(self._resolve(url, verb.action), verb.method, params | extra)

    def _join_spec(self, noun: Conference, url: str | None) -> JoinSpec:
        callback = noun.status_callback
        return JoinSpec(
            conference_name=noun.name,
            label=noun.participant_label,
            coaching=noun.coach is not None,
            call_sid_to_coach=noun.coach,
            start_conference_on_enter=noun.start_conference_on_enter,
            end_conference_on_exit=noun.end_conference_on_exit,
            muted=noun.muted,
            beep=noun.beep,
            status_callback=None if callback is None else self._resolve(url, callback),
            status_callback_method=noun.status_callback_method,
            status_callback_events=noun.status_callback_event,
        )

    def _conference(self, spec: JoinSpec, *, time_limit: float) -> str:
        call = self.call
        call.note("conference", spec.conference_name)
        with self.board.lock:
            participant, notices = self.board.join(call, spec)
        self._send_notices(notices)
        started = time.monotonic()
        try:
            while True:
                left = time_limit - self.board.simulated_seconds(started)
                done = self.sleep(
                    left,
                    until=lambda: (
                        participant.left or bool(call.outbox) or bool(call.documents)
                    ),
                )
                with self.board.lock:
                    outbox, call.outbox = call.outbox, []
                    documents, call.documents = call.documents, []
                self._send_notices(outbox)
                for kind, url, method in documents:
                    self._play_participant_document(kind, url, method)
                if not done or participant.left:
                    break
        finally:
            with self.board.lock:
                notices = self.board.leave(participant)
            self._send_notices(notices)
        return "completed"

    def _play_participant_document(self, kind: str, url: str, method: str) -> None:
        """A conference participant's `HoldUrl` or `AnnounceUrl`: fetched like
        Twilio (the leg's parameters), its `<Say>`s noted in the transcript
        (`<Play>` is the music already noted). Only `<Play>`, `<Say>`,
        `<Pause>` and `<Redirect>` are allowed there."""
        with self.board.lock:
            params = self._params()
        try:
            verbs = parse_twiml(self.sender.send(url, method, params))
        except (WebhookError, TwimlError) as exc:
            self.carrier.record_error(f"call {self.call.sid}: {kind} document: {exc}")
            return
        for verb in verbs:
            if isinstance(verb, Say):
                self.call.note("say", verb.text, language=verb.language)
            elif not isinstance(verb, Play | Pause | Redirect):
                self.carrier.record_error(
                    f"call {self.call.sid}: {kind} document: "
                    f"<{type(verb).__name__}> is not allowed there"
                )

    def _dial_queue(self, verb: Dial, noun: Queue) -> str:
        call = self.call
        call.note("dial", f"queue {noun.name}")
        with self.board.lock:
            queue = self.board.queues.get(noun.name)
            member = queue.members[0] if queue and queue.members else None
            if member is None:
                bridge = None
            else:
                self.board.leave_queue(member)
                bridge = Bridge(caller=member, callee=call)
                member.bridge = call.bridge = bridge
                self.board.mark_connected(member, call)
                member.wake.set()
        if bridge is None:
            call.note("dial", f"queue {noun.name} is empty")
            return "no-answer"
        self._stay_bridged(bridge, verb.time_limit)
        return "completed"

    def _dial_endpoints(self, verb: Dial) -> tuple[str, str | None]:
        """Rings the first registered hotliner among the nouns."""
        call = self.call
        endpoints = [
            f"client:{t.identity}" if isinstance(t, Client) else t.number
            for t in verb.targets
            if isinstance(t, Client | Number)
        ]
        with self.board.lock:
            endpoint = next((e for e in endpoints if e in self.board.hotliners), None)
        if endpoint is None:
            call.note("dial", f"{', '.join(endpoints)}: unknown")
            return "failed", None
        call.note("dial", endpoint)
        child = self.carrier.launch_call(
            direction="outbound-dial",
            from_number=verb.caller_id or call.from_number,
            to=endpoint,
            ring_timeout=verb.timeout,
            parent_call_sid=call.sid,
        )
        try:
            self.sleep(
                math.inf, until=lambda: child.bridge is not None or child.ended.is_set()
            )
        except (_Ended, _Redirected):
            with self.board.lock:
                self.board.request_end(child, "canceled", "caller left before answer")
            raise
        bridge = child.bridge
        if bridge is None:
            return child.status if child.status != "completed" else "failed", child.sid
        self._stay_bridged(bridge, verb.time_limit)
        return "completed", child.sid

    def _bridge_to_parent(self) -> None:
        """A `<Dial>`ed hotliner answered: talk with the leg that dialed it."""
        call = self.call
        with self.board.lock:
            parent = self.board.calls.get(call.parent_call_sid or "")
            if parent is None or not parent.is_live:
                raise _Ended("completed", "the caller had left")
            bridge = Bridge(caller=parent, callee=call)
            parent.bridge = call.bridge = bridge
            self.board.mark_connected(parent, call)
            parent.wake.set()
        self._stay_bridged(bridge, math.inf)

    def _stay_bridged(self, bridge: Bridge, time_limit: float) -> None:
        try:
            self.sleep(time_limit, until=lambda: bridge.over)
        finally:
            with self.board.lock:
                bridge.over = True
                bridge.other(self.call).wake.set()

    # HTTP --------------------------------------------------------------------

    def _params(self) -> dict[str, str]:
        """The parameters of every request about this call (lock held)."""
        call = self.call
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_number,
            "Direction": call.direction,
            "From": call.from_number,
            "To": call.to,
        }
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        params.update(self.board.queue_params(call))
        return params

    def _request(self, url: str, method: str, params: dict[str, str]) -> str:
        try:
            return self.sender.send(url, method, params)
        except WebhookError as exc:
            raise _AppError(str(exc)) from None

    def _resolve(self, base: str | None, url: str) -> str:
        if urlsplit(url).scheme:
            return url
        if base is None:
            raise _AppError(f"relative URL {url!r} in inline TwiML")
        return urljoin(base, url)

    def _status_event(self, event: str) -> None:
        call = self.call
        if not call.status_callback or event not in call.status_callback_events:
            return
        with self.board.lock:
            params = self._params()
            params["CallStatus"] = "initiated" if event == "initiated" else call.status
            params["SequenceNumber"] = str(call.sequence_number)
            call.sequence_number += 1
        params["Timestamp"] = rfc2822(utcnow()) or ""
        params["CallbackSource"] = "call-progress-events"
        if event == "completed":
            params["CallDuration"] = str(call.duration or 0)
        sent = time.monotonic()
        try:
            self.sender.send(call.status_callback, call.status_callback_method, params)
        except WebhookError as exc:
            self.carrier.record_error(
                f"call {call.sid}: status callback {event}: {exc}"
            )
        with self.board.lock:
            call.callbacks_sent.append((event, sent, time.monotonic()))

    def _send_notices(self, notices: list[Notice]) -> None:
        for notice in notices:
            try:
                self.sender.send(notice.url, notice.method, notice.params)
            except WebhookError as exc:
                event = notice.params.get("StatusCallbackEvent", "")
                self.carrier.record_error(f"conference status callback {event}: {exc}")


def _typed_digits(keys: str, verb: Gather) -> tuple[str, bool]:
    """The digits Twilio reports, and whether the Gather ended without its timeout."""
    digits = ""
    for key in keys:
        if verb.finish_on_key and key == verb.finish_on_key:
            return digits, True
        digits += key
        if verb.num_digits is not None and len(digits) >= verb.num_digits:
            return digits, True
    return digits, False


def _caller_number(leg: Call) -> str:
    """The outside party's number on a leg: From inbound, To when we called."""
    return leg.from_number if leg.direction == "inbound" else leg.to


def _describe(target: Target) -> str:
    return target.url if isinstance(target, Fetch) else "inline TwiML"
