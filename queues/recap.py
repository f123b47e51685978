"""The recap a hotliner sends the caller after the call: by SMS and by email.

What was done, what the caller still has to do, the call's reference and how
to call back, in the caller's language. The words are templates the help desk
edits (`config/recap/<language>/`: `sms.txt`, `email_subject.txt`,
`email.txt`, `email.html`), rendered by Jinja2 in a sandbox (a template is
configuration, not code); the HTML part escapes everything it is given, so
what a hotliner typed stays text in the caller's mail client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from core.errors import ConfigError
from core.validate import is_e164
from queues.config import HotlineSettings

FOLDER = "recap"
PARTS = ("sms.txt", "email_subject.txt", "email.txt", "email.html")
#: Twilio's limit on a message body (it splits it in segments).
MAX_SMS = 1600
MAX_SUBJECT = 200


@dataclass(frozen=True, slots=True)
class RecapFacts:
    """What a recap may say; every template gets these names."""

    reference: str  # read out to the help desk when calling back
    date: str  # the call's date, in the caller's language's format
    hotliner: str  # the first name of who helped
    summary: str  # what was done
    next_steps: str  # what the caller still has to do ('' if nothing)
    hotline_number: str
    hours: str  # when the help desk is open ('' if always)


@dataclass(frozen=True, slots=True)
class Recap:
    sms: str
    email_subject: str
    email_text: str
    email_html: str


@dataclass(frozen=True, slots=True)
class RecapTemplates:
    """The four parts of the recap, per language (source text, checked)."""

    by_language: dict[str, dict[str, str]]

    def render(self, language: str, facts: RecapFacts) -> Recap:
        """The recap in `language` (or the first one configured)."""
        parts = self.by_language.get(language) or next(iter(self.by_language.values()))
        values = asdict(facts)
        text = _environment(autoescape=False)
        html = _environment(autoescape=True)
        sms = " ".join(text.from_string(parts["sms.txt"]).render(values).split())
        subject = " ".join(
            text.from_string(parts["email_subject.txt"]).render(values).split()
        )
        return Recap(
            sms=sms[:MAX_SMS],
            email_subject=subject[:MAX_SUBJECT],
            email_text=text.from_string(parts["email.txt"]).render(values).strip()
            + "\n",
            email_html=html.from_string(parts["email.html"]).render(values),
        )


#: How a recap writes the call's date, per language.
DATE_FORMATS = {"fr-FR": "%d/%m/%Y à %H:%M", "en-US": "%Y-%m-%d at %H:%M"}
MAX_TEXT = 500  # summary, next steps
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,253}\.[a-zA-Z]{2,}$")


def textable(number: str) -> bool:
    """Whether an SMS can go to this caller ID (E.164; not hidden, not forged)."""
    return is_e164(number)


def valid_email(address: str) -> bool:
    """A plausible single address (no display name, no list, no header)."""
    return len(address) <= 254 and bool(_EMAIL.match(address))


def recap_facts(
    call: Mapping[str, str],
    *,
    hotliner_name: str,
    summary: str,
    next_steps: str,
    hotline: HotlineSettings,
    hotline_number: str,
) -> tuple[str, RecapFacts]:
    """(the caller's language, what their recap says) for a call's live hash."""
    lang = call.get("lang", "")
    if lang not in hotline.languages:
        lang = hotline.default_language
    created = int(call.get("created") or 0)
    when = datetime.fromtimestamp(created / 1000, tz=UTC).astimezone(hotline.timezone)
    return lang, RecapFacts(
        reference=call_reference(call.get("sid", "")),
        date=when.strftime(DATE_FORMATS.get(lang, "%Y-%m-%d %H:%M")),
        hotliner=hotliner_name.split()[0] if hotliner_name.split() else "",
        summary=summary.strip(),
        next_steps=next_steps.strip(),
        hotline_number=hotline_number,
        hours=hotline.hours_text.get(lang, ""),
    )


def call_reference(call_sid: str) -> str:
    """A short reference a caller can read out: HL- and the sid's last 8."""
    return "HL-" + call_sid[-8:].upper()


def load_recap_templates(folder: Path, languages: tuple[str, ...]) -> RecapTemplates:
    """`folder/recap/<language>/<part>` for every language; `ConfigError`
    naming the file and line of a missing part or a template that does not
    compile or names something a recap does not have."""
    sample = RecapFacts(*(["x"] * len(RecapFacts.__dataclass_fields__)))
    by_language: dict[str, dict[str, str]] = {}
    for language in languages:
        parts: dict[str, str] = {}
        for part in PARTS:
            path = folder / FOLDER / language / part
            try:
                source = path.read_text(encoding="utf-8")
            except OSError:
                raise ConfigError(
                    f"the recap's {part} in {language} is missing", path=str(path)
                ) from None
            env = _environment(autoescape=part.endswith(".html"))
            try:
                env.from_string(source).render(asdict(sample))
            except TemplateSyntaxError as exc:
                raise ConfigError(
                    f"template error: {exc.message}", path=str(path), line=exc.lineno
                ) from None
            except TemplateError as exc:
                raise ConfigError(
                    f"template error: {exc} (a recap has: "
                    f"{', '.join(RecapFacts.__dataclass_fields__)})",
                    path=str(path),
                ) from None
            parts[part] = source
        by_language[language] = parts
    return RecapTemplates(by_language)


def recap_files(folder: Path) -> list[Path]:
    """The template files, for the configuration's hot reload."""
    return sorted((folder / FOLDER).glob("*/*"))


def _environment(*, autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
