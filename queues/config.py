"""Queues and routing settings from `hotline.yaml` and `queues.yaml`.

`RoutingConfig` is everything the router needs: the queues, the hotliners
(from `agents.config`), and the timing rules. The IVR's configuration is
separate (`ivr.config`) and refers to queues by id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NewType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.config import (
    AgentId,
    Hotliner,
    OnCall,
    load_hotliners,
    load_on_call,
    read_weekly,
)
from agents.rota import Duty, HolidayCalendar, Roster, known_country
from agents.rota_file import FILE as ROTA_FILE
from agents.rota_file import read_rota
from agents.shifts import Shift, is_on_shift
from core.validate import (
    check_keys,
    get_choice,
    get_float,
    get_identifier,
    get_int,
    get_str,
    get_translations,
    require_list,
    require_mapping,
)
from core.yamlfile import Located, load_yaml

QueueId = NewType("QueueId", str)

ROUTING_STRATEGIES = ("longest-idle", "fewest-calls", "skill-level")
#: Who hears the queue's name ("Appel Messagerie.") before the caller joins:
#: every hotliner, those rung on a phone (a browser softphone's page pops up
#: the whole context already, and the whisper delays every caller), or nobody.
WHISPER_MODES = ("always", "phones", "never")


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One skill-based queue."""

    id: QueueId
    skill: str
    names: dict[str, str]  # spoken and displayed name per language
    service_level_seconds: int  # answered within this counts for the service level
    service_level_target: float  # e.g. 0.8 for 80/20
    language: str | None = None  # None: callers of any language
    min_level: int = 1  # skill level a hotliner needs to be offered these calls
    overflow_after_seconds: int = 0  # 0: never widen
    overflow_min_level: int = 1  # level accepted once a caller waited that long
    overflow_queue: str | None = None  # whose hotliners also help after overflow
    default_handle_seconds: int = 300  # handle time assumed until calls measure it
    max_wait_seconds: int = 0  # then offer callback or voicemail (0: never)
    opening_hours: tuple[Shift, ...] | None = None  # None: the hotline's hours
    wrapup_seconds: int | None = None  # None: the hotline's wrap-up time
    #: Callers it holds at most (Twilio's queues hold 5,000); those beyond are
    #: told at once and offered a callback or a message.
    max_waiting: int = 5_000


#: Twilio's limit on one queue's callers, and so the most `max_waiting` can be.
TWILIO_QUEUE_LIMIT = 5_000

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: Why a hotliner takes a break (hotline.yaml `console: break_reasons`).
DEFAULT_BREAK_REASONS: dict[str, dict[str, str]] = {
    "pause": {"fr-FR": "Pause", "en-US": "Short break"},
    "lunch": {"fr-FR": "Déjeuner", "en-US": "Lunch"},
    "training": {"fr-FR": "Formation", "en-US": "Training"},
    "meeting": {"fr-FR": "Réunion", "en-US": "Meeting"},
}
#: How a call ended, as the hotliner says in the outcome form (hotline.yaml
#: `console: dispositions`); the ids are what reports count.
DEFAULT_DISPOSITIONS: dict[str, dict[str, str]] = {
    "resolved": {"fr-FR": "Résolu par téléphone", "en-US": "Resolved by phone"},
    "remote_takeover": {
        "fr-FR": "Résolu par prise en main à distance",
        "en-US": "Resolved by remote take-over",
    },
    "escalated": {"fr-FR": "Escaladé au niveau 2", "en-US": "Escalated to level 2"},
    "callback": {"fr-FR": "Rappel programmé", "en-US": "Callback scheduled"},
    "not_resolved": {"fr-FR": "Non résolu", "en-US": "Not resolved"},
    "wrong_number": {"fr-FR": "Erreur de numéro", "en-US": "Wrong number"},
}


