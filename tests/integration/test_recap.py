"""The recap a hotliner sends after a call: previewed, then texted and mailed.

A real SMTP server (aiosmtpd) on a loopback port receives the email; the SMS
goes through the carrier's REST API (`RecordingTelephony` records it); the
recap is noted on the call and reaches the call log.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from sqlalchemy.orm import Session
from support import (
    RecordingTelephony,
    console_session,
    round_the_clock,
)

from agents.lifecycle import AgentState
from calllog.models import Call
from calllog.writer import drain_events
from core.embedded_redis import free_port
from queues.routing import memberships, rules
from queues.runtime import Runtime

SCRIPT = "<script>alert('recap')</script>"
NUMBER = "+33612345678"


class Inbox:
    """aiosmtpd's handler: every message received, parsed."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def app(make_app: AppFactory, smtp: tuple[Inbox, int]) -> Flask:
    return make_app(
        round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là")),
        accounts=("nina", "omar"),
        settings={
            "smtp_url": f"smtp://127.0.0.1:{smtp[1]}",
            "mail_from": "hotline@example.fr",
        },
    )


def runtime(app: Flask) -> Runtime:
    return app.extensions["hotline"].runtime  # type: ignore[no-any-return]


def finished_call(app: Flask, sid: str, lang: str, number: str = NUMBER) -> None:
    """A caller who talked with Nina and hung up."""
    rt = runtime(app)
    nina = rt.routing.hotliners["nina"]  # type: ignore[index]
    rt.store.agents.set_state(
        "nina", AgentState.AVAILABLE, memberships(nina, rt.routing)
    )
    rt.store.start_call(sid, number, "+33180000000", lang)
    rt.store.enqueue(sid, "printer", 0)
    offer = rt.store.match(rules(rt.routing), 15_000)
    assert offer is not None
    rt.store.accept(offer.offer_id, "CAleg" + sid)
    assert rt.store.bridge(sid) == "talking"
    rt.store.hang_up(sid, "completed", wrapup_ms=60_000)


def test_a_recap_is_previewed_then_texted_and_mailed_in_the_callers_language(
    app: Flask, telephony: RecordingTelephony, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    finished_call(app, "CArecap00000001", "fr-FR")
    nina, headers = console_session(app, "nina")
    words = {
        "summary": f"Pilote de l'imprimante réinstallé {SCRIPT}",
        "next_steps": "Redémarrer le poste ce soir",
    }
    preview = nina.post(
        "/api/calls/CArecap00000001/recap/preview", json=words, headers=headers
    )
    assert preview.status_code == 200, preview.get_json()
    shown = preview.get_json()
    assert shown["sms_to"] == NUMBER
    assert shown["email_ready"] is True
    assert "appel HL-00000001" in shown["sms"]
    assert "avec Nina :" in shown["sms"]
    assert SCRIPT not in shown["email_html"]
    assert telephony.texts == []  # a preview sends nothing
    assert inbox.messages == []

    sent = nina.post(
        "/api/calls/CArecap00000001/recap",
        json={**words, "sms": True, "email": "jeanne.dupont@example.fr"},
        headers=headers,
    )
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["sent"] == {
        "sms": NUMBER,
        "email": "jeanne.dupont@example.fr",
    }
    assert [t["to"] for t in telephony.texts] == [NUMBER]
    assert telephony.texts[0]["body"] == shown["sms"]
    ((to, mail),) = inbox.messages
    assert to == ["jeanne.dupont@example.fr"]
    assert mail["Subject"] == shown["email_subject"]
    assert mail["From"] == "hotline@example.fr"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Ce qu'il vous reste à faire :\nRedémarrer le poste ce soir" in (
        text.get_content().replace("\r\n", "\n")
    )
    assert SCRIPT not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()

    rt = runtime(app)
    assert rt.store.call("CArecap00000001")["recap"] == "sms,email"
    engine = app.extensions["hotline"].engine
    drain_events(rt.redis, engine, rt.keys)
    with Session(engine) as db:
        row = db.get(Call, "CArecap00000001")
        assert row is not None
        assert row.recap_sent == "sms,email"


def test_an_english_speaking_caller_gets_an_english_recap(
    app: Flask, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    finished_call(app, "CArecap00000002", "en-US")
    nina, headers = console_session(app, "nina")
    sent = nina.post(
        "/api/calls/CArecap00000002/recap",
        json={"summary": "Printer driver reinstalled", "email": "j@example.com"},
        headers=headers,
    )
    assert sent.status_code == 200, sent.get_json()
    ((_, mail),) = inbox.messages
    assert mail["Subject"].startswith("Your call to the IT help desk")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert "What was done:\nPrinter driver reinstalled" in body.get_content().replace(
        "\r\n", "\n"
    )


def test_a_recap_that_cannot_be_sent_says_why_and_sends_nothing(
    app: Flask, telephony: RecordingTelephony, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    finished_call(app, "CArecap00000003", "fr-FR")
    finished_call(app, "CArecap00000004", "fr-FR", number="anonymous")
    nina, headers = console_session(app, "nina")
    omar, omar_headers = console_session(app, "omar")
    good = {"summary": "Fait", "sms": True}

    def status(client: FlaskClient, sid: str, body: object, hdrs: Any) -> int:
        answer = client.post(f"/api/calls/{sid}/recap", json=body, headers=hdrs)
        assert "error" in answer.get_json()
        return answer.status_code

    sid = "CArecap00000003"
    assert status(nina, sid, {"summary": "Fait"}, headers) == 400  # no channel
    assert status(nina, sid, {"summary": " ", "sms": True}, headers) == 400
    assert status(nina, sid, {**good, "summary": "x" * 501}, headers) == 400
    assert status(nina, sid, {**good, "email": "a@b.fr, c@d.fr"}, headers) == 400
    assert status(nina, sid, {**good, "sms": "yes"}, headers) == 400
    assert status(omar, sid, good, omar_headers) == 403  # not his call
    assert status(nina, "CAnobody", good, headers) == 404
    assert status(nina, "CArecap00000004", good, headers) == 409  # no number
    no_csrf = nina.post(f"/api/calls/{sid}/recap", json=good)
    assert no_csrf.status_code == 400
    assert telephony.texts == []
    assert inbox.messages == []
    assert "recap" not in runtime(app).store.call(sid)
