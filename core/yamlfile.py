"""YAML loading that remembers where every mapping and item came from.

Configuration is edited by people; an error must say `file:line: reason`.
`load_yaml` returns plain dicts/lists/scalars, plus a `Located` index that
maps the `id()` of each container to its line, so validators can point at the
line of the entry at fault without carrying YAML nodes around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError


@dataclass(slots=True)
class Located:
    """Line numbers (1-based) of the containers and keys of one loaded file."""

    path: str
    lines: dict[int, int] = field(default_factory=dict)
    key_lines: dict[tuple[int, str], int] = field(default_factory=dict)

    def line_of(self, container: object, key: str | None = None) -> int | None:
        """Line of a mapping/list, or of one key inside a mapping."""
        if key is not None:
            found = self.key_lines.get((id(container), key))
            if found is not None:
                return found
        return self.lines.get(id(container))

    def error(
        self, reason: str, container: object, key: str | None = None
    ) -> ConfigError:
        """A `ConfigError` pointing at `container` (or its `key`)."""
        return ConfigError(reason, path=self.path, line=self.line_of(container, key))


#: libyaml's parser when PyYAML was built with it (the wheels are): the
#: knowledge base's files parse several times faster, and every app, worker
#: and reload loads the whole folder.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader that records the line of every mapping, sequence and key."""

    located: Located

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        keys_seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys_seen:
                raise ConfigError(
                    f"duplicate key {key!r} (first at line {keys_seen[key]})",
                    path=self.located.path,
                    line=key_node.start_mark.line + 1,
                )
            keys_seen[key] = key_node.start_mark.line + 1
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=True)
        self.located.lines[id(mapping)] = node.start_mark.line + 1
        for key, line in keys_seen.items():
            if isinstance(key, str):
                self.located.key_lines[(id(mapping), key)] = line
        return mapping

    def construct_sequence(
        self, node: yaml.SequenceNode, deep: bool = False
    ) -> list[Any]:
        sequence: list[Any] = super().construct_sequence(node, deep=True)
        self.located.lines[id(sequence)] = node.start_mark.line + 1
        # Remember each item's own line for scalars' parents to use.
        return sequence


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LineLoader.construct_mapping,
)
_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    _LineLoader.construct_sequence,
)


def load_yaml(path: Path) -> tuple[Any, Located]:
    """Parse one YAML file; syntax errors become `ConfigError` with the line."""
    located = Located(path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text", path=str(path)) from exc
    loader = _LineLoader(text)
    loader.located = located
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {reason}", path=str(path), line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=str(path)) from exc
    finally:
        loader.dispose()
    return data, located
