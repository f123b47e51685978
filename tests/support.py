"""Helpers shared by tests: Twilio-shaped forms and signatures, TwiML parsing."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from core.settings import DEFAULT_CONFIG_DIR, Settings

PUBLIC = "https://hotline.test"
TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "AC" + "a" * 32

#: `signed_post(path, form)`: a POST signed as Twilio signs it.
SignedPost = Callable[..., TestResponse]


def sign(
    path: str, form: dict[str, Any], token: str = TOKEN, base: str = PUBLIC
) -> str:
    """X-Twilio-Signature for a POST of `form` to `base + path`."""
    return RequestValidator(token).compute_signature(base + path, form)


def caller_number(sid: str) -> str:
    """A caller number of its own for each call: no test looks like a returning
    caller of another test's call (the SQL call log is shared in a session)."""
    digits = int(hashlib.sha1(sid.encode()).hexdigest(), 16) % 10**8
    return f"+336{digits:08d}"


def call_form(sid: str, **extra: str) -> dict[str, str]:
    """The parameters Twilio sends with every voice webhook of an inbound call."""
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT,
        "From": caller_number(sid),
        "To": "+33180000000",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def twiml(body: bytes | str) -> ET.Element:
    """Parse a TwiML answer; fails the test if it is not a <Response>."""
    root = ET.fromstring(body)
    assert root.tag == "Response", f"not TwiML: {body!r}"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def spoken(root: ET.Element) -> str:
    """Everything <Say> would speak, in order, including inside <Gather>."""
    return " ".join((el.text or "").strip() for el in root.iter("Say"))


def round_the_clock(*people: tuple[str, str]) -> str:
    """`hotliners.yaml` for (id, name) hotliners with every skill at level 3,
    both languages, on duty round the clock: tests do not depend on the time
    of day."""
    entries = "".join(
        f"""  - id: {agent_id}
    name: "{name}"
    endpoint: "client:{agent_id}"
    skills: {{software: 3, printer: 3, network: 3, email: 3, account: 3,
             hardware: 3, general: 3}}
    shifts: ["daily 00:00-00:00"]
    languages: [fr-FR, en-US]
"""
        for agent_id, name in people
    )
    return "\nhotliners:\n" + entries


#: One such hotliner.
ROUND_THE_CLOCK = round_the_clock(("nina", "Nina Nuit-et-Jour"))


def off_shift_hotliner(agent_id: str) -> str:
    """A hotliner entry whose daily shift starts two hours from now (Paris)."""
    start = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(hours=2)
    end = start + timedelta(hours=1)
    return f"""  - id: {agent_id}
    name: "Off Shift"
    endpoint: "client:{agent_id}"
    skills: {{printer: 2, network: 2}}
    shifts: ["daily {start:%H}:00-{end:%H}:00"]
"""


