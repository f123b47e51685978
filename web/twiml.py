"""TwiML the caller and the hotliner hear, built with Twilio's `VoiceResponse`.

Pure functions named for what the person on the line experiences; views pass
in absolute URLs and texts, tests parse the XML.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ivr.config import MenuNode

#: Seconds of silence before a menu counts as "no input".
GATHER_TIMEOUT = 6


def menu(
    node: MenuNode,
    lang: str,
    action_url: str,
    *,
    preamble: str = "",
    use_help: bool = False,
    hints: str = "",
) -> VoiceResponse:
    """Ask a menu question; keys and speech both answer it (`hints`: the
    words speech recognition should expect, `ivr.hints`)."""
    response = VoiceResponse()
    gather = _listen(action_url, lang, hints)
    if preamble:
        gather.say(preamble, language=lang)
    gather.say(
        node.help[lang] if use_help else node.prompt[lang],
        language=lang,
    )
    response.append(gather)
    return response


def _listen(action_url: str, lang: str, hints: str) -> Gather:
    """One key or a few words, always answered to `action_url` (even silence).

    '#' is a key like the others (the menus' "back"), not Twilio's default
    end-of-input key.
    """
    return Gather(
        input="dtmf speech",
        num_digits=1,
        timeout=GATHER_TIMEOUT,
        speech_timeout="auto",
        action=action_url,
        method="POST",
        language=lang,
        hints=hints or None,
        action_on_empty_result=True,
        finish_on_key="",
    )


def join_queue(
    queue_name: str, announce: str, lang: str, wait_url: str, action_url: str
) -> VoiceResponse:
    """Tell the caller they are being put through, then hold them in Twilio's queue."""
    response = VoiceResponse()
    if announce:
        response.say(announce, language=lang)
    response.enqueue(
        queue_name,
        wait_url=wait_url,
        wait_url_method="POST",
        action=action_url,
        method="POST",
    )
    return response


def hold(
    announcement: str,
    lang: str,
    music_url: str,
    *,
    key_url: str,
    music_loops: int = 1,
    again_url: str | None = None,
) -> VoiceResponse:
    """What a waiting caller hears between two announcements (a waitUrl document).

    The whole document listens for a key (the callback request); Twilio asks
    for the waitUrl again when it ends, which repeats the announcement. A
    caller held outside Twilio's queue is sent to `again_url` instead.
    """
    response = VoiceResponse()
    gather = Gather(
        input="dtmf", num_digits=1, timeout=1, action=key_url, method="POST"
    )
    if announcement:
        gather.say(announcement, language=lang)
    gather.play(music_url, loop=max(1, music_loops))
    response.append(gather)
    if again_url is not None:
        response.redirect(again_url, method="POST")
    return response


def transfer_hold(text: str, lang: str, music_url: str) -> VoiceResponse:
    """A caller on hold while their hotliner briefs a specialist (a HoldUrl
    document: `<Say>` and `<Play>` only): told once, then music until taken
    back."""
    response = VoiceResponse()
    response.say(text, language=lang)
    response.play(music_url, loop=0)
    return response


def keep_waiting(text: str, lang: str, wait_url: str) -> VoiceResponse:
    """Back to the queue's hold loop (inside a waitUrl, after a key press)."""
    response = VoiceResponse()
    if text:
        response.say(text, language=lang)
    response.redirect(wait_url, method="POST")
    return response


def whisper_and_join(whisper: str, conference: str, lang: str) -> VoiceResponse:
    """The hotliner hears who is calling and why, then joins the caller's conference."""
    response = VoiceResponse()
    if whisper:
        response.say(whisper, language=lang)
    response.append(_conference(Dial(), conference))
    return response


def connect_to_hotliner(
    conference: str, after_url: str, *, intro: str = "", lang: str = "fr-FR"
) -> VoiceResponse:
    """Put the caller into the conference where their hotliner waits."""
    response = VoiceResponse()
    if intro:
        response.say(intro, language=lang)
    response.append(_conference(Dial(action=after_url, method="POST"), conference))
    return response


def join_briefing(conference: str) -> VoiceResponse:
    """A specialist rung for a warm transfer joins the hotliner (the caller is
    on hold). Their leaving does not end the call: they may decline it, and
    once they take it the hotline makes their leaving end it."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=False,
    )
    response.append(dial)
    return response


def _conference(dial: Dial, conference: str) -> Dial:
    """`dial` into the caller's conference; either side leaving ends it, so
    nobody is left alone on the line."""
    dial.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
    )
    return dial


def offer_gone(lang: str, text: str) -> VoiceResponse:
    """The hotliner answered too late: the caller is no longer there for them."""
    response = VoiceResponse()
    response.say(text, language=lang)
    response.hangup()
    return response


def goodbye(text: str, lang: str) -> VoiceResponse:
    response = VoiceResponse()
    if text:
        response.say(text, language=lang)
    response.hangup()
    return response


def empty() -> VoiceResponse:
    """Nothing more to do (status callbacks, Enqueue actions after a redirect)."""
    return VoiceResponse()


def apology(lang: str) -> VoiceResponse:
    """What a caller hears when something on our side failed: never dead air."""
    text = {
        "fr-FR": "Nous sommes désolés, un incident technique nous empêche de "
        "prendre votre appel. Merci de rappeler dans quelques minutes.",
        "en-US": "We are sorry, a technical problem prevents us from taking your "
        "call. Please call again in a few minutes.",
    }.get(lang, "Nous sommes désolés, merci de rappeler dans quelques minutes.")
    return goodbye(text, lang)


def choose_callback_or_message(
    notice: str, question: str, lang: str, action_url: str
) -> VoiceResponse:
    """Nobody can take the call now (or soon): callback (1) or message (2)."""
    response = VoiceResponse()
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=GATHER_TIMEOUT,
        action=action_url,
        method="POST",
        action_on_empty_result=True,
    )
    gather.say(f"{notice} {question}".strip(), language=lang)
    response.append(gather)
    return response


def record_message(prompt: str, lang: str, action_url: str) -> VoiceResponse:
    """Voicemail: a beep, up to two minutes, '#' or hanging up ends it."""
    response = VoiceResponse()
    response.say(prompt, language=lang)
    response.record(
        action=action_url,
        method="POST",
        max_length=120,
        timeout=5,
        finish_on_key="#",
        play_beep=True,
    )
    return response


def question(
    preamble: str,
    text: str,
    lang: str,
    action_url: str,
    *,
    hints: str = "oui, non, yes, no",
) -> VoiceResponse:
    """A yes/no or short question answered by a key or a word."""
    response = VoiceResponse()
    gather = _listen(action_url, lang, hints)
    gather.say(f"{preamble} {text}".strip(), language=lang)
    response.append(gather)
    return response
