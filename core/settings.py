"""Settings read from the environment, validated once at start.

Only composition roots call `Settings.from_env`; everything else receives a
`Settings`. Every bad value is reported at once, each with its own reason, so a
person fixing a deployment does not discover problems one restart at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import SettingsError
from core.lua import EVENTS_KEPT
from core.validate import is_e164

#: Where the shipped example configuration lives (used when HOTLINE_CONFIG is unset).
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_AUTH_TOKEN = re.compile(r"^[0-9a-zA-Z]{32}$")

#: The account the carrier simulator plays when no Twilio credentials are set.
SIMULATOR_ACCOUNT_SID = "AC" + "5" * 32
SIMULATOR_AUTH_TOKEN = "simulator0auth0token0000000000ab"
SIMULATOR_API_KEY = "SK" + "5" * 32

#: Bounds of HOTLINE_EVENT_STREAM_MAX: below, a writer stopped for minutes
#: would lose events; above, the stream alone could fill a Redis server.
EVENT_STREAM_MAX_RANGE = (10_000, 100_000_000)

#: Bounds of TWILIO_CALLS_PER_SECOND (0: offers not paced).
CALLS_PER_SECOND_RANGE = (0.0, 10_000.0)
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")

#: ROUTING_REDIS_URL's schemes: a server's, or a Redis Cluster's (any node).
ROUTING_SCHEMES = frozenset(
    {"redis", "rediss", "unix", "redis+cluster", "rediss+cluster"}
)

DOCUMENTED_VARIABLES: dict[str, str] = {
    "REDIS_URL": "Redis for live state (redis://, rediss:// or unix://). "
    "Unset: an embedded Valkey server in the instance folder.",
    "ROUTING_REDIS_URL": "Redis for the routing state alone (callers, queues, "
    "offers, hotliners, the event stream), if not REDIS_URL's: redis://... for "
    "a server, redis+cluster://host:port (any node) for a Redis Cluster. RQ's "
    "jobs stay on REDIS_URL.",
    "DATABASE_URL": "Call log database (sqlite:///path or postgresql://...). "
    "Unset: SQLite in the instance folder.",
    "TWILIO_ACCOUNT_SID": "Twilio account (AC + 32 hex). Unset with the token: "
    "the built-in carrier simulator plays Twilio.",
    "TWILIO_AUTH_TOKEN": "Twilio auth token (32 characters); signs webhooks.",
    "TWILIO_API_BASE_URL": "Base URL of Twilio's REST API "
    "(default https://api.twilio.com); the simulator's URL in simulation.",
    "TWILIO_API_KEY": "API key sid (SK...) that signs the browser softphone's "
    "access tokens (hotliners with a client: endpoint); with TWILIO_API_SECRET.",
    "TWILIO_API_SECRET": "The secret of TWILIO_API_KEY.",
    "PUBLIC_BASE_URL": "URL Twilio uses to reach this app (validates "
    "signatures behind a proxy), e.g. https://hotline.example.org.",
    "HOTLINE_CONFIG": "Folder of YAML configuration files (default: ./config).",
    "HOTLINE_NUMBER": "The hotline's own phone number, E.164 (caller ID of "
    "calls it places).",
    "HOTLINE_INSTANCE": "Folder for SQLite, embedded Redis data and logs "
    "(default: ./instance).",
    "SECRET_KEY": "Flask secret key; required with real Twilio credentials.",
    "HOTLINE_TRUSTED_PROXIES": "Reverse proxies in front of the app (default 0): "
    "their X-Forwarded-For gives each browser's own address (login throttling).",
    "TWILIO_CALLS_PER_SECOND": "Outbound calls a second the Twilio account may "
    "place (its CPS; Twilio's default is 1). The router paces its offers to it "
    "(each rings a hotliner with an outbound call), so an offer never lapses "
    "in Twilio's own queue. 0: not paced. Default: 1 with Twilio credentials, "
    "0 with the simulator.",
    "HOTLINE_ROUTING_GROUPS": "'one' (default): all live state in one hash "
    "slot. 'auto': split by routing group (the queues that share hotliners), "
    "each group's keys on a slot of its own, so a Redis Cluster "
    "(ROUTING_REDIS_URL) spreads the groups over its masters.",
    "HOTLINE_EVENT_STREAM_MAX": "Events the Redis stream holds for the call log "
    f"at most (default {EVENTS_KEPT:,}); past it, while the call log writer is "
    "down, the oldest are dropped and counted (hotline_events_dropped_total).",
}


#: HOTLINE_ROUTING_GROUPS' values.
ROUTING_GROUPS_MODES = ("one", "auto")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the hotline reads from its environment."""

    redis_url: str | None
    database_url: str | None
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_api_base_url: str
    public_base_url: str | None
    config_dir: Path
    instance_dir: Path
    hotline_number: str
    secret_key: str
    simulated: bool
    # An API key of the account signs the browser softphone's access tokens.
    twilio_api_key: str = SIMULATOR_API_KEY
    twilio_api_secret: str = SIMULATOR_AUTH_TOKEN
    trusted_proxies: int = 0  # reverse proxies in front (X-Forwarded-For)
    # The consoles' live feed served by processes of its own on this port of
    # the same host (`hotline run`); None: the web serves it (or a proxy
    # routes /console/events to them on the same origin).
    feed_port: int | None = None
    # The help desk's mail server for recaps ('' none: recaps by SMS only).
    smtp_url: str = ""
    mail_from: str = "hotline@localhost"
    # Events the stream holds for the call log at most (`core.lua`): Redis
    # out of memory would stop live calls, so the oldest go, counted.
    event_stream_max: int = EVENTS_KEPT
    # The routing state's own Redis (a Redis Cluster may be), when it is not
    # REDIS_URL's: RQ needs a standalone server, the routing state may grow
    # past one (`routing_redis_url`).
    routing_redis: str | None = None
    # Outbound calls a second the carrier places for the account (Twilio's
    # CPS): offers beyond it would wait in Twilio's queue while their ring
    # time runs out, so the router paces its offers to it (0: not paced).
    calls_per_second: float = 0.0
    # Live state split by routing group ('auto', `queues.partition`) or kept
    # in one slot ('one').
    routing_groups: str = "one"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Validate the environment; raise `SettingsError` listing every bad value."""
        problems: list[str] = []

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        redis_url = get("REDIS_URL")
        if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
            problems.append(
                f"REDIS_URL={redis_url!r}: must start with redis://, rediss:// or unix://"
            )
        routing_redis = get("ROUTING_REDIS_URL")
        if routing_redis and urlsplit(routing_redis).scheme not in ROUTING_SCHEMES:
            problems.append(
                f"ROUTING_REDIS_URL={routing_redis!r}: must start with redis://, "
                "rediss://, unix://, redis+cluster:// or rediss+cluster://"
            )
        database_url = get("DATABASE_URL")
        if database_url:
            scheme = urlsplit(database_url).scheme.split("+")[0]
            if scheme not in {"sqlite", "postgresql", "postgres"}:
                problems.append(
                    f"DATABASE_URL={database_url!r}: must be sqlite:///... or "
                    "postgresql://..."
                )
        sid, token = get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")
        if (sid is None) != (token is None):
            problems.append(
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together "
                "(or both unset to use the carrier simulator)"
            )
        if sid and not _ACCOUNT_SID.match(sid):
            problems.append("TWILIO_ACCOUNT_SID: must be AC followed by 32 hex digits")
        if token and not _AUTH_TOKEN.match(token):
            problems.append("TWILIO_AUTH_TOKEN: must be 32 letters or digits")
        simulated = sid is None and token is None
        api_base = get("TWILIO_API_BASE_URL") or "https://api.twilio.com"
        public = get("PUBLIC_BASE_URL")
        for name, url in (
            ("TWILIO_API_BASE_URL", api_base),
            ("PUBLIC_BASE_URL", public),
        ):
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in {"http", "https"} or not parts.netloc:
                    problems.append(f"{name}={url!r}: must be an http(s):// URL")
        config_dir = Path(get("HOTLINE_CONFIG") or DEFAULT_CONFIG_DIR)
        if not config_dir.is_dir():
            problems.append(f"HOTLINE_CONFIG={str(config_dir)!r}: no such folder")
        number = get("HOTLINE_NUMBER") or "+33180000000"
        if not is_e164(number):
            problems.append(
                f"HOTLINE_NUMBER={number!r}: must be an E.164 number like +33180000000"
            )
        api_key, api_secret = get("TWILIO_API_KEY"), get("TWILIO_API_SECRET")
        if (api_key is None) != (api_secret is None):
            problems.append("TWILIO_API_KEY and TWILIO_API_SECRET must be set together")
        if api_key and not api_key.startswith("SK"):
            problems.append("TWILIO_API_KEY: must be an API key sid starting with SK")
        proxies_text = get("HOTLINE_TRUSTED_PROXIES") or "0"
        proxies = int(proxies_text) if proxies_text.isdigit() else -1
        if not 0 <= proxies <= 5:
            problems.append(
                f"HOTLINE_TRUSTED_PROXIES={proxies_text!r}: the number of reverse "
                "proxies in front of the app, 0 to 5"
            )
        feed_text = get("FEED_PORT")
        feed_port = int(feed_text) if feed_text and feed_text.isdigit() else None
        if feed_text is not None and not (feed_port and 0 < feed_port < 65536):
            problems.append(
                f"FEED_PORT={feed_text!r}: the port of the consoles' live feed, "
                "1 to 65535"
            )
        smtp_url = get("SMTP_URL") or ""
        if smtp_url and (
            urlsplit(smtp_url).scheme not in {"smtp", "smtps"}
            or not urlsplit(smtp_url).hostname
        ):
            problems.append(  # not echoed: it may hold a password
                "SMTP_URL: must be smtp://host[:port] or "
                "smtps://user:password@host[:port]"
            )
        mail_from = get("SMTP_FROM") or "hotline@localhost"
        if "@" not in mail_from:
            problems.append(f"SMTP_FROM={mail_from!r}: must be an email address")
        stream_text = get("HOTLINE_EVENT_STREAM_MAX")
        stream_max = EVENTS_KEPT
        if stream_text is not None:
            low, high = EVENT_STREAM_MAX_RANGE
            stream_max = int(stream_text) if stream_text.isdigit() else -1
            if not low <= stream_max <= high:
                problems.append(
                    f"HOTLINE_EVENT_STREAM_MAX={stream_text!r}: the events the "
                    f"stream holds for the call log, {low:,} to {high:,}"
                )
        cps_text = get("TWILIO_CALLS_PER_SECOND")
        calls_per_second = 0.0 if simulated else 1.0
        if cps_text is not None:
            low_cps, high_cps = CALLS_PER_SECOND_RANGE
            calls_per_second = float(cps_text) if _DECIMAL.match(cps_text) else -1.0
            if not low_cps <= calls_per_second <= high_cps:
                problems.append(
                    f"TWILIO_CALLS_PER_SECOND={cps_text!r}: the account's outbound "
                    f"calls a second, {low_cps:g} (not paced) to {high_cps:,.0f}"
                )
        routing_groups = get("HOTLINE_ROUTING_GROUPS") or "one"
        if routing_groups not in ROUTING_GROUPS_MODES:
            problems.append(
                f"HOTLINE_ROUTING_GROUPS={routing_groups!r}: 'one' (live state "
                "in one slot) or 'auto' (split by routing group)"
            )
        secret = get("SECRET_KEY")
        if secret is None and not simulated:
            problems.append("SECRET_KEY: required when real Twilio credentials are set")
        if problems:
            raise SettingsError(problems)
        return cls(
            redis_url=redis_url,
            database_url=database_url,
            twilio_account_sid=sid or SIMULATOR_ACCOUNT_SID,
            twilio_auth_token=token or SIMULATOR_AUTH_TOKEN,
            twilio_api_base_url=api_base.rstrip("/"),
            public_base_url=public.rstrip("/") if public else None,
            config_dir=config_dir.resolve(),
            instance_dir=Path(get("HOTLINE_INSTANCE") or "instance").resolve(),
            hotline_number=number,
            secret_key=secret or "simulation-only-secret",
            simulated=simulated,
            # Real Twilio needs an API key for softphone tokens ('' = none set).
            twilio_api_key=api_key or (SIMULATOR_API_KEY if simulated else ""),
            twilio_api_secret=api_secret or (SIMULATOR_AUTH_TOKEN if simulated else ""),
            trusted_proxies=max(0, proxies),
            feed_port=feed_port,
            smtp_url=smtp_url,
            mail_from=mail_from,
            event_stream_max=stream_max,
            routing_redis=routing_redis,
            calls_per_second=max(0.0, calls_per_second),
            routing_groups=routing_groups,
        )

    @property
    def routing_redis_url(self) -> str | None:
        """Where the routing state lives: ROUTING_REDIS_URL, else REDIS_URL."""
        return self.routing_redis or self.redis_url

    @property
    def sqlite_path(self) -> Path:
        """Where the default SQLite call log lives."""
        return self.instance_dir / "hotline.sqlite3"

    @property
    def effective_database_url(self) -> str:
        """The call log URL, SQLite in the instance folder when none is set."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"
