"""The URL contract: every path named in `queues.webhooks` is a signed POST
route of the app, every voice route is named there, and none answers 5xx."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import SignedPost, call_form, spoken, twiml, verbs

from queues import webhooks


def test_every_webhook_path_is_a_post_route_and_every_voice_route_is_named(
    app: Flask,
) -> None:
    methods = {rule.rule: rule.methods or set() for rule in app.url_map.iter_rules()}
    for path in webhooks.ALL:
        assert path in methods, f"{path} is not a route of the app"
        assert "POST" in methods[path], f"{path} does not take POST"
    assert {rule for rule in methods if rule.startswith("/voice/")} == set(webhooks.ALL)


@pytest.mark.parametrize("path", webhooks.ALL)
def test_every_webhook_refuses_an_unsigned_request(
    client: FlaskClient, path: str
) -> None:
    assert client.post(path, data=call_form("CAforged")).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        webhooks.menu("accueil", 1, "fr-FR", 1),  # the menu
        webhooks.message_left("fr-FR"),  # waiting and its ways out
        webhooks.caller_after("CAbroken", "fr-FR"),  # the legs
        webhooks.callback_answer("CAbroken"),  # our call back
    ],
)
def test_a_failure_on_our_side_is_an_apology_never_a_5xx(
    app: Flask, signed_post: SignedPost, path: str
) -> None:
    rt = app.extensions["hotline"].runtime
    # A call record Redis cannot read as one: every script on it fails.
    rt.redis.set(rt.keys.call("CAbroken"), "not a hash")
    response = signed_post(path, call_form("CAbroken", Digits="4"))
    assert response.status_code == 200
    root = twiml(response.data)
    assert verbs(root) == ["Say", "Hangup"]
    assert "incident technique" in spoken(root)