@dataclass(frozen=True, slots=True)
class HotlineSettings:
    """General behaviour from `hotline.yaml`."""

    name: str
    timezone: ZoneInfo
    languages: tuple[str, ...]  # first is the default
    general_queue: QueueId
    strategy: str
    ring_seconds: int
    wrapup_seconds: int
    max_missed_offers: int
    announce_every_seconds: int
    hold_music_url: str
    preferred_agent_hours: int = 24
    callback_key: str = "1"  # pressed while waiting: call me back instead
    callback_attempts: int = 3
    callback_retry_seconds: int = 120
    callback_ring_seconds: int = 30
    opening_hours: tuple[Shift, ...] = ()  # empty: open round the clock
    # Closed all day; weekly shifts do not run (`agents.rota`).
    holidays: HolidayCalendar = HolidayCalendar()
    hours_text: dict[str, str] = field(default_factory=dict)  # said when closed
    returning_caller_days: int = 7  # "is this about your call of ...?"
    # The console's lists: why a hotliner takes a break, how a call ended.
    break_reasons: dict[str, dict[str, str]] = field(
        default_factory=lambda: dict(DEFAULT_BREAK_REASONS)
    )
    dispositions: dict[str, dict[str, str]] = field(
        default_factory=lambda: dict(DEFAULT_DISPOSITIONS)
    )
    wrapup_extend_seconds: int = 60  # "extend", once per call
    # A hotliner whose console is open when their shift starts goes available
    # by itself (else the console asks them).
    auto_available: bool = False
    whisper: str = "phones"  # one of WHISPER_MODES
    # Calls older than this many days are anonymised (0: kept as they are).
    retention_days: int = 0

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def whispers_to(self, endpoint: str) -> bool:
        """Whether a hotliner rung on `endpoint` hears the whisper."""
        if self.whisper == "phones":
            return not endpoint.startswith("client:")
        return self.whisper == "always"


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Queues, hotliners and routing rules: what the router and the worker read."""

    hotline: HotlineSettings
    queues: dict[QueueId, QueueConfig]
    hotliners: dict[AgentId, Hotliner]
    # Outside people a call can be passed on to (external transfer).
    on_call: dict[str, OnCall] = field(default_factory=dict)
    # Who is on shift when (made from the above by `__post_init__`).
    roster: Roster = field(init=False, compare=False, repr=False)
    # Who may serve each queue (`queues.routing.serving`), worked out once: a
    # configuration never changes (a reload makes a new one).
    serving_cache: dict[str, tuple[str, ...]] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "roster", make_roster(self.hotline, self.hotliners))
        object.__setattr__(self, "serving_cache", {})

    @property
    def skills(self) -> tuple[str, ...]:
        return tuple(sorted({q.skill for q in self.queues.values()}))

    def queue(self, queue_id: str) -> QueueConfig | None:
        return self.queues.get(QueueId(queue_id))

    def wrapup_ms_by_queue(self) -> dict[str, int]:
        """Queues whose calls get a wrap-up time of their own (ms)."""
        return {
            q.id: q.wrapup_seconds * 1000
            for q in self.queues.values()
            if q.wrapup_seconds is not None
        }

    @property
    def longest_wrapup_ms(self) -> int:
        """The longest wrap-up any call may get (the sweep's backstop waits it)."""
        return max(
            [self.hotline.wrapup_seconds * 1000, *self.wrapup_ms_by_queue().values()]
        )

    def is_open(self, queue_id: str, at: datetime) -> bool:
        """Whether a queue takes calls at this instant (hours and holidays)."""
        hotline = self.hotline
        local = at.astimezone(hotline.timezone)
        if local.date() in hotline.holidays:
            return False
        queue = self.queue(queue_id)
        hours = (
            queue.opening_hours
            if queue and queue.opening_hours is not None
            else hotline.opening_hours
        )
        return not hours or is_on_shift(hours, at, hotline.timezone)

    def hotliner(self, agent_id: str) -> Hotliner | None:
        return self.hotliners.get(AgentId(agent_id))

    def shift_fields(
        self, agent_id: str, at: datetime
    ) -> tuple[int, tuple[int, bool] | None]:
        """What the match checks of a hotliner's rota (`AgentStore.
        set_shift_ends`): until when they are on shift (epoch ms, 0 if off
        shift), and their on-call rule (lowest priority, incident) or None."""
        until = self.roster.until(agent_id, at)
        hotliner = self.hotliner(agent_id)
        rule = hotliner.on_call if hotliner else None
        return (
            int(until.timestamp() * 1000) if until else 0,
            None if rule is None else (rule.min_priority, rule.incident),
        )


def make_roster(
    hotline: HotlineSettings, hotliners: Mapping[AgentId, Hotliner]
) -> Roster:
    """The rota of these hotliners, in the hotline's timezone by default."""
    return Roster(
        {
            agent_id: Duty(
                weekly=h.shifts,
                tz=h.timezone or hotline.timezone,
                changes=h.changes,
                on_holidays=h.on_holidays,
            )
            for agent_id, h in hotliners.items()
        },
        hotline.holidays,
    )


def _labelled(
    section: Mapping[str, Any],
    key: str,
    located: Located,
    languages: tuple[str, ...],
    default: dict[str, dict[str, str]],
) -> dict[str, dict[str, str]]:
    """`{id: {language: label}}` from the console section, or the default."""
    if key not in section:
        return {
            ident: {
                lang: labels.get(lang) or next(iter(labels.values()))
                for lang in languages
            }
            for ident, labels in default.items()
        }
    items = require_mapping(section[key], located, key, section, key)
    if not items:
        raise located.error(f"console: {key} must list at least one", section, key)
    out: dict[str, dict[str, str]] = {}
    for ident in items:
        if not isinstance(ident, str) or not _IDENT.match(ident):
            raise located.error(
                f"console {key}: {ident!r} must be an identifier like lunch",
                items,
                str(ident),
            )
        out[ident] = get_translations(
            items, ident, located, f"console {key}", languages
        )
    return out


def load_hotline_settings(path: Path) -> HotlineSettings:
    """Read `hotline.yaml`."""
    data, located = load_yaml(path)
    root = require_mapping(data, located, "hotline.yaml")
    check_keys(
        root,
        located,
        "hotline.yaml",
        {"name", "languages", "general_queue"},
        {
            "timezone",
            "routing",
            "hold_music_url",
            "callback",
            "opening_hours",
            "holidays",
            "hours_text",
            "returning_caller_days",
            "console",
            "calllog",
        },
    )
    tz_name = get_str(root, "timezone", located, "hotline.yaml", default="Europe/Paris")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise located.error(f"unknown timezone {tz_name!r}", root, "timezone") from exc
    langs = require_list(root["languages"], located, "languages", root, "languages")
    if not langs or not all(isinstance(x, str) and x for x in langs):
        raise located.error(
            "languages must list language codes like fr-FR", root, "languages"
        )
    routing = require_mapping(
        root.get("routing", {}), located, "routing", root, "routing"
    )
    check_keys(
        routing,
        located,
        "routing",
        set(),
        {
            "strategy",
            "ring_seconds",
            "wrapup_seconds",
            "max_missed_offers",
            "announce_every_seconds",
            "preferred_agent_hours",
            "whisper",
        },
    )
    strategy = get_choice(
        routing,
        "strategy",
        located,
        "routing",
        ROUTING_STRATEGIES,
        default="longest-idle",
    )
    assert strategy is not None
    whisper = get_choice(
        routing, "whisper", located, "routing", WHISPER_MODES, default="phones"
    )
    assert whisper is not None
    callback = require_mapping(
        root.get("callback", {}), located, "callback", root, "callback"
    )
    check_keys(
        callback,
        located,
        "callback",
        set(),
        {"key", "max_attempts", "retry_seconds", "ring_seconds"},
    )
    callback_key = str(callback.get("key", "1"))
    if callback_key not in set("0123456789"):
        raise located.error("callback: key must be one digit", callback, "key")
    opening_hours = read_weekly(root, "opening_hours", located, "hotline.yaml") or ()
    holidays = _holidays(root, located)
    langs_tuple = tuple(langs)
    hours_text = (
        get_translations(root, "hours_text", located, "hotline.yaml", langs_tuple)
        if "hours_text" in root
        else {}
    )
    console = require_mapping(
        root.get("console", {}), located, "console", root, "console"
    )
    check_keys(
        console,
        located,
        "console",
        set(),
        {"break_reasons", "dispositions", "wrapup_extend_seconds", "auto_available"},
    )
    auto_available = console.get("auto_available", False)
    if not isinstance(auto_available, bool):
        raise located.error(
            "console: auto_available is true or false", console, "auto_available"
        )
    calllog = require_mapping(
        root.get("calllog", {}), located, "calllog", root, "calllog"
    )
    check_keys(calllog, located, "calllog", set(), {"retention_days"})
    return HotlineSettings(
        retention_days=get_int(
            calllog, "retention_days", located, "calllog", 0, 0, 36500
        ),
        break_reasons=_labelled(
            console, "break_reasons", located, langs_tuple, DEFAULT_BREAK_REASONS
        ),
        dispositions=_labelled(
            console, "dispositions", located, langs_tuple, DEFAULT_DISPOSITIONS
        ),
        wrapup_extend_seconds=get_int(
            console, "wrapup_extend_seconds", located, "console", 60, 0, 3600
        ),
        auto_available=auto_available,
        name=get_str(root, "name", located, "hotline.yaml"),
        timezone=tz,
        languages=tuple(langs),
        general_queue=QueueId(
            get_identifier(root, "general_queue", located, "hotline.yaml")
        ),
        strategy=strategy,
        whisper=whisper,
        ring_seconds=get_int(routing, "ring_seconds", located, "routing", 15, 5, 120),
        wrapup_seconds=get_int(
            routing, "wrapup_seconds", located, "routing", 60, 0, 3600
        ),
        max_missed_offers=get_int(
            routing, "max_missed_offers", located, "routing", 3, 1, 100
        ),
        announce_every_seconds=get_int(
            routing, "announce_every_seconds", located, "routing", 30, 5, 600
        ),
        preferred_agent_hours=get_int(
            routing, "preferred_agent_hours", located, "routing", 24, 0, 24 * 30
        ),
        callback_key=callback_key,
        callback_attempts=get_int(
            callback, "max_attempts", located, "callback", 3, 1, 10
        ),
        callback_retry_seconds=get_int(
            callback, "retry_seconds", located, "callback", 120, 1, 86400
        ),
        callback_ring_seconds=get_int(
            callback, "ring_seconds", located, "callback", 30, 5, 120
        ),
        opening_hours=opening_hours,
        holidays=holidays,
        hours_text=hours_text,
        returning_caller_days=get_int(
            root, "returning_caller_days", located, "hotline.yaml", 7, 0, 365
        ),
        hold_music_url=get_str(
            root,
            "hold_music_url",
            located,
            "hotline.yaml",
            default="/static/hold-music.mp3",
        ),
    )


def load_queues(path: Path, languages: tuple[str, ...]) -> dict[QueueId, QueueConfig]:
    """Read `queues.yaml`."""
    data, located = load_yaml(path)
    root = require_mapping(data, located, "queues.yaml")
    check_keys(root, located, "queues.yaml", {"queues"}, set())
    entries = require_list(root["queues"], located, "queues", root, "queues")
    result: dict[QueueId, QueueConfig] = {}
    for entry in entries:
        item = require_mapping(entry, located, "a queue", entries)
        check_keys(
            item,
            located,
            "queue",
            {"id", "skill", "name"},
            {
                "service_level_seconds",
                "service_level_target",
                "language",
                "min_level",
                "overflow",
                "default_handle_seconds",
                "max_wait_seconds",
                "opening_hours",
                "wrapup_seconds",
                "max_waiting",
            },
        )
        queue_id = QueueId(get_identifier(item, "id", located, "queue"))
        what = f"queue {queue_id!r}"
        if queue_id in result:
            raise located.error(f"{what}: duplicate id", item, "id")
        language = get_choice(item, "language", located, what, languages)
        min_level = get_int(item, "min_level", located, what, 1, 1, 5)
        overflow = require_mapping(
            item.get("overflow", {}), located, f"{what}: overflow", item, "overflow"
        )
        check_keys(
            overflow,
            located,
            f"{what}: overflow",
            set(),
            {"after_seconds", "min_level", "to_queue"},
        )
        result[queue_id] = QueueConfig(
            id=queue_id,
            skill=get_identifier(item, "skill", located, what),
            names=get_translations(item, "name", located, what, languages),
            service_level_seconds=get_int(
                item, "service_level_seconds", located, what, 20, 1, 3600
            ),
            service_level_target=get_float(
                item, "service_level_target", located, what, 0.8, 0.0, 1.0
            ),
            language=language,
            min_level=min_level,
            overflow_after_seconds=get_int(
                overflow, "after_seconds", located, f"{what}: overflow", 0, 0, 86400
            ),
            overflow_min_level=get_int(
                overflow, "min_level", located, f"{what}: overflow", 1, 1, 5
            ),
            overflow_queue=(
                get_identifier(overflow, "to_queue", located, f"{what}: overflow")
                if "to_queue" in overflow
                else None
            ),
            default_handle_seconds=get_int(
                item, "default_handle_seconds", located, what, 300, 10, 36000
            ),
            max_wait_seconds=get_int(
                item, "max_wait_seconds", located, what, 0, 0, 86400
            ),
            opening_hours=read_weekly(item, "opening_hours", located, what),
            wrapup_seconds=get_int(item, "wrapup_seconds", located, what, 0, 0, 3600)
            if "wrapup_seconds" in item
            else None,
            max_waiting=get_int(
                item,
                "max_waiting",
                located,
                what,
                TWILIO_QUEUE_LIMIT,
                1,
                TWILIO_QUEUE_LIMIT,
            ),
        )
    if not result:
        raise located.error("queues.yaml defines no queue", root, "queues")
    for entry in entries:
        backup = entry.get("overflow", {}).get("to_queue")
        if backup is not None and backup not in result:
            raise located.error(
                f"queue {entry['id']!r}: overflow to unknown queue {backup!r}",
                entry["overflow"],
                "to_queue",
            )
    return result


def _holidays(root: dict[str, Any], located: Located) -> HolidayCalendar:
    """`holidays: [FR, 2026-12-24]`: a country's public holidays (computed by
    the `holidays` package, every year) and dates of the hotline's own."""
    raw = require_list(root.get("holidays", []), located, "holidays", root, "holidays")
    days: set[date] = set()
    countries: list[str] = []
    for day in raw:
        if isinstance(day, date):
            days.add(day)
        elif isinstance(day, str) and known_country(day):
            countries.append(day)
        else:
            try:
                days.add(date.fromisoformat(str(day)))
            except ValueError as exc:
                raise located.error(
                    f"holidays: {day!r} is neither a date like 2026-12-25 nor a "
                    "country code like FR",
                    root,
                    "holidays",
                ) from exc
    return HolidayCalendar(tuple(countries), frozenset(days))


def _hotliner_ids(path: Path) -> set[str]:
    """The ids `rota.yaml` may name (checked in full by `load_hotliners`)."""
    data, _ = load_yaml(path)
    entries = data.get("hotliners") if isinstance(data, dict) else None
    return {str(e["id"]) for e in entries or [] if isinstance(e, dict) and "id" in e}


def load_routing_config(folder: Path) -> RoutingConfig:
    """Load and cross-check `hotline.yaml`, `queues.yaml` and `hotliners.yaml`."""
    hotline = load_hotline_settings(folder / "hotline.yaml")
    queues = load_queues(folder / "queues.yaml", hotline.languages)
    if hotline.general_queue not in queues:
        data, located = load_yaml(folder / "hotline.yaml")
        raise located.error(
            f"general_queue {hotline.general_queue!r} is not defined in queues.yaml",
            data,
            "general_queue",
        )
    rota = read_rota(folder / ROTA_FILE, _hotliner_ids(folder / "hotliners.yaml"))
    hotliners = load_hotliners(
        folder / "hotliners.yaml",
        {q.skill for q in queues.values()},
        hotline.languages,
        rota.exceptions,
        rota.shifts,
    )
    return RoutingConfig(
        hotline=hotline,
        queues=queues,
        hotliners=hotliners,
        on_call=load_on_call(folder / "hotliners.yaml"),
    )
