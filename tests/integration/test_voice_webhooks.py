"""Voice webhooks over Flask's test client, with real Redis and SQL."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from flask import Flask
from flask.testing import FlaskClient
from support import (
    PUBLIC,
    SignedPost,
    call_form,
    caller_number,
    sign,
    spoken,
    twiml,
    verbs,
)

from agents.lifecycle import AgentState
from calllog.writer import drain_events


def test_forged_signature_gets_403_and_changes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    form = call_form("CAforged")
    wrong = sign("/voice/incoming", {**form, "From": "+33699999999"})
    response = client.post(
        "/voice/incoming", data=form, headers={"X-Twilio-Signature": wrong}
    )
    assert response.status_code == 403
    assert app.extensions["hotline"].runtime.store.call("CAforged") == {}


def test_missing_signature_gets_403(app: Flask, client: FlaskClient) -> None:
    response = client.post("/voice/incoming", data=call_form("CAnosig"))
    assert response.status_code == 403
    assert app.extensions["hotline"].runtime.store.call("CAnosig") == {}


def test_signature_for_another_host_is_refused(client: FlaskClient) -> None:
    form = call_form("CAhost")
    other = sign("/voice/incoming", form, base="https://evil.test")
    response = client.post(
        "/voice/incoming", data=form, headers={"X-Twilio-Signature": other}
    )
    assert response.status_code == 403


def test_incoming_call_is_greeted_with_the_menu(
    app: Flask, signed_post: SignedPost
) -> None:
    response = signed_post("/voice/incoming", call_form("CA1"))
    assert response.status_code == 200
    root = twiml(response.data)
    assert verbs(root) == ["Gather"]
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "fr-FR"
    assert gather.get("action", "").startswith(f"{PUBLIC}/voice/menu?node=accueil")
    assert "Bienvenue" in spoken(root)
    assert app.extensions["hotline"].runtime.store.call("CA1")["state"] == "ivr"


def test_unknown_keypress_gets_the_menu_again_with_help(
    signed_post: SignedPost,
) -> None:
    signed_post("/voice/incoming", call_form("CA2"))
    path = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"
    root = twiml(signed_post(path, call_form("CA2", Digits="7")).data)
    assert verbs(root) == ["Gather"]
    text = spoken(root)
    assert "pas compris" in text
    assert "Tapez un chiffre de 1 à 6" in text
    gather = root.find("Gather")
    assert gather is not None
    assert "attempt=2" in gather.get("action", "")


def test_silence_repeats_the_menu_then_third_failure_goes_to_general_queue(
    app: Flask, signed_post: SignedPost
) -> None:
    signed_post("/voice/incoming", call_form("CA3"))
    root = twiml(
        signed_post(
            "/voice/menu?node=accueil&attempt=1&lang=fr-FR", call_form("CA3")
        ).data
    )
    assert "rien entendu" in spoken(root)
    root = twiml(
        signed_post(
            "/voice/menu?node=accueil&attempt=3&lang=fr-FR",
            call_form("CA3", Digits="0"),
        ).data
    )
    assert verbs(root) == ["Say", "Enqueue"]
    enqueue = root.find("Enqueue")
    assert enqueue is not None
    assert enqueue.text == "general"
    store = app.extensions["hotline"].runtime.store
    assert store.call("CA3")["state"] == "queued"
    assert store.waiting("general") == ["CA3"]


def test_key_choice_enqueues_the_caller_in_that_skill_queue(
    app: Flask, signed_post: SignedPost
) -> None:
    signed_post("/voice/incoming", call_form("CA4"))
    root = twiml(
        signed_post(
            "/voice/menu?node=accueil&attempt=1&lang=fr-FR",
            call_form("CA4", Digits="2"),
        ).data
    )
    gather = root.find("Gather")
    assert gather is not None
    assert "node=menu_imprimante" in gather.get("action", "")
    assert "Bourrage" in spoken(root)
    root = twiml(
        signed_post(
            "/voice/menu?node=menu_imprimante&attempt=1&lang=fr-FR",
            call_form("CA4", Digits="4"),
        ).data
    )
    enqueue = root.find("Enqueue")
    assert enqueue is not None
    assert enqueue.text == "printer"
    assert enqueue.get("waitUrl", "").startswith(f"{PUBLIC}/voice/wait?queue=printer")
    store = app.extensions["hotline"].runtime.store
    assert store.call("CA4")["ivr_choice"] == "file_imprimante"
    assert store.waiting("printer") == ["CA4"]


def test_spoken_known_fault_goes_straight_to_its_self_help(
    app: Flask, signed_post: SignedPost
) -> None:
    signed_post("/voice/incoming", call_form("CA5"))
    root = twiml(
        signed_post(
            "/voice/menu?node=accueil&attempt=1&lang=fr-FR",
            call_form(
                "CA5", SpeechResult="mon imprimante est hors ligne", Confidence="0.9"
            ),
        ).data
    )
    gather = root.find("Gather")
    assert gather is not None
    assert "/voice/selfhelp?node=aide_imprimante_hors_ligne&step=0" in gather.get(
        "action", ""
    )
    assert "tapez 1" in spoken(root)
    store = app.extensions["hotline"].runtime.store
    assert store.call("CA5")["kb_fault"] == "printer-offline"


def test_self_help_reached_by_keypad_notes_its_fault_and_each_step_tried(
    app: Flask, signed_post: SignedPost
) -> None:
    """What deflection per known fault counts (docs/METRICS.md): the fault
    whose steps the caller heard, and how many they tried."""
    store = app.extensions["hotline"].runtime.store
    signed_post("/voice/incoming", call_form("CA5k"))
    signed_post(
        "/voice/menu?node=accueil&attempt=1&lang=fr-FR", call_form("CA5k", Digits="2")
    )
    signed_post(
        "/voice/menu?node=menu_imprimante&attempt=1&lang=fr-FR",
        call_form("CA5k", Digits="1"),
    )
    call = store.call("CA5k")
    assert (call["kb_fault"], call["selfhelp_tried"]) == (
        "printer-offline",
        "printer-offline:0",
    )
    step = "/voice/selfhelp?node=aide_imprimante_hors_ligne&attempt=1&lang=fr-FR"
    signed_post(f"{step}&step=0", call_form("CA5k", Digits="2"))  # not fixed
    assert store.call("CA5k")["selfhelp_tried"] == "printer-offline:1"
    root = twiml(signed_post(f"{step}&step=1", call_form("CA5k", Digits="1")).data)
    assert root.find("Hangup") is not None  # fixed by the second step
    call = store.call("CA5k")
    assert (call["state"], call["selfhelp_tried"]) == (
        "self_served",
        "printer-offline:1",
    )


def test_language_switch_replays_the_menu_in_english(signed_post: SignedPost) -> None:
    signed_post("/voice/incoming", call_form("CA6"))
    root = twiml(
        signed_post(
            "/voice/menu?node=accueil&attempt=1&lang=fr-FR",
            call_form("CA6", Digits="9"),
        ).data
    )
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("language") == "en-US"
    assert "lang=en-US" in gather.get("action", "")
    assert "press 1" in spoken(root)


def test_wait_announces_the_callers_position(signed_post: SignedPost) -> None:
    for sid in ("CA7", "CA8"):
        signed_post("/voice/incoming", call_form(sid))
        signed_post(
            "/voice/menu?node=menu_reseau&attempt=1&lang=fr-FR",
            call_form(sid, Digits="4"),
        )
    root = twiml(
        signed_post(
            "/voice/wait?queue=network&lang=fr-FR", call_form("CA8", QueuePosition="2")
        ).data
    )
    assert verbs(root) == ["Gather"]
    gather = root.find("Gather")
    assert gather is not None
    assert [child.tag for child in gather] == ["Say", "Play"]
    assert gather.get("action", "").startswith(f"{PUBLIC}/voice/wait-key?queue=network")
    assert "2e correspondant" in spoken(root)
    assert "rappelé sans perdre votre place, tapez 1" in spoken(root)


def test_callback_key_keeps_the_place_and_the_hang_up_is_no_abandon(
    app: Flask, signed_post: SignedPost
) -> None:
    for sid in ("CA10", "CA11"):
        signed_post("/voice/incoming", call_form(sid))
        signed_post(
            "/voice/menu?node=menu_compte&attempt=1&lang=fr-FR",
            call_form(sid, Digits="3"),
        )
    root = twiml(
        signed_post(
            "/voice/wait-key?queue=account&lang=fr-FR", call_form("CA10", Digits="1")
        ).data
    )
    assert verbs(root) == ["Say", "Hangup"]
    assert "nous vous rappellerons" in spoken(root)
    signed_post("/voice/status", call_form("CA10", CallStatus="completed"))
    store = app.extensions["hotline"].runtime.store
    call = store.call("CA10")
    assert (call["state"], call["callback"], call["callback_number"]) == (
        "queued",
        "1",
        caller_number("CA10"),
    )
    assert store.waiting("account") == ["CA10", "CA11"]


def test_other_key_while_waiting_goes_back_to_the_hold_loop(
    signed_post: SignedPost,
) -> None:
    signed_post("/voice/incoming", call_form("CA12"))
    signed_post(
        "/voice/menu?node=menu_compte&attempt=1&lang=fr-FR",
        call_form("CA12", Digits="3"),
    )
    root = twiml(
        signed_post(
            "/voice/wait-key?queue=account&lang=fr-FR", call_form("CA12", Digits="7")
        ).data
    )
    assert verbs(root) == ["Say", "Redirect"]
    redirect = root.find("Redirect")
    assert redirect is not None
    assert (redirect.text or "").startswith(f"{PUBLIC}/voice/wait?queue=account")


def test_caller_hanging_up_in_queue_is_removed_and_abandoned(
    app: Flask, signed_post: SignedPost
) -> None:
    signed_post("/voice/incoming", call_form("CA9"))
    signed_post(
        "/voice/menu?node=accueil&attempt=1&lang=fr-FR", call_form("CA9", Digits="6")
    )
    signed_post(
        "/voice/queue-result?lang=fr-FR",
        call_form("CA9", QueueResult="hangup", CallStatus="completed"),
    )
    response = signed_post("/voice/status", call_form("CA9", CallStatus="completed"))
    assert response.status_code == 200
    store = app.extensions["hotline"].runtime.store
    assert store.call("CA9")["state"] == "abandoned"
    assert store.waiting("hardware") == []


def test_a_caller_twilios_full_queue_refused_is_held_outside_it_in_place(
    app: Flask, signed_post: SignedPost
) -> None:
    """Twilio holds 1,000 callers a queue by default: the 1,001st's
    `<Enqueue>` ends at once with QueueResult=queue-full. Empty TwiML would
    hang them up; they keep their place in our queue and hear the same hold
    loop, asking for itself again, until the router redirects their call."""
    for sid in ("CA30", "CA31"):
        signed_post("/voice/incoming", call_form(sid))
        chosen = signed_post(
            "/voice/menu?node=accueil&attempt=1&lang=fr-FR", call_form(sid, Digits="6")
        )
    enqueue = twiml(chosen.data).find("Enqueue")
    assert enqueue is not None  # the action names the queue
    assert (
        enqueue.get("action")
        == f"{PUBLIC}/voice/queue-result?lang=fr-FR&queue=hardware"
    )
    for result in ("queue-full", "error", "system-error"):
        root = twiml(
            signed_post(
                "/voice/queue-result?lang=fr-FR&queue=hardware",
                call_form("CA31", QueueResult=result, CallStatus="in-progress"),
            ).data
        )
        assert verbs(root) == ["Redirect"], result
        redirect = root.find("Redirect")
        assert redirect is not None
        held = f"{PUBLIC}/voice/wait?queue=hardware&lang=fr-FR&held=1"
        assert redirect.text == held
    store = app.extensions["hotline"].runtime.store
    assert store.waiting("hardware") == ["CA30", "CA31"]  # in place, not dropped
    root = twiml(
        signed_post(
            "/voice/wait?queue=hardware&lang=fr-FR&held=1", call_form("CA31")
        ).data
    )
    assert verbs(root) == ["Gather", "Redirect"]  # the loop Twilio's queue made
    assert "2e correspondant" in spoken(root)
    gather, again = root.find("Gather"), root.find("Redirect")
    assert gather is not None
    assert again is not None
    assert again.text == held
    assert gather.get("action") == (
        f"{PUBLIC}/voice/wait-key?queue=hardware&lang=fr-FR&held=1"
    )
    root = twiml(  # a wrong key: back to the same loop, outside the queue
        signed_post(
            "/voice/wait-key?queue=hardware&lang=fr-FR&held=1",
            call_form("CA31", Digits="7"),
        ).data
    )
    redirect = root.find("Redirect")
    assert redirect is not None
    assert redirect.text == held
    # In Twilio's queue, the waitUrl document is not asked to loop itself.
    inside = twiml(
        signed_post("/voice/wait?queue=hardware&lang=fr-FR", call_form("CA30")).data
    )
    assert verbs(inside) == ["Gather"]


def test_status_callback_for_an_unknown_call_is_a_harmless_no_op(
    signed_post: SignedPost,
) -> None:
    response = signed_post(
        "/voice/status", call_form("CAunknown", CallStatus="completed")
    )
    assert response.status_code == 200
    assert verbs(twiml(response.data)) == []


def test_late_answer_by_a_hotliner_hears_the_offer_is_gone(
    signed_post: SignedPost,
) -> None:
    response = signed_post(
        "/voice/agent/answer?offer=nosuchoffer",
        call_form("CAleg", Direction="outbound-api"),
    )
    root = twiml(response.data)
    assert verbs(root) == ["Say", "Hangup"]


def test_queue_nobody_serves_offers_callback_or_message_at_once(
    app: Flask, signed_post: SignedPost
) -> None:
    rt = app.extensions["hotline"].runtime
    ok, _ = rt.store.agents.set_state("nina", AgentState.OFFLINE, [])
    assert ok
    signed_post("/voice/incoming", call_form("CA20"))
    root = twiml(
        signed_post(
            "/voice/menu?node=menu_imprimante&attempt=1&lang=fr-FR",
            call_form("CA20", Digits="4"),
        ).data
    )
    assert verbs(root) == ["Gather"]
    assert "Aucun technicien imprimantes" in spoken(root)
    assert rt.store.call("CA20")["state"] == "ivr"
    choose = root.find("Gather")
    assert choose is not None
    path = choose.get("action", "").removeprefix(PUBLIC)
    root = twiml(signed_post(path, call_form("CA20", Digits="2")).data)
    assert verbs(root) == ["Say", "Record"]
    record = root.find("Record")
    assert record is not None
    done = record.get("action", "").removeprefix(PUBLIC)
    root = twiml(
        signed_post(
            done,
            call_form(
                "CA20",
                RecordingUrl="https://api.twilio.test/RE1",
                RecordingDuration="12",
                Digits="#",
            ),
        ).data
    )
    assert "message est enregistré" in spoken(root)
    assert rt.store.call("CA20")["state"] == "voicemail"


def test_unstaffed_queue_callback_choice_queues_the_caller_for_a_call_back(
    app: Flask, signed_post: SignedPost
) -> None:
    rt = app.extensions["hotline"].runtime
    rt.store.agents.set_state("nina", AgentState.OFFLINE, [])
    signed_post("/voice/incoming", call_form("CA21"))
    signed_post(
        "/voice/menu?node=menu_imprimante&attempt=1&lang=fr-FR",
        call_form("CA21", Digits="4"),
    )
    root = twiml(
        signed_post(
            "/voice/choose?queue=printer&priority=0&lang=fr-FR&why=unstaffed",
            call_form("CA21", Digits="1"),
        ).data
    )
    assert "nous vous rappellerons" in spoken(root)
    call = rt.store.call("CA21")
    assert (call["state"], call["callback"]) == ("queued", "1")


def test_hotliner_cannot_go_available_outside_their_shift(api: FlaskClient) -> None:
    client = api
    response = client.post("/api/agents/dan/state", json={"state": "available"})
    assert response.status_code == 409
    assert response.get_json()["state"] == "off_shift"
    assert client.get("/api/agents/dan").get_json()["state"] == "offline"
    assert (
        client.post("/api/agents/nina/state", json={"state": "break"}).status_code
        == 200
    )


def test_agent_api_refuses_bad_input_clearly(api: FlaskClient) -> None:
    client = api
    assert (
        client.post("/api/agents/ghost/state", json={"state": "available"}).status_code
        == 404
    )
    bad_state = client.post("/api/agents/nina/state", json={"state": "asleep"})
    assert bad_state.status_code == 400
    assert "state must be one of" in bad_state.get_json()["error"]
    assert client.post("/api/agents/nina/state", data="x").status_code == 400
    outcome = client.post(
        "/api/calls/CAx/outcome", json={"agent_id": "nina", "outcome": "magic"}
    )
    assert outcome.status_code == 400
    assert (
        client.post(
            "/api/calls/CAx/outcome", json={"agent_id": "nina", "outcome": "resolved"}
        ).status_code
        == 409
    )


def test_the_old_status_page_leads_to_the_wallboard_which_shows_the_caller(
    app: Flask,
    api: FlaskClient,
    supervisor_session: FlaskClient,
    signed_post: SignedPost,
) -> None:
    client = supervisor_session
    signed_post("/voice/incoming", call_form("CA30"))
    signed_post(
        "/voice/menu?node=menu_compte&attempt=1&lang=fr-FR",
        call_form("CA30", Digits="3"),
    )
    api.post(
        "/api/incident",
        json={"messages": {"fr-FR": "VPN indisponible", "en-US": "VPN down"}},
    )
    old = client.get("/status")
    assert (old.status_code, old.headers["Location"]) == (301, "/supervisor")
    board = client.get("/supervisor/board").get_json()
    assert board["incident"]["text"] == "VPN indisponible"
    account = next(q for q in board["queues"] if q["id"] == "account")
    assert (account["name"], account["waiting"]) == ("mot de passe et compte", 1)
    assert "Nina Nuit-et-Jour" in {h["name"] for h in board["hotliners"]}
    rt = app.extensions["hotline"].runtime
    drain_events(rt.redis, app.extensions["hotline"].engine, rt.keys)
    today = board["day"]
    listed = api.get(f"/api/calls?from={today}&to={today}").get_json()["calls"]
    assert [c["queue"] for c in listed if c["call_sid"] == "CA30"] == ["account"]


def test_an_empty_or_malformed_call_sid_is_refused_and_nothing_stored(
    app: Flask, signed_post: SignedPost
) -> None:
    rt = app.extensions["hotline"].runtime
    for sid in ("", "CA", "XY123", "CA1}x", "CA1:queue:printer", "CA" + "0" * 65):
        response = signed_post("/voice/incoming", call_form(sid))
        assert response.status_code == 400, sid
    response = signed_post("/voice/caller/connect?call=CA1}x", call_form("CAok"))
    assert response.status_code == 400
    assert rt.redis.zcard(rt.keys.active_calls) == 0
    assert rt.redis.xlen(rt.keys.events) == 2  # nina's log-in and break only


def test_a_retried_webhook_logs_one_event(app: Flask, signed_post: SignedPost) -> None:
    """Twilio retries a webhook whose connection failed; it may have run."""
    rt = app.extensions["hotline"].runtime
    for _ in range(3):
        signed_post("/voice/incoming", call_form("CA30"))
    for _ in range(3):
        signed_post(
            "/voice/menu?node=menu_compte&attempt=1&lang=fr-FR",
            call_form("CA30", Digits="3"),
        )
    for _ in range(3):
        root = twiml(
            signed_post(
                "/voice/wait-key?queue=account&lang=fr-FR",
                call_form("CA30", Digits="1"),
            ).data
        )
        assert verbs(root) == ["Say", "Hangup"]
    kinds = [
        fields[b"type"].decode()
        for _, fields in rt.redis.xrange(rt.keys.events)
        if fields.get(b"call") == b"CA30"
        and fields[b"type"] != b"ivr_note"  # the menu answers, for the console
    ]
    assert kinds == ["call_started", "ivr_choice", "enqueued", "callback_requested"]


def _describe(
    signed_post: SignedPost, sid: str, words: str, lang: str = "fr-FR"
) -> ET.Element:
    """A caller's first words at the first menu, and what they hear next."""
    signed_post("/voice/incoming", call_form(sid))
    return twiml(
        signed_post(
            f"/voice/menu?node=accueil&attempt=1&lang={lang}",
            call_form(sid, SpeechResult=words, Confidence="0.8"),
        ).data
    )


