"""Small typed readers for validating configuration dicts with line numbers.

Each reader takes the mapping, the key and the `Located` index of its file,
and either returns a value of the right type or raises `ConfigError` naming
the file and the line of the offending key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from core.yamlfile import Located

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
#: A phone number we can call or text: E.164, + then up to 15 digits.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_e164(number: str) -> bool:
    """Whether `number` is one we can dial or text (not hidden, not forged)."""
    return bool(E164.match(number))


def require_mapping(
    value: object,
    located: Located,
    what: str,
    parent: object = None,
    key: str | None = None,
) -> dict[str, Any]:
    """`value` must be a mapping; `parent`/`key` locate it when it is not."""
    if not isinstance(value, dict):
        where = parent if parent is not None else value
        raise located.error(f"{what} must be a mapping", where, key)
    return value


def require_list(
    value: object, located: Located, what: str, parent: object, key: str
) -> list[Any]:
    """`value` must be a list."""
    if not isinstance(value, list):
        raise located.error(f"{what} must be a list", parent, key)
    return value


def check_keys(
    mapping: Mapping[str, Any],
    located: Located,
    what: str,
    required: AbstractSet[str],
    optional: AbstractSet[str],
) -> None:
    """Refuse unknown keys (typos) and missing required ones."""
    for key in mapping:
        if key not in required and key not in optional:
            known = ", ".join(sorted(required | optional))
            raise located.error(
                f"{what}: unknown key {key!r} (known: {known})", mapping, key
            )
    for key in sorted(required):
        if key not in mapping:
            raise located.error(f"{what}: missing required key {key!r}", mapping)


def get_str(
    mapping: Mapping[str, Any],
    key: str,
    located: Located,
    what: str,
    default: str | None = None,
) -> str:
    """A non-empty string value."""
    value = mapping.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise located.error(f"{what}: {key!r} must be a non-empty string", mapping, key)
    return value


def get_identifier(
    mapping: Mapping[str, Any], key: str, located: Located, what: str
) -> str:
    """A lowercase identifier usable in Redis keys and URLs."""
    value = get_str(mapping, key, located, what)
    if not IDENTIFIER.match(value):
        raise located.error(
            f"{what}: {key!r} must be lowercase letters, digits, '-' or '_' "
            f"(got {value!r})",
            mapping,
            key,
        )
    return value


def get_int(
    mapping: Mapping[str, Any],
    key: str,
    located: Located,
    what: str,
    default: int,
    minimum: int = 0,
    maximum: int = 10**9,
) -> int:
    """An integer within bounds (booleans refused: YAML's `yes` is not a number)."""
    value = mapping.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise located.error(f"{what}: {key!r} must be a whole number", mapping, key)
    if not minimum <= value <= maximum:
        raise located.error(
            f"{what}: {key!r} must be between {minimum} and {maximum} (got {value})",
            mapping,
            key,
        )
    return value


def get_float(
    mapping: Mapping[str, Any],
    key: str,
    located: Located,
    what: str,
    default: float,
    minimum: float = 0.0,
    maximum: float = 1e9,
) -> float:
    """A number within bounds."""
    value = mapping.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise located.error(f"{what}: {key!r} must be a number", mapping, key)
    if not minimum <= float(value) <= maximum:
        raise located.error(
            f"{what}: {key!r} must be between {minimum} and {maximum} (got {value})",
            mapping,
            key,
        )
    return float(value)


def get_translations(
    mapping: Mapping[str, Any],
    key: str,
    located: Located,
    what: str,
    languages: tuple[str, ...],
) -> dict[str, str]:
    """A `{language: text}` mapping with a text for every language."""
    value = mapping.get(key)
    if not isinstance(value, dict):
        raise located.error(
            f"{what}: {key!r} must map each language ({', '.join(languages)}) "
            "to a text",
            mapping,
            key,
        )
    return require_translations(value, located, f"{what} {key}", languages)


def require_translations(
    texts: Mapping[str, Any], located: Located, what: str, languages: tuple[str, ...]
) -> dict[str, str]:
    """One non-empty text per configured language, and no other language."""
    for language in texts:
        if language not in languages:
            raise located.error(
                f"{what}: unknown language {language!r} "
                f"(expected: {', '.join(languages)})",
                texts,
                str(language),
            )
    for language in languages:
        if language not in texts:
            raise located.error(f"{what}: missing the {language} text", texts)
        text = texts[language]
        if not isinstance(text, str) or not text.strip():
            raise located.error(
                f"{what}: the {language} text must be a non-empty string",
                texts,
                language,
            )
    return {language: texts[language].strip() for language in languages}


def get_string_list(
    mapping: Mapping[str, Any], key: str, located: Located, what: str
) -> tuple[str, ...]:
    """A non-empty list of non-empty strings, stripped."""
    value = mapping[key]
    if not isinstance(value, list) or not value:
        raise located.error(f"{what}: {key!r} must be a non-empty list", mapping, key)
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise located.error(
                f"{what}: every item of {key!r} must be a non-empty string "
                f"(got {item!r})",
                mapping,
                key,
            )
    return tuple(item.strip() for item in value)


def get_choice(
    mapping: Mapping[str, Any],
    key: str,
    located: Located,
    what: str,
    choices: Sequence[str],
    default: str | None = None,
) -> str | None:
    """One of `choices` (None when absent and no default), named in the error."""
    value = mapping.get(key, default)
    if value is None:
        return None
    if value not in choices:
        raise located.error(
            f"{what}: unknown {key} {value!r} (known: {', '.join(choices)})",
            mapping,
            key,
        )
    return str(value)
