"""Fixed phrases the hotline says, in each language it speaks.

The tree's own prompts live in `ivr.yaml`; these are the system's sentences
(queue position, transfer notices) that editors do not need to change.
"""

from __future__ import annotations

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
        "nobody_on_duty": "Aucun technicien {queue} n'est disponible pour le moment.",
        "too_long": "Votre attente est plus longue que prévu, nous en sommes "
        "désolés.",
        "callback_or_message": "Pour être rappelé dès qu'un technicien sera "
        "disponible, tapez 1. Pour laisser un message, tapez 2.",
        "leave_message": "Laissez votre message après le bip, puis raccrochez ou "
        "tapez dièse.",
        "message_saved": "Votre message est enregistré, un technicien vous "
        "recontactera. Au revoir.",
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
        "nobody_on_duty": "No {queue} technician is available at the moment.",
        "too_long": "Your wait is longer than expected, we are sorry.",
        "callback_or_message": "To be called back as soon as a technician is free, "
        "press 1. To leave a message, press 2.",
        "leave_message": "Please leave your message after the tone, then hang up or "
        "press the pound key.",
        "message_saved": "Your message is saved; a technician will get back to you. "
        "Goodbye.",
    },
}


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