def test_words_fitting_two_queues_get_one_question_naming_both(
    app: Flask, signed_post: SignedPost
) -> None:
    root = _describe(signed_post, "CAwhich1", "mon téléphone ne reçoit plus mes mails")
    gather = root.find("Gather")
    assert gather is not None
    action = gather.get("action", "")
    assert action.startswith(f"{PUBLIC}/voice/which?node=accueil&first=")
    said = spoken(root)
    assert "Un smartphone ou une tablette, tapez 1" in said
    assert "La messagerie, tapez 2" in said
    assert "Autre chose, tapez 3" in said
    assert "smartphone" in (gather.get("hints") or "")

    # "La messagerie": the email queue, the fault noted for the hotliner.
    answer = twiml(
        signed_post(
            action.removeprefix(PUBLIC), call_form("CAwhich1", SpeechResult="2")
        ).data
    )
    enqueue = answer.find("Enqueue")
    assert enqueue is not None
    assert enqueue.text == "email"
    store = app.extensions["hotline"].runtime.store
    assert store.call("CAwhich1")["kb_fault"] == "email-not-receiving"


def test_something_else_at_the_one_question_says_the_menu_again(
    app: Flask, signed_post: SignedPost
) -> None:
    root = _describe(signed_post, "CAwhich2", "mon téléphone ne reçoit plus mes mails")
    gather = root.find("Gather")
    assert gather is not None
    again = twiml(
        signed_post(
            gather.get("action", "").removeprefix(PUBLIC),
            call_form("CAwhich2", Digits="3"),
        ).data
    )
    menu = again.find("Gather")
    assert menu is not None
    assert "/voice/menu?node=accueil" in menu.get("action", "")
    assert "tapez 1" in spoken(again)
    assert "kb_fault" not in app.extensions["hotline"].runtime.store.call("CAwhich2")


