"""Loads and cross-checks the whole configuration folder.

Used by `web.create_app` and by `hotline check-config`: the routing part
(hotline, queues, hotliners), the IVR tree (whose leaves name queues) and the
knowledge base, and the recap's templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ivr.config import IvrTree, MenuNode, load_ivr_tree
from ivr.hints import menu_hints, vocabulary
from ivr.kb import SYNONYMS_FILE, KnowledgeBase, load_knowledge_base
from ivr.search import SEARCH_LANGUAGE, KbSearch, load_synonyms
from ivr.triage import PlaceMap
from queues.config import RoutingConfig, load_routing_config
from queues.directory import load_directory
from queues.recap import FOLDER as RECAP_FOLDER
from queues.recap import RecapTemplates, load_recap_templates, recap_files


@dataclass(frozen=True, slots=True)
class HotlineConfig:
    routing: RoutingConfig
    ivr: IvrTree
    kb: KnowledgeBase
    search: KbSearch  # French, the knowledge base's own language
    directory: dict[str, str] = field(default_factory=dict)  # number -> name
    recap: RecapTemplates | None = None  # None: no `recap/` folder, no recaps
    #: The callers' other languages' indexes (`search` words of the faults).
    other_searches: dict[str, KbSearch] = field(default_factory=dict)
    #: Per language, the words the triage knows, for `<Gather hints>`.
    hints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Where the triage sends callers in `ivr` (worked out once).
    places: PlaceMap = field(init=False)
    #: (menu, language) -> its `<Gather hints>` (worked out once: 500 words).
    gather_hints: dict[tuple[str, str], str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "places", PlaceMap(self.ivr))
        object.__setattr__(
            self,
            "gather_hints",
            {
                (node.id, lang): menu_hints(node, lang, self.hints.get(lang, ()))
                for node in self.ivr.nodes.values()
                if isinstance(node, MenuNode)
                for lang in self.ivr.languages
            },
        )

    def search_in(self, lang: str) -> KbSearch:
        """The index for what a caller says in `lang` (French by default)."""
        return self.other_searches.get(lang, self.search)


def load_config(folder: Path) -> HotlineConfig:
    """Every file of the configuration folder, validated; `ConfigError` if not."""
    routing = load_routing_config(folder)
    languages = routing.hotline.languages
    kb = load_knowledge_base(folder / "kb", languages)
    synonyms_path = folder / "kb" / SYNONYMS_FILE
    synonyms = load_synonyms(synonyms_path) if synonyms_path.exists() else None
    ivr = load_ivr_tree(folder / "ivr.yaml", languages, set(routing.queues), kb)
    return HotlineConfig(
        routing=routing,
        ivr=ivr,
        kb=kb,
        search=KbSearch.from_kb(kb, synonyms),
        other_searches={
            lang: KbSearch.from_kb(kb, None, lang)
            for lang in languages
            if lang != SEARCH_LANGUAGE and any(lang in f.search for f in kb)
        },
        hints={lang: vocabulary(kb, synonyms, lang) for lang in languages},
        directory=load_directory(folder),
        recap=load_recap_templates(folder, languages)
        if (folder / RECAP_FOLDER).is_dir()
        else None,
    )


def config_files(folder: Path) -> list[Path]:
    """Every file whose change should reload the configuration."""
    return sorted(
        [*folder.glob("*.yaml"), *(folder / "kb").glob("*.yaml"), *recap_files(folder)]
    )
