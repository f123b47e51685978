"""Every Redis key, exactly: one hash tag, so the scripts stay in one slot."""

from __future__ import annotations

from core.keys import Keys


def test_keys_are_spelled_once_with_the_hash_tag() -> None:
    k = Keys()
    assert k.base == "hotline:{hl}:"
    assert k.call("CA1") == "hotline:{hl}:call:CA1"
    assert k.queue("printer") == "hotline:{hl}:queue:printer"
    assert k.agent("alice") == "hotline:{hl}:agent:alice"
    assert k.available("printer", 3) == "hotline:{hl}:available:printer:3"
    assert k.caller("+33612345678") == "hotline:{hl}:caller:+33612345678"
    assert k.incident == "hotline:{hl}:incident"
    assert k.incident_callers("ab12") == "hotline:{hl}:incident:ab12:callers"
    assert k.timers == "hotline:{hl}:timers"
    assert k.events == "hotline:{hl}:events"


def test_a_prefix_and_a_tag_keep_two_hotlines_apart() -> None:
    k = Keys(prefix="test", tag="t1")
    assert k.offer("o1") == "test:{t1}:offer:o1"
    assert k.calllog_lock == "test:{t1}:lock:calllog"


def test_a_routing_group_has_its_own_tag_and_a_call_its_route() -> None:
    k = Keys()
    group = k.group("network")
    assert group.base == "hotline:{hl:network}:"
    assert group.call("CA1") == "hotline:{hl:network}:call:CA1"
    assert group.events == "hotline:{hl:network}:events"
    assert k.call_group("CA1") == "hotline:{hl:route:CA1}:group"
