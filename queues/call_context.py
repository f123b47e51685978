"""What the hotliner sees of a caller before and during the call.

The IVR learns a lot on the way (what the caller pressed or said at each
menu, the known fault their words matched, the self-help steps they tried)
and keeps it in the call's live hash; the offer pop-up and the call screen
show it so the hotliner starts where the machine stopped instead of asking
again. Pure functions: the web reads the hash and the knowledge base and
hands them here.

Each answer at a menu is one field of the call hash, `path:<ms>`, whose value
is `<node>|<key or said>|<what>` (`path_field`, `path_value`): one HSET per
answer, no read-modify-write, and the order comes back from the times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ivr.kb import KnowledgeBase
from queues.config import RoutingConfig

PATH_PREFIX = "path:"
#: What a caller said is kept this long at most (it is shown, not searched).
MAX_SAID = 200


def path_field(at_ms: int) -> str:
    """The call-hash field of one answer (sortable by time)."""
    return f"{PATH_PREFIX}{at_ms:013d}"


def path_value(node: str, how: str, what: str) -> str:
    """`how` is 'key' or 'said'."""
    return f"{node}|{how}|{what[:MAX_SAID]}"


@dataclass(frozen=True, slots=True)
class PathStep:
    node: str
    how: str  # 'key' | 'said'
    what: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class SelfHelp:
    """Self-help the caller went through before asking for a person."""

    fault: str
    title: str
    steps_tried: tuple[str, ...]  # the steps read to them, none of which fixed it


@dataclass(frozen=True, slots=True)
class KbFault:
    id: str
    title: str
    level: str
    agent_steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Transfer:
    """Who passed the caller on, and what they wrote for the next hotliner."""

    by: str  # hotliner id
    by_name: str
    notes: str
    count: int  # transfers so far
    steps: tuple[str, ...]  # the steps they did (checked on their screen)


@dataclass(frozen=True, slots=True)
class Consult:
    """A warm transfer under way: the hotliner briefing a specialist, and
    their notes (what the specialist's pop-up shows before they answer)."""

    by: str
    by_name: str
    to: str
    to_name: str
    notes: str
    state: str  # 'ringing' or 'joined'
    queue: str  # the queue asked for ('' for a named specialist)
    steps: tuple[str, ...]  # the steps the hotliner did


@dataclass(frozen=True, slots=True)
class CallContext:
    """Everything the console shows about one call (JSON-ready by `as_json`)."""

    call_sid: str
    number: str
    language: str
    queue: str
    queue_name: str
    priority: int
    ivr_choice: str
    path: tuple[PathStep, ...]
    kb_fault: KbFault | None
    self_help: SelfHelp | None
    waited_seconds: int
    state: str
    previous_call: str
    preferred: bool  # routed to them because they helped this caller last time
    incident: str  # the incident the caller heard and said was not theirs
    callback: bool
    transfer: Transfer | None  # passed on by another hotliner, with their notes
    scheduled: bool  # a call back a hotliner scheduled (not one the caller asked)
    consult: Consult | None  # a warm transfer under way
    on_hold: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def call_context(
    call: Mapping[str, str],
    routing: RoutingConfig,
    kb: KnowledgeBase,
    display_language: str,
    now_ms: int,
    agent_id: str = "",
) -> CallContext:
    """The context of a live call from its hash, for a hotliner reading
    `display_language` (titles and steps in it when the KB has them)."""
    queue_id = call.get("queue", "")
    queue = routing.queue(queue_id)
    lang = call.get("lang", "")
    names = queue.names if queue else {}
    queued_at = _int(call.get("first_queued") or call.get("queued_at"))
    return CallContext(
        call_sid=call.get("sid", ""),
        number=call.get("from", ""),
        language=lang,
        queue=queue_id,
        queue_name=names.get(display_language) or names.get(lang) or queue_id,
        priority=_int(call.get("priority")),
        ivr_choice=call.get("ivr_choice", ""),
        path=ivr_path(call),
        kb_fault=_kb_fault(kb, call.get("kb_fault", ""), display_language),
        self_help=_self_help(kb, call.get("selfhelp_tried", ""), display_language),
        waited_seconds=max(0, (now_ms - queued_at) // 1000) if queued_at else 0,
        state=call.get("state", ""),
        previous_call=call.get("previous_call", ""),
        preferred=bool(agent_id) and call.get("preferred", "") == agent_id,
        incident=call.get("incident_heard", ""),
        callback=call.get("callback", "") == "1",
        transfer=_transfer(call, routing),
        scheduled=bool(call.get("due")),
        consult=_consult(call, routing),
        on_hold=call.get("hold", "") == "1",
    )


def _consult(call: Mapping[str, str], routing: RoutingConfig) -> Consult | None:
    by = call.get("consult_from", "")
    to = call.get("consult_agent", "") or call.get("consult_external", "")
    if not by or not to:
        return None
    return Consult(
        by=by,
        by_name=_name(routing, by),
        to=to,
        to_name=_name(routing, to),
        notes=call.get("consult_notes", ""),
        state=call.get("consult_state", ""),
        queue=call.get("consult_queue", ""),
        steps=_lines(call.get("consult_steps", "")),
    )


def _name(routing: RoutingConfig, who: str) -> str:
    """A hotliner's name, an on-call entry's, or the number called."""
    hotliner = routing.hotliner(who)
    if hotliner is not None:
        return hotliner.name
    entry = routing.on_call.get(who)
    return entry.name if entry else who


def _transfer(call: Mapping[str, str], routing: RoutingConfig) -> Transfer | None:
    by = call.get("transferred_by", "")
    if not by:
        return None
    hotliner = routing.hotliner(by)
    return Transfer(
        by=by,
        by_name=hotliner.name if hotliner else by,
        notes=call.get("transfer_notes", ""),
        count=_int(call.get("transfers")),
        steps=_lines(call.get("transfer_steps", "")),
    )


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line for line in text.split("\n") if line)


def ivr_path(call: Mapping[str, str]) -> tuple[PathStep, ...]:
    """The caller's answers at the menus, in the order given."""
    steps = []
    for name, value in call.items():
        if not name.startswith(PATH_PREFIX):
            continue
        node, _, rest = value.partition("|")
        how, _, what = rest.partition("|")
        steps.append(PathStep(node, how, what, _int(name[len(PATH_PREFIX) :])))
    return tuple(sorted(steps, key=lambda s: s.at_ms))


def _kb_fault(kb: KnowledgeBase, fault_id: str, lang: str) -> KbFault | None:
    fault = kb.get(fault_id) if fault_id else None
    if fault is None:
        return None
    return KbFault(
        id=fault.id,
        title=_title(fault.title, lang),
        level=fault.level.value,
        agent_steps=fault.agent_steps,
    )


def _self_help(kb: KnowledgeBase, tried: str, lang: str) -> SelfHelp | None:
    """`selfhelp_tried` is `<fault>:<steps read>`."""
    fault_id, _, count = tried.partition(":")
    fault = kb.get(fault_id) if fault_id else None
    if fault is None:
        return None
    steps = fault.self_help[: _int(count)]
    return SelfHelp(
        fault=fault.id,
        title=_title(fault.title, lang),
        steps_tried=tuple(
            s.texts.get(lang) or next(iter(s.texts.values()), "") for s in steps
        ),
    )


def _title(titles: Mapping[str, str], lang: str) -> str:
    return titles.get(lang) or next(iter(titles.values()), "")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