def test_a_vague_description_of_one_kind_goes_to_its_queue_unasked(
    signed_post: SignedPost,
) -> None:
    root = _describe(signed_post, "CAwhich3", "j'ai un souci avec mon imprimante")
    enqueue = root.find("Enqueue")
    assert enqueue is not None
    assert enqueue.text == "printer"


def test_an_english_description_is_understood_in_english(
    signed_post: SignedPost,
) -> None:
    root = _describe(
        signed_post,
        "CAwhich4",
        "um the vpn keeps dropping when i work from home",
        lang="en-US",
    )
    gather = root.find("Gather")
    assert gather is not None
    assert "/voice/selfhelp?node=aide_vpn&step=0" in gather.get("action", "")


def test_the_first_menu_hints_speech_recognition_with_the_knowledge_base(
    signed_post: SignedPost,
) -> None:
    root = twiml(signed_post("/voice/incoming", call_form("CAhints")).data)
    gather = root.find("Gather")
    assert gather is not None
    hints = (gather.get("hints") or "").split(", ")
    assert hints[:3] == ["logiciel", "installation", "installer"]
    assert {"outlook", "vpn", "mot de passe", "bsod", "2fa"} <= set(hints)
    assert len(hints) <= 120


def test_a_full_queue_turns_a_caller_away_at_once_with_a_callback_offer(
    app: Flask, signed_post: SignedPost
) -> None:
    """Beyond `max_waiting` (Twilio's queues hold 5,000) a caller is not held:
    told at once, offered a callback or a message; a callback holds no line,
    so it takes its place in the queue all the same."""
    services = app.extensions["hotline"]
    path = services.config_dir / "queues.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "  - id: email\n    skill: email\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + "    max_waiting: 2\n"), "utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    services.configs.check()
    rt = services.runtime
    assert rt.routing.queue("email").max_waiting == 2
    answers = []
    for n in range(3):
        sid = f"CAfull{n}"
        signed_post("/voice/incoming", call_form(sid))
        answers.append(
            twiml(
                signed_post(
                    "/voice/menu?node=accueil&attempt=1&lang=fr-FR",
                    call_form(sid, Digits="4"),
                ).data
            )
        )
    assert [a.find("Enqueue") is not None for a in answers] == [True, True, False]
    assert rt.store.waiting("email") == ["CAfull0", "CAfull1"]
    turned_away = answers[2]
    assert "Toutes nos lignes messagerie sont occupées" in spoken(turned_away)
    gather = turned_away.find("Gather")
    assert gather is not None
    choose = gather.get("action", "").removeprefix(PUBLIC)
    assert "why=full" in choose
    goodbye = twiml(
        signed_post(choose, call_form("CAfull2", Digits="1", From="+33612000002")).data
    )
    assert "nous vous rappellerons" in spoken(goodbye)
    assert rt.store.waiting("email") == ["CAfull0", "CAfull1", "CAfull2"]
    assert rt.store.call("CAfull2")["callback"] == "1"
