"""The carrier's REST API answering 429 and 5xx, hanging, or not there.

A loopback HTTP server plays Twilio's API with a script of answers; the
hotline's real adapter (`TwilioTelephony` over Twilio's own client and
`BaseUrlHttpClient`) talks to it. What must hold: every request has a
timeout; what the carrier turned away is sent again with backoff and jitter;
what it may have done is sent again only when it reads (never a second phone
ringing for one offer, nor a second text, nor a late redirect undoing what
was decided since); attempts are bounded in number and in time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from twilio.rest import Client

from core.telephony import REST_ATTEMPTS, TelephonyError, TwilioTelephony
from core.twilio_client import BaseUrlHttpClient

ACCOUNT = "AC" + "0" * 32
TIMEOUT = 0.4  # the REST timeout in these tests (seconds)


@dataclass
class Answer:
    status: int
    body: dict[str, object] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than TIMEOUT: a hang)


@dataclass
class FakeTwilio:
    """Answers requests from `script` in order (the last one again and
    again), and counts them by method and path."""

    script: list[Answer] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, method: str, path: str) -> Answer:
        with self.lock:
            self.seen.append((method, path))
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def count(self, method: str, suffix: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.seen if m == method and p.endswith(suffix))


@pytest.fixture
def fake() -> Iterator[tuple[FakeTwilio, str]]:
    twilio = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            answer = twilio.next(self.command, self.path.split("?")[0])
            time.sleep(answer.delay)
            body = json.dumps(answer.body).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up waiting

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield twilio, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def telephony(base_url: str, waits: list[float]) -> TwilioTelephony:
    client = Client(
        ACCOUNT, "token", http_client=BaseUrlHttpClient(base_url, timeout=TIMEOUT)
    )
    return TwilioTelephony(client, sleep=waits.append)


def call(sid: str = "CA" + "1" * 32, status: str = "queued") -> dict[str, object]:
    return {"sid": sid, "account_sid": ACCOUNT, "status": status}


def error(status: int) -> dict[str, object]:
    return {"code": 20000 + status, "message": f"error {status}", "status": status}


def place(rest: TwilioTelephony) -> str:
    return rest.place_call(
        to="client:nina",
        from_="+33100000000",
        url="https://hotline.test/voice/agent/answer",
        status_callback="https://hotline.test/voice/agent/status",
        timeout=20,
    )


CALLS = f"/Accounts/{ACCOUNT}/Calls.json"


def test_a_call_turned_away_with_429_is_placed_after_a_backoff(
    fake: tuple[FakeTwilio, str],
) -> None:
    twilio, url = fake
    twilio.script = [
        Answer(429, error(429)),
        Answer(429, error(429)),
        Answer(201, call()),
    ]
    waits: list[float] = []
    assert place(telephony(url, waits)) == "CA" + "1" * 32
    assert twilio.count("POST", CALLS) == 3
    # Exponential backoff with jitter: 0.25 s then 0.5 s, each plus up to 0.25 s.
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5
    assert 0.5 <= waits[1] <= 0.75


def test_a_call_the_carrier_may_have_placed_is_never_placed_twice(
    fake: tuple[FakeTwilio, str],
) -> None:
    """A 5xx or a timeout after sending: the phone may be ringing already;
    a second request would ring it twice for one offer."""
    twilio, url = fake
    for answers in ([Answer(503, error(503))], [Answer(201, call(), delay=1.0)]):
        twilio.script = answers
        twilio.seen.clear()
        waits: list[float] = []
        started = time.monotonic()
        with pytest.raises(TelephonyError):
            place(telephony(url, waits))
        assert time.monotonic() - started < TIMEOUT + 0.5
        assert twilio.count("POST", CALLS) == 1
        assert waits == []


def test_a_text_is_sent_again_only_when_turned_away(
    fake: tuple[FakeTwilio, str],
) -> None:
    twilio, url = fake
    message = {"sid": "SM" + "1" * 32, "account_sid": ACCOUNT, "status": "queued"}
    twilio.script = [Answer(429, error(429)), Answer(201, message)]
    rest = telephony(url, [])
    rest.send_sms(to="+33612345678", from_="+33100000000", body="Récapitulatif")
    assert twilio.count("POST", "/Messages.json") == 2
    twilio.script = [Answer(500, error(500)), Answer(201, message)]
    twilio.seen.clear()
    with pytest.raises(TelephonyError):
        rest.send_sms(to="+33612345678", from_="+33100000000", body="Récapitulatif")
    assert twilio.count("POST", "/Messages.json") == 1


def test_a_read_is_repeated_through_5xx_and_a_hang(
    fake: tuple[FakeTwilio, str],
) -> None:
    """Asking a call's status twice is the same as once."""
    twilio, url = fake
    sid = "CA" + "2" * 32
    twilio.script = [
        Answer(502, error(502)),
        Answer(200, call(sid, "in-progress"), delay=1.0),  # hangs: timed out
        Answer(200, call(sid, "in-progress")),
    ]
    waits: list[float] = []
    assert telephony(url, waits).status(sid) == "in-progress"
    assert twilio.count("GET", f"/Calls/{sid}.json") == 3
    assert len(waits) == 2


