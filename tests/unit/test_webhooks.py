"""The URLs handed to Twilio, exactly as the views read them back."""

from __future__ import annotations

from urllib.parse import urlsplit

from queues import webhooks


def test_every_webhook_path_is_named_once_under_voice() -> None:
    assert len(set(webhooks.ALL)) == len(webhooks.ALL)
    assert all(path.startswith("/voice/") for path in webhooks.ALL)


def test_the_hotliner_leg_urls_name_the_offer_its_caller_and_hotliner() -> None:
    assert (
        webhooks.agent_answer("0f3a", "CA1")
        == "/voice/agent/answer?offer=0f3a&call=CA1"
    )
    assert (
        webhooks.agent_status("0f3a", "nina")
        == "/voice/agent/status?offer=0f3a&agent=nina"
    )


def test_a_moved_caller_url_carries_their_queue_and_language() -> None:
    assert (
        webhooks.caller_connect("CA1", "email", "fr-FR")
        == "/voice/caller/connect?call=CA1&queue=email&lang=fr-FR"
    )
    assert (
        webhooks.caller_requeue("CA1", "", "")
        == "/voice/caller/requeue?call=CA1&queue=&lang="
    )
    assert webhooks.caller_after("CA1", "en-US") == (
        "/voice/caller/after?call=CA1&lang=en-US"
    )


def test_call_back_and_way_out_urls() -> None:
    assert webhooks.callback_answer("CA1") == "/voice/callback/answer?call=CA1"
    assert webhooks.callback_status("CA1") == "/voice/callback/status?call=CA1"
    assert (
        webhooks.too_long("printer", "fr-FR")
        == "/voice/too-long?queue=printer&lang=fr-FR"
    )


def test_choose_names_the_priority_only_for_callers_not_yet_queued() -> None:
    assert (
        webhooks.choose("printer", "fr-FR", "closed", priority=1)
        == "/voice/choose?queue=printer&priority=1&lang=fr-FR&why=closed"
    )
    assert (
        webhooks.choose("printer", "fr-FR", "too_long")
        == "/voice/choose?queue=printer&lang=fr-FR&why=too_long"
    )


def test_menu_urls_carry_the_tree_version_the_call_started_with() -> None:
    assert (
        webhooks.menu("accueil", 2, "fr-FR", 3)
        == "/voice/menu?node=accueil&attempt=2&lang=fr-FR&v=3"
    )
    assert (
        webhooks.selfhelp("sh_vpn", 1, 1, "en-US", 3)
        == "/voice/selfhelp?node=sh_vpn&step=1&attempt=1&lang=en-US&v=3"
    )
    assert (
        webhooks.incident("fr-FR", "ab12", 3)
        == "/voice/incident?lang=fr-FR&incident=ab12&v=3"
    )
    assert (
        webhooks.returning("fr-FR", "CA0", "email", 3)
        == "/voice/returning?lang=fr-FR&previous=CA0&queue=email&v=3"
    )


def test_hold_loop_urls() -> None:
    assert webhooks.wait("email", "fr-FR") == "/voice/wait?queue=email&lang=fr-FR"
    assert (
        webhooks.wait_key("email", "fr-FR") == "/voice/wait-key?queue=email&lang=fr-FR"
    )
    assert (
        webhooks.queue_result("fr-FR", "email")
        == "/voice/queue-result?lang=fr-FR&queue=email"
    )
    assert (
        webhooks.wait("email", "fr-FR", held=True)
        == "/voice/wait?queue=email&lang=fr-FR&held=1"
    )
    assert (
        webhooks.wait_key("email", "fr-FR", held=True)
        == "/voice/wait-key?queue=email&lang=fr-FR&held=1"
    )
    assert webhooks.message_left("fr-FR") == "/voice/message-left?lang=fr-FR"


def test_every_builder_points_at_a_named_path() -> None:
    built = [
        webhooks.incident("fr-FR", "i", 1),
        webhooks.returning("fr-FR", "CA0", "q", 1),
        webhooks.menu("n", 1, "fr-FR", 1),
        webhooks.selfhelp("n", 0, 1, "fr-FR", 1),
        webhooks.wait("q", "fr-FR"),
        webhooks.wait_key("q", "fr-FR"),
        webhooks.queue_result("fr-FR", "q"),
        webhooks.too_long("q", "fr-FR"),
        webhooks.choose("q", "fr-FR", "closed"),
        webhooks.message_left("fr-FR"),
        webhooks.agent_answer("o", "CA1"),
        webhooks.agent_status("o", "a"),
        webhooks.caller_connect("CA1", "q", "fr-FR"),
        webhooks.caller_after("CA1", "fr-FR"),
        webhooks.caller_requeue("CA1", "q", "fr-FR"),
        webhooks.callback_answer("CA1"),
        webhooks.callback_status("CA1"),
    ]
    assert {urlsplit(url).path for url in built} <= set(webhooks.ALL)
