"""Loads and cross-checks the whole configuration folder.

Used by `web.create_app` and by `hotline check-config`: the routing part
(hotline, queues, hotliners), the IVR tree (whose leaves name queues) and the
knowledge base.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.config import IvrTree, load_ivr_tree
from queues.config import RoutingConfig, load_routing_config


@dataclass(frozen=True, slots=True)
class HotlineConfig:
    routing: RoutingConfig
    ivr: IvrTree


def load_config(folder: Path) -> HotlineConfig:
    """Every file of the configuration folder, validated; `ConfigError` if not."""
    routing = load_routing_config(folder)
    ivr = load_ivr_tree(
        folder / "ivr.yaml", routing.hotline.languages, set(routing.queues)
    )
    return HotlineConfig(routing=routing, ivr=ivr)
