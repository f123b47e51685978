"""An interactive caller's inbox takes only what the call is listening for."""

from __future__ import annotations

import threading

from simulator.audio import mp3_bytes, wav_bytes
from simulator.inbox import CallerInbox, Listening
from simulator.scripts import Digits, Speech

MENU = Listening("gather", frozenset({"dtmf"}), num_digits=1)


def test_keys_pressed_while_nothing_listens_are_refused() -> None:
    inbox = CallerInbox()

    assert inbox.press("2") is False
    assert inbox.has_input() is False


def test_keys_given_to_a_listening_gather_wake_the_call() -> None:
    inbox = CallerInbox()
    wake = threading.Event()
    inbox.attach(wake)
    inbox.open(MENU, prompting=True)

    assert inbox.prompting is True
    assert inbox.press("2") is True
    assert wake.is_set()
    assert inbox.take() == Digits("2")
    assert inbox.take() is None


def test_speech_is_refused_by_a_keypad_only_gather() -> None:
    inbox = CallerInbox()
    inbox.open(MENU)

    assert inbox.say("mon imprimante") is False
    inbox.open(Listening("gather", frozenset({"dtmf", "speech"})))
    assert inbox.say("mon imprimante", 0.8) is True
    assert inbox.take() == Speech("mon imprimante", 0.8)


def test_closing_the_inbox_drops_inputs_not_taken() -> None:
    inbox = CallerInbox()
    inbox.open(MENU)
    inbox.press("1")

    inbox.close()

    assert inbox.listening is None
    assert inbox.has_input() is False
    assert inbox.prompting is False


def test_recording_media_has_the_recording_length() -> None:
    wav = wav_bytes(2.5)
    assert wav[:4] == b"RIFF"
    assert len(wav) == 44 + 20000 * 2
    assert len(wav_bytes(3600)) == 44 + 60 * 8000 * 2  # capped
    mp3 = mp3_bytes(1.0)
    assert mp3[:4] == b"\xff\xfb\x90\xc0"
    assert len(mp3) % 417 == 0
    assert len(mp3) // 417 == 39  # 1152 samples at 44.1 kHz per frame
    assert len(mp3_bytes(0)) == 417
