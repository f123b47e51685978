"""An edited tree serves new calls at once; calls in progress keep theirs."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from support import PUBLIC, SignedPost, call_form, spoken, twiml


def edit(app: Flask, old: str, new: str) -> None:
    services = app.extensions["hotline"]
    path: Path = services.config_dir / "ivr.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    services.configs.check()  # don't wait for the process's next look


def menu_action(body: bytes) -> str:
    gather = twiml(body).find("Gather")
    assert gather is not None
    return gather.get("action", "").removeprefix(PUBLIC)


def test_edited_tree_applies_to_new_calls_and_never_breaks_a_call_in_progress(
    app: Flask, signed_post: SignedPost
) -> None:
    before = signed_post("/voice/incoming", call_form("CAold"))
    old_action = menu_action(before.data)
    first = app.extensions["hotline"].version
    assert f"v={first}" in old_action

    edit(
        app,
        "Bienvenue à la hotline informatique.",
        "Bienvenue au support informatique.",
    )
    edit(
        app,
        "problem_types: [printer]\n        goto: menu_imprimante",
        "problem_types: [printer]\n        goto: file_imprimante",
    )

    after = signed_post("/voice/incoming", call_form("CAnew"))
    assert "Bienvenue au support informatique." in spoken(twiml(after.data))
    new_action = menu_action(after.data)
    second = app.extensions["hotline"].version
    assert second != first
    assert f"v={second}" in new_action

    # The call that started before the edit still walks the tree it heard.
    old_call = twiml(signed_post(old_action, call_form("CAold", Digits="2")).data)
    assert "Bourrage papier" in spoken(old_call)
    new_call = twiml(signed_post(new_action, call_form("CAnew", Digits="2")).data)
    enqueue = new_call.find("Enqueue")
    assert enqueue is not None
    assert enqueue.text == "printer"


def test_broken_edit_is_refused_and_the_last_good_tree_keeps_serving(
    app: Flask, signed_post: SignedPost
) -> None:
    first = app.extensions["hotline"].version
    edit(app, "start: accueil", "start: accueil\nstart: twice")
    response = signed_post("/voice/incoming", call_form("CAbroken"))
    assert response.status_code == 200
    assert "Bienvenue à la hotline informatique." in spoken(twiml(response.data))
    assert app.extensions["hotline"].version == first