def test_an_update_is_sent_again_only_when_turned_away(
    fake: tuple[FakeTwilio, str],
) -> None:
    """A redirect the carrier may have carried out is not sent a second
    later: by then the call may have moved on (a specialist joined)."""
    twilio, url = fake
    sid = "CA" + "5" * 32
    twilio.script = [Answer(429, error(429)), Answer(200, call(sid, "in-progress"))]
    telephony(url, []).redirect(sid, "https://hotline.test/voice/caller/connect")
    assert twilio.count("POST", f"/Calls/{sid}.json") == 2
    for answer in (Answer(502, error(502)), Answer(200, call(sid), delay=1.0)):
        twilio.script = [answer, Answer(200, call(sid, "in-progress"))]
        twilio.seen.clear()
        with pytest.raises(TelephonyError):
            telephony(url, []).redirect(sid, "https://hotline.test/x")
        assert twilio.count("POST", f"/Calls/{sid}.json") == 1


def test_attempts_are_bounded_and_a_4xx_is_not_repeated(
    fake: tuple[FakeTwilio, str],
) -> None:
    twilio, url = fake
    sid = "CA" + "3" * 32
    twilio.script = [Answer(500, error(500))]
    with pytest.raises(TelephonyError):
        telephony(url, []).status(sid)
    assert twilio.count("GET", f"/Calls/{sid}.json") == REST_ATTEMPTS
    twilio.script = [Answer(400, error(400))]
    twilio.seen.clear()
    with pytest.raises(TelephonyError):
        telephony(url, []).status(sid)
    assert twilio.count("GET", f"/Calls/{sid}.json") == 1


def test_a_hanging_api_costs_a_bounded_time(fake: tuple[FakeTwilio, str]) -> None:
    twilio, url = fake
    sid = "CA" + "4" * 32
    twilio.script = [Answer(200, call(sid), delay=5.0)]
    client = Client(
        ACCOUNT, "token", http_client=BaseUrlHttpClient(url, timeout=TIMEOUT)
    )
    rest = TwilioTelephony(client, retry_seconds=1.0, sleep=lambda _: None)
    started = time.monotonic()
    with pytest.raises(TelephonyError):
        rest.status(sid)
    took = time.monotonic() - started
    # Attempts start within the retry budget (1 s), each bounded by TIMEOUT.
    assert took < 1.0 + TIMEOUT + 0.5
    assert 2 <= twilio.count("GET", f"/Calls/{sid}.json") <= REST_ATTEMPTS


def test_a_carrier_not_listening_is_tried_again_even_to_place_a_call() -> None:
    """A connection refused never reached the carrier: safe to send again."""
    waits: list[float] = []
    rest = telephony("http://127.0.0.1:9", waits)  # discard port: nobody there
    with pytest.raises(TelephonyError):
        place(rest)
    assert len(waits) == REST_ATTEMPTS - 1
