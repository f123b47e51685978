"""A malformed configuration file is refused with file, line and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError
from web.config import load_config

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    return target


def test_shipped_example_configuration_loads(folder: Path) -> None:
    config = load_config(folder)
    assert len(config.routing.hotliners) == 12
    assert config.ivr.queue_ids <= set(config.routing.queues)


def break_line(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


@pytest.mark.parametrize(
    ("file", "old", "new", "reason"),
    [
        (
            "hotliners.yaml",
            "skills: {network: 5,",
            "skills: {netwrk: 5,",
            "unknown skill",
        ),
        (
            "hotliners.yaml",
            '"mon-fri 07:00-15:00"]\n  - id: bruno',
            '"mon-fri 7h-15h"]\n  - id: bruno',
            "must look like",
        ),
        ("hotliners.yaml", 'endpoint: "client:chloe"', 'endpoint: "chloe"', "endpoint"),
        ("hotline.yaml", "whisper: phones", "whisper: sometimes", "whisper"),
        (
            "queues.yaml",
            "    skill: printer\n",
            "    skil: printer\n",
            "unknown key 'skil'",
        ),
        (
            "hotline.yaml",
            "timezone: Europe/Paris",
            "timezone: Europe/Pariss",
            "unknown timezone",
        ),
        ("hotline.yaml", "ring_seconds: 15", "ring_seconds: fifteen", "whole number"),
        (
            "queues.yaml",
            "    skill: printer\n",
            "    skill: printer\n    max_waiting: 6000\n",
            "max_waiting",
        ),
        (
            "ivr.yaml",
            "problem_types: [printer]",
            "problem_types: [fax]",
            "problem_types must be a list",
        ),
        (
            "ivr.yaml",
            "problem_types: [email]",
            "problem_types: [printer]",
            "both claim problem type 'printer'",
        ),
        ("ivr.yaml", "queue: printer", "queue: printers", "unknown queue"),
        ("ivr.yaml", "goto: file_reseau", "goto: file_reso", "unknown node"),
        (
            "ivr.yaml",
            '  en-US: "Thank you for calling, goodbye."\n',
            "",
            "missing the en-US text",
        ),
        ("ivr.yaml", '      - key: "6"', '      - key: "5"', "same key"),
        (
            "callers.yaml",
            '"+33698765432": "Marc',
            '"poste 12": "Marc',
            "must be a phone number",
        ),
        (
            "hotline.yaml",
            "routing:\n",
            "console:\n  break_reasons:\n    lunch: {fr-FR: Déjeuner}\nrouting:\n",
            "missing the en-US text",
        ),
        (
            "hotline.yaml",
            "routing:\n",
            "console:\n  auto_available: maybe\nrouting:\n",
            "auto_available is true or false",
        ),
        (
            "hotline.yaml",
            "holidays: []",
            "holidays: [FR, Christmas]",
            "neither a date like 2026-12-25 nor a country code",
        ),
    ],
)
def test_malformed_file_names_the_line_at_fault(
    folder: Path, file: str, old: str, new: str, reason: str
) -> None:
    line = break_line(folder / file, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert caught.value.path.endswith(file)
    assert reason in caught.value.reason
    assert caught.value.line is not None
    assert abs(caught.value.line - line) <= 12


def test_yaml_syntax_error_names_the_line(folder: Path) -> None:
    path = folder / "queues.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[5] = "    name: {fr-FR: [unclosed"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"queues\.yaml:\d+: invalid YAML"):
        load_config(folder)


def test_duplicate_key_is_refused(folder: Path) -> None:
    path = folder / "hotline.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "name: again\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_config(folder)


def test_a_queue_may_set_its_own_wrapup_time(folder: Path) -> None:
    queues = folder / "queues.yaml"
    text = queues.read_text(encoding="utf-8")
    queues.write_text(
        text.replace(
            "  - id: printer\n", "  - id: printer\n    wrapup_seconds: 240\n", 1
        ),
        encoding="utf-8",
    )
    routing = load_config(folder).routing
    assert routing.wrapup_ms_by_queue() == {"printer": 240_000}
    assert routing.longest_wrapup_ms == 240_000


def test_who_hears_the_whisper(folder: Path) -> None:
    hotline = load_config(folder).routing.hotline
    assert hotline.whisper == "phones"
    assert hotline.whispers_to("+33612345678")
    assert hotline.whispers_to("sip:desk@pbx.example")
    assert not hotline.whispers_to("client:nina")  # the console pops up the call
    for mode, phone, browser in (("always", True, True), ("never", False, False)):
        break_line(folder / "hotline.yaml", "whisper: phones", f"whisper: {mode}")
        hotline = load_config(folder).routing.hotline
        assert hotline.whispers_to("+33612345678") is phone
        assert hotline.whispers_to("client:nina") is browser
        break_line(folder / "hotline.yaml", f"whisper: {mode}", "whisper: phones")
