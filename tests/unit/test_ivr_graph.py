"""The IVR tree drawn for its editors: outline, Mermaid and SVG, and the CLI."""

from __future__ import annotations

import dataclasses
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.ivr_svg import svg
from cli.main import main
from ivr.config import IvrTree, MenuNode, MenuOption, QueueNode, SelfHelpNode
from ivr.graph import mermaid, mermaid_text, outline, reachable, unreachable
from web.config import HotlineConfig, load_config

CONFIG = Path(__file__).resolve().parents[2] / "config"

NODE_LINE = re.compile(
    r'^  (?P<id>[A-Za-z0-9_]+)(?P<open>\{|\(\[|\()"(?P<label>[^"]*)"'
    r"(?P<close>\}|\]\)|\))$"
)
EDGE_LINE = re.compile(
    r'^  (?P<src>[A-Za-z0-9_]+) (?P<arrow>-->|-\.->)\|"(?P<label>[^"]*)"\| '
    r"(?P<dst>[A-Za-z0-9_]+)$"
)


@pytest.fixture(scope="module")
def config() -> HotlineConfig:
    return load_config(CONFIG)


def parse_mermaid(text: str) -> tuple[dict[str, tuple[str, str]], list[re.Match[str]]]:
    """Node shapes and labels by id, and edges; fails on any line it cannot read."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, tuple[str, str]] = {}
    found_edges: list[re.Match[str]] = []
    for line in lines[1:]:
        if line.startswith(("  %%", "  classDef ", "  class ")):
            continue
        if line.startswith('  start(("call")) --> '):
            continue
        node = NODE_LINE.match(line)
        edge = EDGE_LINE.match(line)
        assert node or edge, f"unexpected Mermaid line: {line!r}"
        if node:
            nodes[node["id"]] = (node["open"], node["label"])
        elif edge:
            found_edges.append(edge)
    for edge in found_edges:
        assert edge["src"] in nodes
        assert edge["dst"] in nodes
    return nodes, found_edges


def tree_with_odd_texts(tree: IvrTree) -> IvrTree:
    """The shipped tree plus a node whose texts could break a Mermaid label."""
    tricky = 'Dites "oui" <ou> tapez # — à bientôt ; l\'équipe'
    menu = MenuNode(
        id="menu-spécial.2",
        prompt={"fr-FR": tricky, "en-US": tricky},
        help={"fr-FR": tricky, "en-US": tricky},
        options=(
            MenuOption(
                key="1",
                label={"fr-FR": 'l\'"étoile" #1', "en-US": "<star>"},
                keywords={},
                goto="file_imprimante",
            ),
        ),
    )
    return dataclasses.replace(tree, nodes={**tree.nodes, menu.id: menu})


def test_outline_starts_at_the_start_and_shows_every_node(
    config: HotlineConfig,
) -> None:
    text = outline(config.ivr, config.kb, "fr-FR")
    first_node = next(line for line in text.splitlines() if line.startswith("["))
    assert first_node.startswith("[menu] accueil:")
    for node_id in config.ivr.nodes:
        assert f"] {node_id}:" in text
    assert "warning" not in text  # the shipped tree has no unreachable node


def test_outline_prints_a_shared_node_once_then_refers_to_it(
    config: HotlineConfig,
) -> None:
    text = outline(config.ivr, config.kb, "fr-FR")
    assert text.count("[queue] file_imprimante:") == 1
    assert "not fixed -> file_imprimante  (→ see file_imprimante)" in text
    assert "[queue] file_imprimante: queue printer, priority 0" in text


def test_outline_reads_self_help_steps_in_the_chosen_language(
    config: HotlineConfig,
) -> None:
    fault = config.kb.get("printer-paper-jam")
    assert fault is not None
    french = outline(config.ivr, config.kb, "fr-FR")
    english = outline(config.ivr, config.kb, "en-US")
    assert f"1. {fault.self_help[0].text('fr-FR')}" in french
    assert f"2. {fault.self_help[1].text('en-US')}" in english
    assert f'printer-paper-jam "{fault.title_in("fr-FR")}"' in french


def test_outline_shows_options_with_labels_keywords_and_language_switches(
    config: HotlineConfig,
) -> None:
    text = outline(config.ivr, config.kb, "fr-FR")
    assert (
        '2 -> menu_imprimante  "imprimante"  keywords: imprimante, imprimer, '
        "impression, scanner, photocopieuse  problem_types: printer"
    ) in text
    assert '9 -> language en-US (same menu)  "anglais"' in text


def test_unreachable_nodes_are_listed_as_a_warning(config: HotlineConfig) -> None:
    lost = QueueNode(id="file_oubliee", queue="printer", priority=2, announce={})
    tree = dataclasses.replace(config.ivr, nodes={**config.ivr.nodes, lost.id: lost})
    assert unreachable(tree) == ["file_oubliee"]
    assert "file_oubliee" not in reachable(tree)
    text = outline(tree, config.kb, "fr-FR")
    assert text.rstrip().splitlines()[-1] == (
        "warning: 1 node(s) unreachable from 'accueil': file_oubliee (queue)"
    )
    assert "class n_file_oubliee unreachable" in mermaid(tree, config.kb, "fr-FR")
    assert "file_oubliee" in svg(tree, config.kb, "fr-FR")


def test_mermaid_has_every_node_in_the_shape_of_its_kind(
    config: HotlineConfig,
) -> None:
    nodes, _ = parse_mermaid(mermaid(config.ivr, config.kb, "fr-FR"))
    shapes = {MenuNode: "{", SelfHelpNode: "(", QueueNode: "(["}
    assert set(nodes) == {f"n_{node_id}" for node_id in config.ivr.nodes}
    for node_id, node in config.ivr.nodes.items():
        opening, label = nodes[f"n_{node_id}"]
        assert opening == shapes[type(node)]
        assert label.startswith(f"{node_id}<br/>")


def test_mermaid_edges_are_labelled_with_keys_and_not_fixed_is_dashed(
    config: HotlineConfig,
) -> None:
    _, found = parse_mermaid(mermaid(config.ivr, config.kb, "fr-FR"))
    pairs = {(e["src"], e["label"], e["dst"], e["arrow"]) for e in found}
    assert ("n_accueil", "2 imprimante", "n_menu_imprimante", "-->") in pairs
    assert ("n_aide_bourrage", "not fixed", "n_file_imprimante", "-.->") in pairs
    # Language switches stay on the same menu: a self-loop.
    assert ("n_accueil", "9 anglais", "n_accueil", "-->") in pairs
    dashed = [e for e in found if e["arrow"] == "-.->"]
    selfhelp = [n for n in config.ivr.nodes.values() if isinstance(n, SelfHelpNode)]
    assert len(dashed) == len(selfhelp)
    options = sum(
        len(n.options) for n in config.ivr.nodes.values() if isinstance(n, MenuNode)
    )
    assert len(found) == options + len(selfhelp)


def test_mermaid_labels_survive_accents_quotes_and_brackets(
    config: HotlineConfig,
) -> None:
    tree = tree_with_odd_texts(config.ivr)
    nodes, found = parse_mermaid(mermaid(tree, config.kb, "fr-FR"))
    opening, label = nodes["n_menu_sp_cial_2"]
    assert opening == "{"
    assert "#quot;oui#quot;" in label
    assert "#lt;ou#gt;" in label
    assert "tapez #35; — à bientôt" in label
    edge = next(e for e in found if e["src"] == "n_menu_sp_cial_2")
    assert edge["label"] == "1 l'#quot;étoile#quot; #35;1"


def test_mermaid_text_escapes_hash_before_adding_entity_codes() -> None:
    assert mermaid_text('a "b" #c\n d') == "a #quot;b#quot; #35;c d"


def test_mermaid_ids_that_sanitize_alike_stay_distinct(
    config: HotlineConfig,
) -> None:
    tree = tree_with_odd_texts(config.ivr)
    twin = dataclasses.replace(tree.nodes["menu-spécial.2"], id="menu_sp-cial_2")
    tree = dataclasses.replace(tree, nodes={**tree.nodes, twin.id: twin})
    nodes, _ = parse_mermaid(mermaid(tree, config.kb, "fr-FR"))
    assert {"n_menu_sp_cial_2", "n_menu_sp_cial_2_2"} <= set(nodes)


def test_svg_is_well_formed_and_names_every_node(config: HotlineConfig) -> None:
    tree = tree_with_odd_texts(config.ivr)
    root = ET.fromstring(svg(tree, config.kb, "fr-FR"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {el.text for el in root.iter("{http://www.w3.org/2000/svg}text")}
    for node_id in tree.nodes:
        assert node_id in texts
    rects = list(root.iter("{http://www.w3.org/2000/svg}rect"))
    assert len(rects) == len(tree.nodes) + 1  # one box each, and the background


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ivr", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_show_prints_the_outline(config: HotlineConfig) -> None:
    code, out, _ = run_cli("show", "--config", str(CONFIG), "--lang", "en-US")
    assert code == 0
    assert out == outline(config.ivr, config.kb, "en-US")


def test_cli_graph_prints_mermaid_or_writes_svg(tmp_path: Path) -> None:
    code, out, _ = run_cli("graph", "--config", str(CONFIG))
    assert code == 0
    assert out.startswith("flowchart TD\n")
    target = tmp_path / "ivr.svg"
    code, out, _ = run_cli(
        "graph", "--config", str(CONFIG), "--format", "svg", "-o", str(target)
    )
    assert code == 0
    assert out == f"wrote {target} (svg)\n"
    assert ET.parse(target).getroot().tag.endswith("svg")


def test_cli_refuses_an_unknown_language() -> None:
    code, _, err = run_cli("show", "--config", str(CONFIG), "--lang", "de-DE")
    assert code == 2
    assert "'de-DE' is not one of fr-FR, en-US" in err


@pytest.mark.parametrize("command", ["show", "graph"])
def test_cli_reports_a_broken_tree_with_file_and_line(
    tmp_path: Path, command: str
) -> None:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG, folder)
    ivr_yaml = folder / "ivr.yaml"
    text = ivr_yaml.read_text(encoding="utf-8")
    line = text[: text.index("goto: file_reseau")].count("\n") + 1
    ivr_yaml.write_text(
        text.replace("goto: file_reseau", "goto: file_reso", 1), encoding="utf-8"
    )
    code, out, err = run_cli(command, "--config", str(folder))
    assert code == 1
    assert out == ""
    assert f"{ivr_yaml}:{line}: " in err
    assert "unknown node 'file_reso'" in err
