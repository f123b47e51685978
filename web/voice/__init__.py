"""Twilio voice webhooks: the caller's and the hotliner's side of every call.

One blueprint per concern, nested in `voice` (`common.py`, which also holds
what they share and the error handler that never answers 5xx):

- `menu`: incoming call, incident notice, returning caller, menus, self-help;
- `waiting`: the hold loop, its callback key, callback or message;
- `legs`: final statuses, the hotliner answering, the caller's conference;
- `callbacks`: our call back to a caller who asked for one.

Every path is named in `queues.webhooks`, which also builds the URLs handed
to Twilio. Each view validates the signature, changes live state through one
atomic store operation (via `LiveState`, journaled if Redis is down), and
answers TwiML within milliseconds; what a decision leaves to do at the
carrier runs after the answer (`web.effects`). Decisions live in `ivr` and
`queues`; views only say what each outcome sounds like.
"""

from __future__ import annotations

from web.voice import callbacks, legs, menu, waiting
from web.voice.common import bp

for _part in (menu, waiting, legs, callbacks):
    bp.register_blueprint(_part.bp)

#: The parent and every nested blueprint (what CSRF protection must exempt:
#: Twilio signs its requests instead).
ALL = (bp, menu.bp, waiting.bp, legs.bp, callbacks.bp)

__all__ = ["ALL", "bp"]
