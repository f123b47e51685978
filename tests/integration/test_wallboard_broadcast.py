"""The wallboard's feed makes each board once for all of a process's viewers."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import redis
from flask import Flask
from support import SignedPost, call_form

from web import wallboard

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
VIEWERS = 20


def _key(cursor: str) -> tuple[int, int]:
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq or 0)


class Viewer(threading.Thread):
    """One wallboard's SSE body, read until a board shows `until` (set later)."""

    def __init__(self, svc: Any) -> None:
        super().__init__(daemon=True)
        self.svc = svc
        self.cursors: list[str] = []
        self.waiting: list[int] = []
        self.until: tuple[int, int] | None = None
        self.first = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        body = wallboard.follow(self.svc, "fr-FR")
        try:
            for chunk in body:
                if not chunk.startswith(b"data: "):
                    continue
                shown = json.loads(chunk[6:])
                self.cursors.append(shown["cursor"])
                self.waiting.append(
                    {q["id"]: q["waiting"] for q in shown["queues"]}["email"]
                )
                self.first.set()
                if self.until is not None and _key(shown["cursor"]) >= self.until:
                    break
        finally:
            body.close()
            self.done.set()


def test_every_viewer_gets_each_change_from_boards_made_once_for_all(
    app: Flask, signed_post: SignedPost, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = app.extensions["hotline"]
    made = []
    board = wallboard.board

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made.append(time.monotonic())
        return board(*args, **kwargs)

    monkeypatch.setattr(wallboard, "board", counted)
    viewers = [Viewer(svc) for _ in range(VIEWERS)]
    for viewer in viewers:
        viewer.start()
    for viewer in viewers:
        assert viewer.first.wait(10.0)
    joined = len(made)
    # Callers join the email queue for 1.5 s, one every 0.1 s.
    for n in range(15):
        signed_post("/voice/incoming", call_form(f"CAbc{n}"))
        signed_post(EMAIL, call_form(f"CAbc{n}", Digits="4"))
        time.sleep(0.1)
    rt = svc.runtime
    newest: Any = rt.redis.xrevrange(rt.keys.events, count=1)
    last = _key(newest[0][0].decode())
    for viewer in viewers:
        viewer.until = last
    for viewer in viewers:
        assert viewer.done.wait(10.0), "a viewer never got the last change"
    during = len(made) - joined
    # 1.5 s of events at one board per 0.5 s (two at once after the quiet
    # spell), one more once they settled, a late one at most: not one per viewer.
    assert during <= 7, f"{during} boards made for {VIEWERS} viewers"
    for viewer in viewers:
        keys = [_key(c) for c in viewer.cursors]
        assert keys == sorted(keys), "a screen went back"
        assert viewer.waiting[-1] == viewer.waiting[0] + 15
        assert len(viewer.cursors) >= 3  # the first board, and the changes paced
    # Nobody follows any more: no more boards are made (within a wait).
    boards = wallboard.broadcast(svc, "fr-FR")
    deadline = time.monotonic() + 2 * wallboard.BLOCK_MS / 1000 + 1.0
    while boards.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not boards.running()
    settled = len(made)
    time.sleep(0.5)
    assert len(made) == settled


class BrokenStream:
    """A stream reader that stops answering once the viewers are there."""

    def __init__(self, real: wallboard.StreamTicker) -> None:
        self.real = real
        self.broken = threading.Event()

    def latest(self, svc: Any) -> tuple[int, Any]:
        return self.real.latest(svc)

    def changed(self, tick: int, timeout: float) -> tuple[int, Any]:
        if self.broken.wait(timeout):
            raise redis.ConnectionError("Connection refused")
        return self.real.changed(tick, 0)


def test_viewers_are_told_to_reconnect_when_the_stream_cannot_be_read(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = app.extensions["hotline"]
    stream = BrokenStream(wallboard.ticker(svc))
    monkeypatch.setattr(wallboard, "ticker", lambda _svc: stream)
    bodies = [wallboard.follow(svc, "fr-FR") for _ in range(3)]
    for body in bodies:
        assert next(body).startswith(b"retry: ")
        assert next(body).startswith(b"data: ")
    ends: list[bytes] = []

    def read(body: Any) -> None:
        ends.extend(body)  # the body ends after telling the screen why

    readers = [threading.Thread(target=read, args=(b,), daemon=True) for b in bodies]
    for reader in readers:
        reader.start()
    stream.broken.set()
    for reader in readers:
        reader.join(5.0)
        assert not reader.is_alive()
    assert ends == [b": live state unreachable, reconnect\n\n"] * 3
    # The next viewer starts the boards again.
    stream.broken.clear()
    again = wallboard.follow(svc, "fr-FR")
    assert next(again).startswith(b"retry: ")
    assert next(again).startswith(b"data: ")
    again.close()
