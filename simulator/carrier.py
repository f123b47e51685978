"""The carrier: Twilio's part in a demo, an end-to-end test or a benchmark.

It owns the switchboard (who is where), one thread per live call leg, and the
REST API server the app's `twilio.rest.Client` talks to. Everything a test
asserts on is here: `calls`, `errors`, `messages`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, make_server

from simulator.calls import CallSession
from simulator.errors import SimulatorError
from simulator.scripts import CallerScript, HotlinerProfile
from simulator.sids import new_sid
from simulator.state import (
    Call,
    Fetch,
    JoinSpec,
    SoftphoneFeed,
    Target,
    TranscriptEntry,
)
from simulator.switchboard import Switchboard

__all__ = ["Call", "CallHandle", "Carrier", "CarrierConfig", "TranscriptEntry"]

log = logging.getLogger(__name__)

CallHandle = Call  # what `place_call` returns: the live call record itself
TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    """The account and the hotline number as the simulated Twilio knows them.

    `voice_url` and `status_callback_url` are the number's webhooks;
    `time_scale` multiplies every simulated duration (0.05 plays a 60 s wait in
    3 s). Durations reported to the app (CallDuration, QueueTime...) stay in
    simulated seconds, so figures look like real ones.

    Softphones (people answering hotliner legs in a browser): access tokens are
    checked with `api_key_secret`, or with `auth_token` when None (in
    simulation the app signs them with the simulator's auth token);
    `console_origins` are the web origins (`scheme://host:port`) whose pages
    may call the softphone API (CORS). The two softphone durations are real
    seconds, a browser's, not the simulated clock's: a comment keeps each
    events stream alive (and finds a closed page) every
    `softphone_keepalive_seconds`, and a hotliner's simulated profile comes
    back `softphone_grace_seconds` after their last page went, so a reload
    does not hand the line back to the robot.
    """

    account_sid: str
    auth_token: str
    voice_url: str
    status_callback_url: str | None = None
    hotline_number: str = "+33180000000"
    time_scale: float = 1.0
    api_key_secret: str | None = None
    console_origins: tuple[str, ...] = ()
    softphone_keepalive_seconds: float = 10.0
    softphone_grace_seconds: float = 5.0
    #: The account's CPS, in real seconds: calls made through the REST API
    #: are dialled at most this many a second and wait `queued` meanwhile,
    #: as Twilio places them (its default is 1); their ring timeout starts
    #: once dialled. 0: no limit.
    calls_per_second: float = 0.0

    def __post_init__(self) -> None:
        if not (self.account_sid.startswith("AC") and len(self.account_sid) == 34):
            raise SimulatorError("account_sid must be 'AC' followed by 32 characters")
        if self.time_scale <= 0:
            raise SimulatorError("time_scale must be positive")
        for origin in self.console_origins:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or f"{parts.scheme}://{parts.netloc}" != origin
            ):
                raise SimulatorError(
                    f"console origin {origin!r} must be scheme://host[:port]"
                )
        if self.calls_per_second < 0:
            raise SimulatorError("calls_per_second must not be negative (0: no limit)")
        if self.softphone_keepalive_seconds <= 0 or self.softphone_grace_seconds < 0:
            raise SimulatorError(
                "softphone keepalive must be positive and grace not negative"
            )

    @property
    def access_token_secret(self) -> str:
        """The key softphone access tokens are signed with."""
        return self.api_key_secret or self.auth_token


class Carrier:
    """Simulated Twilio: places calls, runs their TwiML, serves the REST API."""

    def __init__(self, config: CarrierConfig) -> None:
        from simulator.rest import create_rest_app

        self.config = config
        self.board = Switchboard(config.account_sid, config.time_scale)
        self.errors: list[str] = []
        self.messages: list[dict[str, str]] = []
        #: (path, seconds) of every webhook the app answered, in order.
        self.webhook_times: list[tuple[str, float]] = []
        self.app = create_rest_app(self)
        self._idle = threading.Condition(self.board.lock)
        #: Each live call's thread, by call sid (what `stop` joins). A dict,
        #: not a list swept at each end: with thousands of callers on the
        #: line, sweeping under the board's lock cost O(calls) per call.
        self._threads: dict[str, threading.Thread] = {}
        self._active = 0
        self._stopping = False
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._restore_timers: list[threading.Timer] = []
        #: Calls made through the REST API waiting their turn to be dialled,
        #: in order, and when the next may go (monotonic), under
        #: `calls_per_second`; a call cancelled while queued leaves its place.
        self._dial_queue: deque[str] = deque()
        self._next_dial = 0.0

    @property
    def calls(self) -> dict[str, Call]:
        return self.board.calls

    # REST server -------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serves the REST API in a daemon thread (port 0 picks a free port)."""
        if self._server is not None:
            raise SimulatorError("the carrier is already started")
        self._server = make_server(host, port, self.app, threaded=True)
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="simulator-rest",
            daemon=True,
        )
        self._server_thread.start()

    @property
    def api_base_url(self) -> str:
        if self._server is None:
            raise SimulatorError("the carrier is not started")
        return f"http://{self._server.host}:{self._server.port}"

    def recording_url(self, recording_sid: str) -> str:
        """Where the app fetches a recording (Twilio's RecordingUrl shape)."""
        base = self.api_base_url if self._server is not None else TWILIO_API
        account = self.config.account_sid
        return f"{base}/2010-04-01/Accounts/{account}/Recordings/{recording_sid}"

    def stop(self, timeout: float = 20.0) -> None:
        """Hangs up every call, waits for their threads, stops the REST server."""
        with self.board.lock:
            self._stopping = True
            self.board.close_softphones()
            timers, self._restore_timers = self._restore_timers, []
            for call in self.board.calls.values():
                if call.is_live:
                    status = "completed" if call.answered_at is not None else "canceled"
                    self.board.request_end(call, status, "carrier stopped")
            threads = list(self._threads.values())
        for timer in timers:
            timer.cancel()
        for thread in threads:
            thread.join(timeout)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(timeout)
            self._server_thread = None

    # Hotliners ---------------------------------------------------------------

    def audio_of(self, conference_name: str) -> list[dict[str, tuple[str, ...]]]:
        """Who heard whom in the conference of that name (live or ended), each
        time it changed: a listening supervisor heard by nobody, a coach by
        the hotliner alone."""
        with self.board.lock:
            found = [
                c for c in self.board.conferences.values() if c.name == conference_name
            ]
            return [dict(step) for c in found for step in c.audio]

    def add_hotliner(self, profile: HotlinerProfile) -> None:
        """Registers the endpoint and, with a console, makes the hotliner available.

        The console call is made here, synchronously, so a test knows the app
        has the hotliner available when this returns (its errors propagate).
        """
        with self.board.lock:
            self.board.add_hotliner(profile)
        if profile.console is not None:
            profile.console.set_state(profile.agent_id, "available")

    # Softphones --------------------------------------------------------------

    def connect_softphone(self, identity: str) -> SoftphoneFeed:
        """`client:<identity>` is a person while the feed is open (an events stream).

        See `Switchboard.connect_softphone`; `disconnect_softphone` must follow.
        """
        with self.board.lock:
            if self._stopping:
                raise SimulatorError("the carrier is stopping")
            return self.board.connect_softphone(identity)

    def disconnect_softphone(self, feed: SoftphoneFeed) -> None:
        """The stream ended; the simulated hotliner comes back after the grace
        period unless another stream of the same person opens meanwhile."""
        with self.board.lock:
            generation = self.board.disconnect_softphone(feed)
            if generation is None or self._stopping:
                return
            timer = threading.Timer(
                self.config.softphone_grace_seconds,
                self._restore_hotliner,
                args=(feed.endpoint, generation),
            )
            timer.daemon = True
            self._restore_timers = [t for t in self._restore_timers if t.is_alive()]
            self._restore_timers.append(timer)
        timer.start()

    def _restore_hotliner(self, endpoint: str, generation: int) -> None:
        with self.board.lock:
            restored = self.board.restore_hotliner(endpoint, generation)
        if restored:
            log.info("softphone of %s closed: the simulated hotliner is back", endpoint)

    @property
    def is_stopping(self) -> bool:
        with self.board.lock:
            return self._stopping

    # Calls -------------------------------------------------------------------

    def place_call(self, script: CallerScript) -> CallHandle:
        """An inbound call from `script.from_number` to the hotline number."""
        return self.launch_call(
            direction="inbound",
            from_number=script.from_number,
            to=script.to_number or self.config.hotline_number,
            status="ringing",
            script=script,
            target=Fetch(self.config.voice_url, "POST"),
            status_callback=self.config.status_callback_url,
        )

    def hang_up(self, call_sid: str, reason: str = "caller hung up") -> bool:
        """The caller puts the phone down (an interactive call's Hang up button).

        False when the call is unknown or already over.
        """
        with self.board.lock:
            call = self.board.calls.get(call_sid)
            if call is None or not call.is_live:
                return False
            status = "completed" if call.answered_at is not None else "canceled"
            self.board.request_end(call, status, reason)
            return True

    def launch_call(
        self,
        *,
        direction: str,
        from_number: str,
        to: str,
        status: str = "queued",
        script: CallerScript | None = None,
        target: Target | None = None,
        ring_timeout: float = 60.0,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: frozenset[str] = frozenset({"completed"}),
        parent_call_sid: str | None = None,
        join: JoinSpec | None = None,
    ) -> Call:
        """Creates a call leg and starts the thread that plays it."""
        with self.board.lock:
            if self._stopping:
                raise SimulatorError("the carrier is stopping")
            profile = self.board.hotliners.get(to) if direction != "inbound" else None
            call = Call(
                sid=new_sid("CA"),
                account_sid=self.config.account_sid,
                direction=direction,
                from_number=from_number,
                to=to,
                status=status,
                script=script,
                profile=profile,
                target=target,
                ring_timeout=ring_timeout,
                status_callback=status_callback,
                status_callback_method=status_callback_method,
                status_callback_events=status_callback_events,
                parent_call_sid=parent_call_sid,
                join=join,
            )
            self.board.calls[call.sid] = call
            if direction == "outbound-api" and self.config.calls_per_second > 0:
                self._dial_queue.append(call.sid)  # dialled in turn (`dial_wait`)
            thread = threading.Thread(
                target=self._play, args=(call,), name=f"call-{call.sid}", daemon=True
            )
            self._threads[call.sid] = thread
            self._active += 1
        thread.start()
        return call

    def dial_wait(self, call_sid: str) -> float:
        """Seconds (real) until this call may be dialled, 0 once it is its
        turn (it then leaves the queue and the next turn is set)."""
        with self.board.lock:
            if call_sid not in self._dial_queue:
                return 0.0
            now = time.monotonic()
            if self._dial_queue[0] != call_sid or now < self._next_dial:
                return max(self._next_dial - now, 0.005)
            self._dial_queue.popleft()
            self._next_dial = now + 1.0 / self.config.calls_per_second
            return 0.0

    def leave_dial_queue(self, call_sid: str) -> None:
        """A queued call ended before its turn: the next takes its place."""
        with self.board.lock:
            if call_sid in self._dial_queue:
                self._dial_queue.remove(call_sid)

    def _play(self, call: Call) -> None:
        try:
            CallSession(self, call).run()
        finally:
            with self._idle:
                self._active -= 1
                self._threads.pop(call.sid, None)
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """True once every call has ended and its hotliner has wrapped up."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def record_error(self, message: str) -> None:
        log.warning("simulated Twilio would report: %s", message)
        with self.board.lock:
            self.errors.append(message)

    def record_webhook_time(self, url: str, seconds: float) -> None:
        with self.board.lock:
            self.webhook_times.append((urlsplit(url).path, seconds))

    def record_message(self, message: dict[str, str]) -> None:
        with self.board.lock:
            self.messages.append(message)

    def snapshot(self) -> dict[str, Any]:
        """Counts by call status, for benchmarks and debugging."""
        with self.board.lock:
            counts: dict[str, int] = {}
            for call in self.board.calls.values():
                counts[call.status] = counts.get(call.status, 0) + 1
            return {"calls": counts, "errors": len(self.errors)}
