"""Loading the knowledge base: the shipped files, and every malformation refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from ivr.errors import MissingTranslationError, UnknownProblemTypeError
from ivr.kb import (
    PROBLEM_TYPES,
    Level,
    ProblemType,
    load_knowledge_base,
)

KB_FOLDER = Path(__file__).resolve().parents[2] / "config" / "kb"

VALID = """\
problem_type: printer
faults:
  - id: printer-offline
    title: {fr-FR: "Imprimante hors ligne", en-US: "Printer offline"}
    symptoms: ["l'imprimante n'imprime plus"]
    keywords: [imprimante]
    level: L1
    self_help:
      - fr-FR: "Rallumez l'imprimante."
        en-US: "Turn the printer back on."
    agent_steps: ["Vider la file d'attente."]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(folder: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_knowledge_base(folder)
    return caught.value


def test_shipped_knowledge_base_loads_with_every_problem_type() -> None:
    kb = load_knowledge_base(KB_FOLDER)

    assert len(kb) >= 50
    for problem_type in PROBLEM_TYPES:
        assert 2 <= len(kb.for_problem_type(problem_type)) <= 10, problem_type


def test_shipped_self_help_is_short_and_translated() -> None:
    kb = load_knowledge_base(KB_FOLDER)

    for fault in kb:
        assert len(fault.self_help) <= 4, fault.id
        if fault.level is Level.L1:
            assert len(fault.self_help) >= 2, fault.id
        for step in fault.self_help:
            assert step.text("fr-FR")
            assert step.text("en-US")
            assert len(step.text("fr-FR")) < 200, "too long to be read aloud"


def test_minimal_file_is_read_into_a_fault(tmp_path: Path) -> None:
    write(tmp_path, "printer.yaml", VALID)

    kb = load_knowledge_base(tmp_path)

    fault = kb.get("printer-offline")
    assert fault is not None
    assert fault.problem_type is ProblemType.PRINTER
    assert fault.title_in("en-US") == "Printer offline"
    assert fault.symptoms == ("l'imprimante n'imprime plus",)
    assert fault.level is Level.L1
    assert fault.self_help[0].text("fr-FR") == "Rallumez l'imprimante."
    assert fault.agent_steps == ("Vider la file d'attente.",)
    assert kb.for_problem_type("printer") == (fault,)
    assert kb.for_problem_type("email") == ()
    assert kb.get("nothing-here") is None


def test_synonyms_file_is_not_read_as_faults(tmp_path: Path) -> None:
    write(tmp_path, "printer.yaml", VALID)
    write(tmp_path, "synonyms.yaml", "synonyms:\n  wifi: [wi-fi]\n")

    assert len(load_knowledge_base(tmp_path)) == 1


def test_unknown_problem_type_asked_of_the_base_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "printer.yaml", VALID)
    kb = load_knowledge_base(tmp_path)

    with pytest.raises(UnknownProblemTypeError, match="fax"):
        kb.for_problem_type("fax")


def test_step_in_a_language_not_loaded_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "printer.yaml", VALID)
    fault = load_knowledge_base(tmp_path).get("printer-offline")
    assert fault is not None

    with pytest.raises(MissingTranslationError, match="de-DE"):
        fault.self_help[0].text("de-DE")


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("    keywords: [imprimante]\n", "", 3, "missing required key 'keywords'"),
        (
            """symptoms: ["l'imprimante n'imprime plus"]""",
            "symptoms: \"l'imprimante n'imprime plus\"",
            5,
            "'symptoms' must be a non-empty list",
        ),
        ("symptoms: [\"l'imprimante n'imprime plus\"]", "symptoms: []", 5, "non-empty"),
        ("keywords: [imprimante]", "keywords: [imprimante, 3]", 6, "non-empty string"),
        ("problem_type: printer", "problem_type: fax", 1, "unknown problem type 'fax'"),
        ("level: L1", "level: L3", 7, "unknown level 'L3'"),
        ('        en-US: "Turn the printer back on."\n', "", 9, "missing the en-US"),
        ('      - fr-FR: "Rallumez', '      - de-DE: "Rallumez', 9, "unknown language"),
        ('{fr-FR: "Imprimante hors ligne", ', "{", 4, "missing the fr-FR"),
        ('en-US: "Printer offline"}', 'en-US: ""}', 4, "en-US text must be"),
        ("title: {", "title: [", 4, "invalid YAML"),
        ("id: printer-offline", "id: Printer_Offline", 3, "fault id must be"),
        ("    level: L1\n", "    level: L1\n    severity: high\n", 8, "unknown key"),
        ("    level: L1\n", "    level: L1\n    level: L2\n", 8, "duplicate key"),
        (
            VALID[VALID.index("    self_help") : VALID.index("    agent_steps")],
            "    self_help: yes\n",
            8,
            "'self_help' must be a list",
        ),
        ("agent_steps: [", "agent_steps: 'a' #", 11, "'agent_steps' must be"),
    ],
)
def test_malformed_fault_file_is_refused_with_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, reason: str
) -> None:
    assert old in VALID
    path = write(tmp_path, "printer.yaml", VALID.replace(old, new, 1))

    error = load_error(tmp_path)

    assert error.path == str(path)
    assert error.line == line
    assert reason in error.reason
    assert str(error).startswith(f"{path}:{line}: ")


def test_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "printer.yaml", "- just\n- a list\n")

    error = load_error(tmp_path)

    assert (error.path, error.line) == (str(path), 1)
    assert "must be a mapping" in error.reason


def test_file_without_faults_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "printer.yaml", "problem_type: printer\nfaults: []\n")

    error = load_error(tmp_path)

    assert error.line == 2
    assert "'faults' must be a non-empty list" in error.reason


def test_duplicate_fault_id_in_one_file_is_refused(tmp_path: Path) -> None:
    fault = VALID.split("faults:\n", 1)[1]
    write(tmp_path, "printer.yaml", VALID + fault)

    error = load_error(tmp_path)

    assert error.line == 12
    assert "duplicate fault id 'printer-offline'" in error.reason


def test_duplicate_fault_id_across_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a-printer.yaml", VALID)
    second = write(
        tmp_path,
        "b-network.yaml",
        "# le même identifiant, ailleurs\n"
        + VALID.replace("problem_type: printer", "problem_type: network"),
    )

    error = load_error(tmp_path)

    assert (error.path, error.line) == (str(second), 4)
    assert "duplicate fault id 'printer-offline'" in error.reason
    assert f"{first}:3" in error.reason


def test_folder_without_fault_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "synonyms.yaml", "synonyms:\n  wifi: [wi-fi]\n")

    error = load_error(tmp_path)

    assert error.path == str(tmp_path)
    assert "no knowledge-base file" in error.reason
