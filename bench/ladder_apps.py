"""The rungs between `bench.bare_app` and the hotline, for `bench/webhooks.py`.

The signed IVR step is measured against a bare Flask endpoint; these two apps
say where the difference goes, each under the same gunicorn line:

- `framework()`: the hotline's own app (`web:create_app()`: every extension,
  hook and blueprint: sessions, CSRF, the limiter, security headers, the
  webhook timer) whose menu route answers the bare app's fixed TwiML: no
  signature, no form, no live state. What the hotline's Flask costs before
  the step does anything;
- `unwritten()`: the hotline's real step (signature, form, IVR, the menu's
  TwiML) except its one write to live state, the caller's answer kept for
  their hotliner's screen and the call log (`web.voice.menu._note_answer`).

Neither is a way to run the hotline: each exists to be measured beside it.
"""

from __future__ import annotations

from flask import Flask, Response

from bench.bare_app import TWIML
from queues import webhooks
from web import create_app


def _menu_endpoint(app: Flask) -> str:
    """The endpoint of the IVR step's route (`POST /voice/menu`)."""
    for rule in app.url_map.iter_rules():
        if rule.rule == webhooks.MENU and "POST" in (rule.methods or ()):
            return str(rule.endpoint)
    raise LookupError(f"no POST {webhooks.MENU} route")


def framework() -> Flask:
    app = create_app()

    def fixed() -> Response:
        return Response(TWIML, mimetype="text/xml")

    app.view_functions[_menu_endpoint(app)] = fixed
    return app


def unwritten() -> Flask:
    from web.voice import menu

    def not_kept(sid: str, node: str, digits: str | None, speech: str | None) -> None:
        """The answer is not written: what the step costs without it."""

    menu._note_answer = not_kept
    return create_app()
