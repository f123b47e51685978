"""The TwiML validator accepts what Twilio plays and rejects what it refuses."""

from __future__ import annotations

import pytest
from twilio.twiml import voice_response as vr

from simulator import twiml
from simulator.twiml import (
    Conference,
    Hangup,
    Leave,
    Number,
    Pause,
    Play,
    Redirect,
    Say,
    TwimlError,
    parse_twiml,
)


def test_a_menu_built_with_voice_response_parses_into_its_verbs() -> None:
    response = vr.VoiceResponse()
    gather = vr.Gather(
        input="dtmf speech", num_digits=1, action="/menu", language="fr-FR"
    )
    gather.say("Tapez 1 pour une imprimante.", language="fr-FR")
    gather.pause(length=2)
    response.append(gather)
    response.redirect("/voice/incoming", method="POST")

    verbs = parse_twiml(str(response))

    assert verbs == (
        twiml.Gather(
            input=frozenset({"dtmf", "speech"}),
            num_digits=1,
            action="/menu",
            language="fr-FR",
            prompts=(
                Say("Tapez 1 pour une imprimante.", language="fr-FR"),
                Pause(2.0),
            ),
        ),
        Redirect("/voice/incoming", "POST"),
    )


def test_enqueue_with_wait_url_and_action_parses() -> None:
    response = vr.VoiceResponse()
    response.append(vr.Enqueue("printer", wait_url="/hold", action="/after"))

    (verb,) = parse_twiml(str(response))

    assert verb == twiml.Enqueue(name="printer", wait_url="/hold", action="/after")


def test_dial_conference_keeps_its_attributes() -> None:
    response = vr.VoiceResponse()
    dial = vr.Dial(action="/dial-done", timeout=20)
    dial.conference(
        "room-1",
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        status_callback="/conf",
        status_callback_event="start end join leave",
        participant_label="caller",
    )
    response.append(dial)

    (verb,) = parse_twiml(str(response))

    assert isinstance(verb, twiml.Dial)
    assert verb.action == "/dial-done"
    assert verb.timeout == 20.0
    (conference,) = verb.targets
    assert isinstance(conference, Conference)
    assert conference.end_conference_on_exit is True
    assert conference.beep == "false"
    assert conference.status_callback_event == {"start", "end", "join", "leave"}
    assert conference.participant_label == "caller"


def test_plain_number_in_dial_becomes_a_number_noun() -> None:
    (verb,) = parse_twiml("<Response><Dial>+33612345678</Dial></Response>")

    assert isinstance(verb, twiml.Dial)
    assert verb.targets == (Number("+33612345678"),)


def test_play_loop_zero_and_empty_verbs_parse() -> None:
    verbs = parse_twiml(
        "<Response><Play loop='0'>https://x/m.mp3</Play><Leave/><Hangup/></Response>"
    )

    assert verbs == (Play("https://x/m.mp3", loop=0), Leave(), Hangup())


def test_say_may_hold_ssml() -> None:
    (verb,) = parse_twiml(
        '<Response><Say>Bonjour <break time="1s"/> <emphasis>vite</emphasis>'
        "</Say></Response>"
    )

    assert isinstance(verb, Say)
    assert "Bonjour" in verb.text
    assert "vite" in verb.text


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("", "empty document"),
        ("<Response><Say>oops</Response>", "parse failure"),
        ("<Reply><Say>hi</Say></Reply>", "expected <Response>"),
        ("<Response><Speak>hi</Speak></Response>", "not a TwiML voice verb"),
        ("<Response><Say volume='3'>hi</Say></Response>", "unknown attribute volume"),
        ("<Response><Say></Say></Response>", "no text"),
        ("<Response><Gather><Dial>1</Dial></Gather></Response>", "cannot contain"),
        ("<Response><Gather input='keys'/></Response>", "use dtmf, speech"),
        ("<Response><Gather numDigits='x'/></Response>", "expected an integer"),
        ("<Response><Gather actionOnEmptyResult='yes'/></Response>", "true or false"),
        ("<Response><Gather method='PUT'/></Response>", "GET or POST"),
        ("<Response><Redirect/></Response>", "no URL"),
        ("<Response><Enqueue/></Response>", "no queue name"),
        ("<Response><Enqueue><Task>{}</Task>q</Enqueue></Response>", "TaskRouter"),
        ("<Response><Dial/></Response>", "nothing to dial"),
        ("<Response><Dial><Conference/></Dial></Response>", "no name"),
        (
            "<Response><Dial><Conference>a</Conference><Number>1</Number></Dial>"
            "</Response>",
            "only that",
        ),
        (
            "<Response><Dial><Conference beep='loud'>a</Conference></Dial></Response>",
            "onEnter",
        ),
        (
            "<Response><Dial><Conference statusCallbackEvent='join'>a</Conference>"
            "</Dial></Response>",
            "without statusCallback",
        ),
        ("<Response><Dial><Sip>sip:a@b</Sip></Dial></Response>", "not simulated"),
        ("<Response><Record transcribe='true'/></Response>", "not simulated"),
        ("<Response><Record trim='some'/></Response>", "do-not-trim"),
        ("<Response><Record finishOnKey='a'/></Response>", "only 0-9"),
        (
            "<Response><Enqueue waitUrl='/w'>q</Enqueue><Record><Say>x</Say></Record>"
            "</Response>",
            "cannot contain",
        ),
        ("<Response><Hangup>now</Hangup></Response>", "cannot contain text"),
        ("<Response><Reject reason='nope'/></Response>", "rejected or busy"),
        ("<Response>hello<Hangup/></Response>", "cannot contain text"),
        ("<Response><Pause length='-1'/></Response>", "expected >= 0"),
    ],
)
def test_documents_twilio_would_reject_raise_with_the_reason(
    document: str, reason: str
) -> None:
    with pytest.raises(TwimlError, match=reason):
        parse_twiml(document)


def test_a_voicemail_record_built_with_voice_response_parses_with_defaults() -> None:
    response = vr.VoiceResponse()
    response.record(
        action="/voicemail/done",
        max_length=120,
        finish_on_key="#",
        recording_status_callback="/voicemail/status",
        recording_status_callback_event="completed absent",
    )
    response.record()

    first, second = parse_twiml(str(response))

    assert first == twiml.Record(
        action="/voicemail/done",
        max_length=120.0,
        finish_on_key="#",
        recording_status_callback="/voicemail/status",
        recording_status_callback_event=frozenset({"completed", "absent"}),
    )
    assert second == twiml.Record()
    assert second.timeout == 5.0
    assert second.finish_on_key == "1234567890*#"
    assert second.max_length == 3600.0
    assert second.play_beep is True
    assert second.trim == "trim-silence"
    assert second.recording_status_callback_event == frozenset({"completed"})
