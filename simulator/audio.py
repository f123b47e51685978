"""Audio files for simulated recordings: nobody really spoke, but links must play.

The app may link a voicemail's `RecordingUrl` in its console, so the media the
Recordings API serves is real audio of the recording's length: a soft murmur
(a low tone pulsing at a speaking rhythm) as 8 kHz mono WAV, Twilio's default
format, and silent MPEG frames for `.mp3`. Pure functions, no I/O.
"""

from __future__ import annotations

import io
import math
import struct
import wave

SAMPLE_RATE = 8000
MAX_MEDIA_SECONDS = 60.0  # longer recordings get a truncated file


def wav_bytes(seconds: float) -> bytes:
    """A 16-bit mono WAV of `seconds` (at most MAX_MEDIA_SECONDS)."""
    frames = int(SAMPLE_RATE * min(max(seconds, 0.0), MAX_MEDIA_SECONDS))
    whole, rest = divmod(frames, SAMPLE_RATE)
    samples = _MURMUR * whole + _MURMUR[: rest * 2]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples)
    return buffer.getvalue()


def _murmur_second() -> bytes:
    """One second of the murmur; both frequencies are whole, so it loops cleanly."""
    samples = bytearray()
    for n in range(SAMPLE_RATE):
        t = n / SAMPLE_RATE
        syllables = 0.5 + 0.5 * math.sin(2 * math.pi * 3.0 * t)  # ~3 syllables/s
        value = 0.15 * syllables * math.sin(2 * math.pi * 180.0 * t)
        samples += struct.pack("<h", int(value * 32767))
    return bytes(samples)


_MURMUR = _murmur_second()


# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono, no CRC: 417-byte frames of
# 1152 samples. Zeroed side information and main data decode as silence.
_MP3_HEADER = bytes([0xFF, 0xFB, 0x90, 0xC0])
_MP3_FRAME = _MP3_HEADER + bytes(417 - len(_MP3_HEADER))
_MP3_FRAME_SECONDS = 1152 / 44100


def mp3_bytes(seconds: float) -> bytes:
    """Silent MP3 of about `seconds` (at most MAX_MEDIA_SECONDS), at least a frame."""
    length = min(max(seconds, 0.0), MAX_MEDIA_SECONDS)
    return _MP3_FRAME * max(1, math.ceil(length / _MP3_FRAME_SECONDS))