class RecordingTelephony:
    """A carrier that records what the hotline asks of it (for webhook tests).

    Calls it places get sids `CAplaced1`, `CAplaced2`...; `statuses` says what
    `status()` answers (unknown calls: None, i.e. gone).
    """

    def __init__(self) -> None:
        self.placed: list[dict[str, Any]] = []
        self.redirects: list[tuple[str, str]] = []
        self.ended: list[str] = []
        self.texts: list[dict[str, str]] = []
        self.statuses: dict[str, str] = {}
        self.participant_updates: list[tuple[str, str, bool | None, bool | None]] = []
        #: Legs called into a conference (external transfers), like `placed`.
        self.added: list[dict[str, Any]] = []
        #: (conference, leg, the TwiML it hears on hold)
        self.hold_urls: list[tuple[str, str, str]] = []
        #: (conference, leg, whether its leaving ends the conference)
        self.end_on_exit: list[tuple[str, str, bool]] = []
        #: (conference, leg, the leg it coaches or "" for none)
        self.coaching: list[tuple[str, str, str]] = []

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> str:
        sid = f"CAplaced{len(self.placed) + 1}"
        self.placed.append(
            {
                "sid": sid,
                "to": to,
                "from": from_,
                "url": url,
                "status_callback": status_callback,
                "timeout": timeout,
            }
        )
        self.statuses[sid] = "ringing"
        return sid

    def redirect(self, call_sid: str, url: str) -> None:
        self.redirects.append((call_sid, url))

    def end(self, call_sid: str) -> None:
        self.ended.append(call_sid)
        self.statuses[call_sid] = "completed"

    def status(self, call_sid: str) -> str | None:
        return self.statuses.get(call_sid)

    def send_sms(self, *, to: str, from_: str, body: str) -> None:
        self.texts.append({"to": to, "from": from_, "body": body})

    def add_participant(
        self,
        conference: str,
        *,
        to: str,
        from_: str,
        status_callback: str,
        timeout: int,
        label: str,
        muted: bool = False,
        coach: str | None = None,
    ) -> str:
        sid = f"CAadded{len(self.added) + 1}"
        self.added.append(
            {
                "sid": sid,
                "conference": conference,
                "to": to,
                "from": from_,
                "status_callback": status_callback,
                "timeout": timeout,
                "label": label,
                "muted": muted,
                "coach": coach,
            }
        )
        self.statuses[sid] = "ringing"
        return sid

    def update_participant(
        self,
        conference: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        muted: bool | None = None,
        end_conference_on_exit: bool | None = None,
        hold_url: str | None = None,
        coach: str | None = None,
    ) -> None:
        if coach is not None:
            self.coaching.append((conference, call_sid, coach))
        if hold_url is not None:
            self.hold_urls.append((conference, call_sid, hold_url))
        if hold is not None or muted is not None:
            self.participant_updates.append((conference, call_sid, hold, muted))
        if end_conference_on_exit is not None:
            self.end_on_exit.append((conference, call_sid, end_conference_on_exit))


def make_settings(
    redis_url: str,
    database_url: str,
    tmp_path: Path,
    config_dir: Path = DEFAULT_CONFIG_DIR,
) -> Settings:
    """Settings of an app under test: a real Twilio-like account, signed for
    `PUBLIC`, its offers not paced, its instance folder in `tmp_path`."""
    return Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "SECRET_KEY": "test",
            "PUBLIC_BASE_URL": PUBLIC,
            "HOTLINE_CONFIG": str(config_dir),
            "HOTLINE_INSTANCE": str(tmp_path / "instance"),
            # The recording carrier places calls as fast as it is asked (the
            # pace of offers has tests of its own: test_offer_pacing.py).
            "TWILIO_CALLS_PER_SECOND": "0",
        }
    )


#: Password of the accounts tests create.
PASSWORD = "a long enough password"


def provision(store: Any, account_id: str, role: str) -> str:
    """An active account with `PASSWORD` (created or reset); its new API token.

    `store` is an `accounts.store.AccountStore` (the app's, or on the test's
    database): tests share databases, so an account may already exist.
    """
    from accounts.roles import Role

    if store.get(account_id) is None:
        store.add(account_id, account_id, Role(role), PASSWORD)
    else:
        store.set_role(account_id, Role(role))
        store.set_password(account_id, PASSWORD)
        store.set_active(account_id, True)
    return str(store.issue_token(account_id))


def csrf_token(html: str) -> str:
    """The CSRF token a page carries: its form's field, or the `<meta>` a
    script page sends back in `X-CSRFToken`."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def log_in(client: Any, account_id: str, password: str = PASSWORD) -> None:
    """Log a Flask test client in through the login form (session + CSRF)."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"username": account_id, "password": password, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def console_session(app: Any, agent_id: str) -> tuple[Any, dict[str, str]]:
    """A hotliner logged in through the form, with the console page's CSRF
    header their JSON writes carry."""
    client = app.test_client()
    log_in(client, agent_id)
    token = csrf_token(client.get("/console").get_data(as_text=True))
    return client, {"X-CSRFToken": token}


