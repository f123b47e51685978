"""Routing groups: the queues that share hotliners are kept together."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from support import two_teams_config

from cli.main import main
from core.settings import DEFAULT_CONFIG_DIR
from queues.config import load_routing_config
from queues.groups import routing_groups


def test_two_teams_that_share_no_hotliner_are_two_groups(tmp_path: Path) -> None:
    groups = routing_groups(load_routing_config(two_teams_config(tmp_path / "c")))
    assert groups.members == {
        "account": ("account", "email", "network", "network_l2"),
        "general": ("general", "hardware", "printer", "software"),
    }
    assert groups.of_queue("printer") == "general"
    assert groups.of_queue("network_l2") == "account"
    assert groups.of_queue("nowhere") is None
    assert {a: groups.of_agent(a) for a in ("d0", "d1", "n0", "n2")} == {
        "d0": "general",
        "d1": "general",
        "n0": "account",
        "n2": "account",
    }


def test_a_queue_joins_a_group_by_skill_overflow_or_a_hotliner(
    tmp_path: Path,
) -> None:
    """`software` and `general` meet only through d0's skills, `printer`
    and `general` only through the overflow, `network` and `network_l2`
    only through their shared skill: each link alone joins two groups."""
    folder = two_teams_config(tmp_path / "c")
    hotliners = (folder / "hotliners.yaml").read_text(encoding="utf-8")
    (folder / "hotliners.yaml").write_text(
        hotliners.replace("{software: 2, general: 1, hardware: 1}", "{software: 2}"),
        encoding="utf-8",
    )
    queues = (folder / "queues.yaml").read_text(encoding="utf-8")
    (folder / "queues.yaml").write_text(
        queues.replace("    overflow: {after_seconds: 60, to_queue: general}\n", ""),
        encoding="utf-8",
    )
    groups = routing_groups(load_routing_config(folder))
    assert groups.members["software"] == ("software",)
    assert groups.members["hardware"] == ("hardware",)  # nobody serves it
    # d1 and d2 have general and printer: still one group without the overflow.
    assert groups.members["general"] == ("general", "printer")
    assert groups.members["account"] == ("account", "email", "network", "network_l2")


def test_the_shipped_team_is_one_group() -> None:
    """Its hotliners' skills overlap: one group, as every hotline had before."""
    routing = load_routing_config(DEFAULT_CONFIG_DIR)
    groups = routing_groups(routing)
    assert groups.names == ("account",)
    assert set(groups.by_queue) == set(routing.queues)
    assert set(groups.by_agent) == set(routing.hotliners)


def test_check_config_says_the_groups_and_who_serves_each(tmp_path: Path) -> None:
    folder = two_teams_config(tmp_path / "c")
    result = CliRunner().invoke(main, ["check-config", "--config", str(folder)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].endswith(": 2")
    assert lines[2:] == [
        "  account: account, email, network, network_l2 (3 hotliners)",
        "  general: general, hardware, printer, software (3 hotliners)",
    ]
