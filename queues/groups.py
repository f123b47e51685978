"""Routing groups: the queues that share hotliners, so share live state.

Pure. A Redis Cluster spreads keys by hash tag; every routing script touches
a caller, a queue and its hotliners at once, so all three must share a tag.
A routing group is the smallest set of queues that allows it: two queues are
in one group when they route on the same skill (one pool of hotliners), when
one overflows to the other (its hotliners help there), or when a hotliner has
both skills. Each hotliner is then in exactly one group (the group of their
skills' queues), each group's keys carry their own tag, and a cluster places
groups on different masters (`docs/SCALING.md`).

A group is named after its first queue in alphabetical order: stable across
reloads as long as that queue stays in the group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from queues.config import RoutingConfig


@dataclass(frozen=True, slots=True)
class RoutingGroups:
    """Which group each queue and each hotliner belongs to."""

    #: Group name -> its queue ids, sorted.
    members: Mapping[str, tuple[str, ...]]
    #: Queue id -> group name.
    by_queue: Mapping[str, str]
    #: Hotliner id -> group name (hotliners with no queue's skill: none).
    by_agent: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.members))

    def of_queue(self, queue_id: str) -> str | None:
        return self.by_queue.get(queue_id)

    def of_agent(self, agent_id: str) -> str | None:
        return self.by_agent.get(agent_id)


class _Components:
    """Union-find over queue ids."""

    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, items: Iterable[str]) -> None:
        roots = [self.find(item) for item in items if item in self.parent]
        for other in roots[1:]:
            self.parent[self.find(other)] = self.find(roots[0])


def routing_groups(routing: RoutingConfig) -> RoutingGroups:
    """The connected sets of queues of this configuration."""
    components = _Components(routing.queues)
    queues_of_skill: dict[str, list[str]] = {}
    for queue in routing.queues.values():
        queues_of_skill.setdefault(queue.skill, []).append(queue.id)
        if queue.overflow_queue:
            components.join([queue.id, queue.overflow_queue])
    for same_skill in queues_of_skill.values():
        components.join(same_skill)
    agent_queues: dict[str, list[str]] = {}
    for hotliner in routing.hotliners.values():
        theirs = [
            queue_id
            for skill in hotliner.skills
            for queue_id in queues_of_skill.get(skill, ())
        ]
        components.join(theirs)
        agent_queues[hotliner.id] = theirs
    by_root: dict[str, list[str]] = {}
    for queue_id in routing.queues:
        by_root.setdefault(components.find(queue_id), []).append(queue_id)
    members = {min(ids): tuple(sorted(ids)) for ids in by_root.values()}
    by_queue = {q: name for name, ids in members.items() for q in ids}
    by_agent = {
        agent: by_queue[theirs[0]] for agent, theirs in agent_queues.items() if theirs
    }
    return RoutingGroups(members=members, by_queue=by_queue, by_agent=by_agent)