def bearer_client(app: Any, token: str) -> Any:
    """A Flask test client that sends `Authorization: Bearer <token>`."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def supervisor_token(database_url: str, account_id: str = "e2e-supervisor") -> str:
    """A supervisor's API token on a hotline's database (for e2e tests)."""
    from sqlalchemy import create_engine

    from accounts.store import AccountStore
    from calllog.db import normalise_url

    engine = create_engine(normalise_url(database_url))
    try:
        return provision(AccountStore(engine), account_id, "supervisor")
    finally:
        engine.dispose()


def bearer(token: str) -> dict[str, str]:
    """Headers of an API request made with `token`."""
    return {"Authorization": f"Bearer {token}"}


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05
) -> Any:
    """The predicate's first true value within `timeout` seconds, polled every
    `every`; an AssertionError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def throwaway_database(folder: Path) -> Iterator[str]:
    """A new empty database: PostgreSQL if DATABASE_URL says so, else SQLite
    (in `folder`)."""
    external = os.environ.get("DATABASE_URL")
    if not external:
        yield f"sqlite:///{folder / 'calllog.sqlite3'}"
        return
    import sqlalchemy as sa

    name = f"hotline_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(external, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(external).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


#: `queues.yaml` of a hotline run by two teams that share no hotliner: the
#: desk (general, printers overflowing to it, software, hardware) and the network team
#: (network, its level 2, email, accounts): two routing groups.
TWO_TEAMS_QUEUES = """
queues:
  - {id: general, skill: general, name: {fr-FR: "accueil", en-US: "desk"}}
  - id: printer
    skill: printer
    name: {fr-FR: "imprimantes", en-US: "printers"}
    overflow: {after_seconds: 60, to_queue: general}
  - {id: software, skill: software, name: {fr-FR: "logiciels", en-US: "software"}}
  - {id: hardware, skill: hardware, name: {fr-FR: "matériel", en-US: "hardware"}}
  - {id: network, skill: network, name: {fr-FR: "réseau", en-US: "network"}}
  - id: network_l2
    skill: network
    name: {fr-FR: "réseau 2", en-US: "network 2"}
    min_level: 4
  - {id: email, skill: email, name: {fr-FR: "messagerie", en-US: "email"}}
  - {id: account, skill: account, name: {fr-FR: "comptes", en-US: "accounts"}}
"""


def two_teams_hotliners(per_team: int = 2) -> str:
    """`hotliners.yaml` for those two teams, `per_team` hotliners each (desk
    `d1`.., network `n1`..), on duty round the clock in both languages."""
    teams = {
        "d": "{general: 3, printer: 3}",
        "n": "{network: 4, email: 3}",
    }
    entries = "".join(
        f"""  - id: {team}{i}
    name: "{team.upper()}{i}"
    endpoint: "client:{team}{i}"
    skills: {skills}
    shifts: ["daily 00:00-00:00"]
    languages: [fr-FR, en-US]
"""
        for team, skills in teams.items()
        for i in range(1, per_team + 1)
    )
    return (
        "\nhotliners:\n"
        + entries
        + "  - id: d0\n"
        + (
            '    name: "D0"\n    endpoint: "client:d0"\n'
            "    skills: {software: 2, general: 1, hardware: 1}\n"
            '    shifts: ["daily 00:00-00:00"]\n    languages: [fr-FR, en-US]\n'
        )
        + "  - id: n0\n"
        + (
            '    name: "N0"\n    endpoint: "client:n0"\n'
            "    skills: {account: 2, email: 1}\n"
            '    shifts: ["daily 00:00-00:00"]\n    languages: [fr-FR, en-US]\n'
        )
    )


def two_teams_config(folder: Path, per_team: int = 2) -> Path:
    """A copy of the shipped configuration with the two teams' queues and
    hotliners (`folder` is created)."""
    import shutil

    shutil.copytree(DEFAULT_CONFIG_DIR, folder, dirs_exist_ok=True)
    (folder / "queues.yaml").write_text(TWO_TEAMS_QUEUES, encoding="utf-8")
    (folder / "hotliners.yaml").write_text(
        two_teams_hotliners(per_team), encoding="utf-8"
    )
    return folder
