"""Fixed phrases the hotline says, in each language it speaks.

The tree's own prompts live in `ivr.yaml`; these are the system's sentences
(queue position, transfer notices) that editors do not need to change.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

PHRASES: dict[str, dict[str, str]] = {
    "fr-FR": {
        "position_first": "Vous êtes le prochain correspondant.",
        "position": "Vous êtes le {position}e correspondant en attente.",
        "estimate": "Temps d'attente estimé : environ {minutes} minute{s}.",
        "still_waiting": "Merci de patienter, un technicien va vous répondre.",
        "invalid": "Je n'ai pas compris votre choix.",
        "no_input": "Je n'ai rien entendu.",
        "to_general": "Nous vous mettons en relation avec un technicien.",
        "offer_gone": "L'appelant a raccroché ou a déjà été pris en charge.",
        "goodbye": "Merci de votre appel, au revoir.",
        "hotliner_left": "Votre technicien a été déconnecté. Vous gardez votre "
        "place, un autre technicien va vous répondre.",
        "transferred": "Je vous transfère au service {queue}. Merci de patienter : "
        "vous êtes prioritaire.",
        "transfer_hold": "Je vous mets en relation avec un spécialiste. Merci de "
        "patienter quelques instants.",
        "offer_unavailable": "Incident technique : cet appel ne peut pas vous être "
        "passé maintenant. L'appelant garde sa place.",
        "callback_unavailable": "Le rappel n'est pas disponible pour le moment. "
        "Merci de patienter, vous gardez votre place.",
        "whisper": "Appel {queue}. {choice}",
        "offer_callback": "Pour être rappelé sans perdre votre place, tapez {key}.",
        "callback_confirmed": "C'est noté : nous vous rappellerons au {number} dès "
        "qu'un technicien sera libre. Vous gardez votre place. Au revoir.",
        "callback_intro": "Bonjour, ici la hotline informatique. Vous avez demandé "
        "à être rappelé : nous vous mettons en relation avec un technicien.",
        "callback_whisper": "Rappel d'un appelant, file {queue}. Merci de patienter "
        "pendant que nous le joignons.",
        "callback_gone": "Désolé, ce rappel n'est plus d'actualité. Au revoir.",
        "callback_sms": "Hotline informatique : nous avons essayé de vous rappeler "
        "{attempts} fois sans succès. Rappelez-nous au {hotline}.",
        "incident_question": "Si votre appel concerne ce problème, tapez 1. "
        "Sinon, tapez 2.",
        "incident_thanks": "Merci. Nous vous enverrons un SMS dès que ce sera "
        "rétabli. Au revoir.",
        "incident_sms": "Hotline informatique : l'incident est résolu. Merci de "
        "votre patience.",
        "returning": "Vous nous avez appelé {when} au sujet de : {queue}. S'agit-il "
        "du même problème ? Tapez 1 pour oui, 2 pour non.",
        "today": "aujourd'hui",
        "yesterday": "hier",
        "days_ago": "il y a {n} jours",
        "selfhelp_intro": "Essayons d'abord ensemble quelques vérifications simples.",
        "selfhelp_ask": "Si c'est réglé, tapez 1. Sinon, tapez 2.",
        "selfhelp_resolved": "Parfait, votre problème est réglé. Merci de votre "
        "appel, au revoir.",
        "selfhelp_next": "D'accord, essayons autre chose.",
        "selfhelp_handover": "Ces vérifications n'ont pas suffi : un technicien va "
        "prendre le relais, il saura ce que vous avez déjà essayé.",
        "closed": "La hotline est fermée en ce moment.",
        "nobody_on_duty": "Aucun technicien {queue} n'est disponible pour le moment.",
        "queue_full": "Toutes nos lignes {queue} sont occupées : nous ne pouvons "
        "pas vous faire patienter.",
        "too_long": "Votre attente est plus longue que prévu, nous en sommes désolés.",
        "callback_or_message": "Pour être rappelé dès qu'un technicien sera "
        "disponible, tapez 1. Pour laisser un message, tapez 2.",
        "leave_message": "Laissez votre message après le bip, puis raccrochez ou "
        "tapez dièse.",
        "message_saved": "Votre message est enregistré, un technicien vous "
        "recontactera. Au revoir.",
        "which": "Pour être sûr : {first}, tapez 1. {second}, tapez 2. "
        "Autre chose, tapez 3.",
    },
    "en-US": {
        "position_first": "You are next in line.",
        "position": "You are number {position} in line.",
        "estimate": "Estimated wait: about {minutes} minute{s}.",
        "still_waiting": "Please hold, a technician will answer you shortly.",
        "invalid": "Sorry, I did not understand your choice.",
        "no_input": "Sorry, I did not hear anything.",
        "to_general": "We are putting you through to a technician.",
        "offer_gone": "The caller hung up or was already answered.",
        "goodbye": "Thank you for calling, goodbye.",
        "hotliner_left": "Your technician was disconnected. You keep your "
        "place; another technician will answer you.",
        "transferred": "I am transferring you to {queue}. Please hold: you go to "
        "the front.",
        "transfer_hold": "I am putting you through to a specialist. Please hold "
        "for a moment.",
        "offer_unavailable": "Technical incident: this call cannot be put through "
        "to you now. The caller keeps their place.",
        "callback_unavailable": "Callbacks are not available right now. Please "
        "hold, you keep your place.",
        "whisper": "{queue} call. {choice}",
        "offer_callback": "To be called back without losing your place, press {key}.",
        "callback_confirmed": "Noted: we will call you back on {number} as soon as "
        "a technician is free. You keep your place. Goodbye.",
        "callback_intro": "Hello, this is the IT help desk calling you back: we are "
        "putting you through to a technician.",
        "callback_whisper": "Callback, {queue} queue. Please hold while we reach "
        "the caller.",
        "callback_gone": "Sorry, this callback is no longer needed. Goodbye.",
        "callback_sms": "IT help desk: we tried to call you back {attempts} times "
        "without success. Please call us on {hotline}.",
        "incident_question": "If your call is about this problem, press 1. "
        "Otherwise, press 2.",
        "incident_thanks": "Thank you. We will text you as soon as it is fixed. "
        "Goodbye.",
        "incident_sms": "IT help desk: the incident is resolved. Thank you for your "
        "patience.",
        "returning": "You called us {when} about: {queue}. Is it the same problem? "
        "Press 1 for yes, 2 for no.",
        "today": "today",
        "yesterday": "yesterday",
        "days_ago": "{n} days ago",
        "selfhelp_intro": "Let us first try a few simple checks together.",
        "selfhelp_ask": "If it is fixed, press 1. Otherwise, press 2.",
        "selfhelp_resolved": "Great, your problem is fixed. Thank you for calling, "
        "goodbye.",
        "selfhelp_next": "All right, let us try something else.",
        "selfhelp_handover": "These checks were not enough: a technician will take "
        "over, and will know what you already tried.",
        "closed": "The help desk is closed at the moment.",
        "nobody_on_duty": "No {queue} technician is available at the moment.",
        "queue_full": "All our {queue} lines are busy: we cannot hold your call.",
        "too_long": "Your wait is longer than expected, we are sorry.",
        "callback_or_message": "To be called back as soon as a technician is free, "
        "press 1. To leave a message, press 2.",
        "leave_message": "Please leave your message after the tone, then hang up or "
        "press the pound key.",
        "message_saved": "Your message is saved; a technician will get back to you. "
        "Goodbye.",
        "which": "To be sure: {first}, press 1. {second}, press 2. Something "
        "else, press 3.",
    },
}


#: How the one question between two kinds of problem names each
#: (`ivr.triage`); two faults of one kind are named by their titles.
PROBLEM_NAMES: dict[str, dict[str, str]] = {
    "fr-FR": {
        "software": "Un logiciel ou une mise à jour",
        "licence": "Une licence ou une activation de logiciel",
        "printer": "Une imprimante, un copieur ou un scanner",
        "network": "Internet, le Wi-Fi ou le réseau",
        "remote_access": "Le VPN ou le bureau à distance",
        "files": "Un dossier partagé ou des fichiers",
        "email": "La messagerie",
        "account": "Un mot de passe ou un compte",
        "authentication": "La double authentification",
        "hardware": "L'ordinateur, l'écran ou un accessoire",
        "telephony": "Le téléphone fixe ou la messagerie vocale",
        "mobile": "Un smartphone ou une tablette",
    },
    "en-US": {
        "software": "A program or an update",
        "licence": "A software licence or activation",
        "printer": "A printer, copier or scanner",
        "network": "The internet, Wi-Fi or network",
        "remote_access": "The VPN or remote desktop",
        "files": "A shared folder or files",
        "email": "Email",
        "account": "A password or an account",
        "authentication": "Two-factor sign-in",
        "hardware": "The computer, screen or an accessory",
        "telephony": "The desk phone or voicemail",
        "mobile": "A smartphone or tablet",
    },
}


def problem_name(lang: str, problem_type: str) -> str:
    """What the one question calls a kind of problem (French when unknown)."""
    table = PROBLEM_NAMES.get(lang, PROBLEM_NAMES["fr-FR"])
    return table.get(problem_type, problem_type)


def phrase(lang: str, name: str, **values: object) -> str:
    """One phrase in `lang` (French when the language is unknown)."""
    table = PHRASES.get(lang, PHRASES["fr-FR"])
    return table[name].format(**values)


def position_announcement(lang: str, position: int, minutes: int | None) -> str:
    """'You are number 3 in line. Estimated wait: about 4 minutes.'"""
    if position <= 1:
        text = phrase(lang, "position_first")
    else:
        text = phrase(lang, "position", position=position)
    if minutes is not None and minutes > 0:
        text += " " + phrase(
            lang, "estimate", minutes=minutes, s="s" if minutes > 1 else ""
        )
    return text


def days_ago(lang: str, then: datetime, now: datetime, tz: tzinfo) -> str:
    """'today', 'yesterday' or '3 days ago': calendar days in the hotline's
    time zone, so a call last night at 23:50 was "yesterday" this morning."""
    days = (now.astimezone(tz).date() - then.astimezone(tz).date()).days
    if days <= 0:
        return phrase(lang, "today")
    if days == 1:
        return phrase(lang, "yesterday")
    return phrase(lang, "days_ago", n=days)
