"""The baseline of `bench/webhooks.py`: a bare Flask app that answers fixed TwiML.

One POST route at the path of the measured IVR step (`/voice/menu`), so the
very same requests go to both servers, answering a small fixed `<Gather>`
document: no signature check, no Redis, no configuration, no TwiML built per
request. What is left is Flask and gunicorn themselves, run with the same
gunicorn settings as the hotline (the Procfile's `web` line):

    gunicorn ... "bench.bare_app:create_app()"

`GET /healthz` says it is up, like the hotline's.
"""

from __future__ import annotations

from flask import Flask, Response

#: What it answers to every POST: a menu step as the hotline would answer it,
#: short.
TWIML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response>'
    b'<Gather action="https://hotline.invalid/voice/menu?node=menu_imprimante'
    b'&amp;attempt=1&amp;lang=fr-FR" input="dtmf speech" language="fr-FR" '
    b'numDigits="1" timeout="5"><Say language="fr-FR">Imprimante qui '
    b"n'imprime plus, tapez 1. Scanner, tapez 2.</Say></Gather></Response>"
)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/voice/menu")
    def menu() -> Response:
        return Response(TWIML, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b"ok", mimetype="text/plain")

    return app
