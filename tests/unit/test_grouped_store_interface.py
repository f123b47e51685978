"""The grouped store answers every call of the one store's interface itself.

`GroupedStore` never runs `RoutingStore.__init__` (no script on the
hotline-wide slot): a public method it inherited instead of defining would
run a script it does not have. This says which, by name.
"""

from __future__ import annotations

import inspect

import pytest

from agents.store import AgentStore
from queues.consult_store import ConsultStore
from queues.grouped_store import GroupedAgents, GroupedConsults, GroupedStore
from queues.store import RoutingStore


@pytest.mark.parametrize(
    ("one", "grouped"),
    [
        (RoutingStore, GroupedStore),
        (AgentStore, GroupedAgents),
        (ConsultStore, GroupedConsults),
    ],
)
def test_every_public_method_is_the_grouped_stores_own(
    one: type, grouped: type
) -> None:
    public = {
        name
        for name, member in vars(one).items()
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, property))
    }
    assert public  # the interface is read, not empty
    missing = sorted(name for name in public if name not in vars(grouped))
    assert missing == []
    for name in public:  # same parameters, in the same order
        mine, theirs = vars(grouped)[name], vars(one)[name]
        if isinstance(theirs, property):
            continue
        assert list(inspect.signature(mine).parameters) == list(
            inspect.signature(theirs).parameters
        ), name
