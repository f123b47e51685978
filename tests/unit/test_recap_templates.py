"""The caller's recap: rendered in their language from the editable templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError
from queues.recap import (
    RecapFacts,
    call_reference,
    load_recap_templates,
    textable,
    valid_email,
)
from web.config import load_config

CONFIG = Path(__file__).resolve().parents[2] / "config"
LANGS = ("fr-FR", "en-US")
SCRIPT = "<script>alert('x')</script>"


def facts(summary: str = "Pilote réinstallé", next_steps: str = "") -> RecapFacts:
    return RecapFacts(
        reference="HL-ABCD1234",
        date="02/12/2026 à 14:05",
        hotliner="Nina",
        summary=summary,
        next_steps=next_steps,
        hotline_number="+33180000000",
        hours="Ouvert du lundi au vendredi.",
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    return target


def test_the_shipped_templates_say_what_was_done_in_french_and_english() -> None:
    templates = load_recap_templates(CONFIG, LANGS)
    fr = templates.render("fr-FR", facts(next_steps="Redémarrer le poste ce soir"))
    assert fr.sms == (
        "Hotline informatique, appel HL-ABCD1234 du 02/12/2026 à 14:05 avec Nina : "
        "Pilote réinstallé. À faire : Redémarrer le poste ce soir. Besoin d'aide ? "
        "Appelez le +33180000000 en citant HL-ABCD1234."
    )
    assert fr.email_subject == (
        "Votre appel à la hotline informatique du 02/12/2026 à 14:05 (HL-ABCD1234)"
    )
    assert "Ce qu'il vous reste à faire :\nRedémarrer le poste ce soir" in fr.email_text
    assert "Ouvert du lundi au vendredi." in fr.email_text
    en = templates.render("en-US", facts())
    assert en.sms.startswith("IT help desk, call HL-ABCD1234")
    assert "What you still have to do" not in en.email_text  # nothing to do
    assert "What was done:\nPilote réinstallé" in en.email_text
    # An unknown language falls back to the first one configured.
    assert (
        templates.render("de-DE", facts()).sms == templates.render("fr-FR", facts()).sms
    )


def test_what_a_hotliner_typed_stays_text_in_the_html_mail() -> None:
    recap = load_recap_templates(CONFIG, LANGS).render(
        "fr-FR", facts(summary=SCRIPT, next_steps="a & b")
    )
    assert SCRIPT not in recap.email_html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in recap.email_html
    assert "a &amp; b" in recap.email_html
    assert SCRIPT in recap.email_text  # plain text is plain text


def test_a_broken_template_names_its_file_and_line(folder: Path) -> None:
    path = folder / "recap" / "en-US" / "email.txt"
    path.write_text("Hello,\n\n{% if summary %}\nno end\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert caught.value.path == str(path)
    assert caught.value.line is not None
    assert "template error" in str(caught.value)


def test_a_template_naming_what_a_recap_has_not_is_refused(folder: Path) -> None:
    path = folder / "recap" / "fr-FR" / "sms.txt"
    path.write_text("Appel {{ reference }} de {{ caller_password }}", encoding="utf-8")
    with pytest.raises(ConfigError, match="caller_password") as caught:
        load_config(folder)
    assert caught.value.path == str(path)


def test_a_missing_part_or_language_is_refused(folder: Path) -> None:
    (folder / "recap" / "en-US" / "email.html").unlink()
    with pytest.raises(ConfigError, match=r"email\.html in en-US is missing"):
        load_config(folder)


def test_without_a_recap_folder_the_hotline_still_loads(folder: Path) -> None:
    shutil.rmtree(folder / "recap")
    assert load_config(folder).recap is None


def test_templates_cannot_reach_into_python(folder: Path) -> None:
    path = folder / "recap" / "fr-FR" / "sms.txt"
    path.write_text("{{ summary.__class__.__mro__ }}", encoding="utf-8")
    with pytest.raises(ConfigError, match="template error"):
        load_config(folder)


def test_references_numbers_and_addresses() -> None:
    assert call_reference("CA0123456789abcdef0123456789abcdef") == "HL-89ABCDEF"
    assert textable("+33612345678")
    for number in ("", "anonymous", "+0612", "0612345678", "+33 6 12"):
        assert not textable(number), number
    assert valid_email("jeanne.dupont@example.fr")
    for address in (
        "",
        "jeanne",
        "a@b",
        "Jeanne <j@example.fr>",
        "a@example.fr, b@example.fr",
        "a@example.fr\nBcc: x@example.fr",
    ):
        assert not valid_email(address), address
