"""The conference both sides of a call join, read from the TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from web import twiml


def _conference(response: object) -> tuple[ET.Element, ET.Element]:
    root = ET.fromstring(str(response))
    dial = root.find("Dial")
    assert dial is not None
    conference = dial.find("Conference")
    assert conference is not None
    return dial, conference


def test_hotliner_and_caller_join_the_same_conference_that_ends_with_either() -> None:
    hotliner_dial, hotliner = _conference(
        twiml.whisper_and_join("Appel imprimantes.", "hotline-CA1", "fr-FR")
    )
    caller_dial, caller = _conference(
        twiml.connect_to_hotliner("hotline-CA1", "https://h.test/voice/caller/after")
    )
    assert hotliner.text == caller.text == "hotline-CA1"
    assert (
        hotliner.attrib
        == caller.attrib
        == {
            "startConferenceOnEnter": "true",
            "endConferenceOnExit": "true",
            "beep": "false",
        }
    )
    # Only the caller's side says goodbye when the conference ends.
    assert hotliner_dial.attrib == {}
    assert caller_dial.attrib == {
        "action": "https://h.test/voice/caller/after",
        "method": "POST",
    }


def test_the_whisper_is_said_to_the_hotliner_before_joining() -> None:
    root = ET.fromstring(
        str(twiml.whisper_and_join("Appel imprimantes.", "hotline-CA1", "fr-FR"))
    )
    assert [child.tag for child in root] == ["Say", "Dial"]
    say = root.find("Say")
    assert say is not None
    assert say.get("language") == "fr-FR"
