"""Every voice webhook must prove it comes from Twilio (`X-Twilio-Signature`).

Behind a proxy the URL Twilio signed is the public one, not what Flask sees,
so with `PUBLIC_BASE_URL` set the signature is checked against that base plus
the request's path and query. A missing or wrong signature gets 403 and the
view never runs: a forged request changes nothing.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def signed_url() -> str:
    """The URL Twilio requested, as Twilio saw it."""
    base: str | None = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        path = request.full_path if request.query_string else request.path
        return base.rstrip("/") + path
    return request.url


#: A call's id as the hotline accepts it: "CA" then letters and digits
#: (Twilio's are 32 hex digits). Anything else could not name a live call and,
#: spliced into Redis keys, could reach another key.
CALL_SID = re.compile(r"^CA[0-9A-Za-z]{1,64}$")
#: A call the URL names: Twilio's, or a call back scheduled by a hotliner
#: ("CB", `queues.handoff.schedule_callback`), a call of ours whose legs are
#: Twilio's.
OUR_CALL = re.compile(r"^C[AB][0-9A-Za-z]{1,64}$")


def has_valid_call_sids() -> bool:
    """The form's CallSid, and the `call` the URL names if any, are call ids."""
    if not CALL_SID.match(request.form.get("CallSid", "")):
        return False
    named = request.args.get("call")
    return named is None or bool(OUR_CALL.match(named))


def validate_twilio_request(view: F) -> F:
    """Decorator: 403 unless the request carries a valid Twilio signature;
    then 400 (nothing stored) if it names no well-formed call."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
        if not signature or not validator.validate(
            signed_url(), request.form, signature
        ):
            log.warning(
                "rejected unsigned webhook path=%s call_sid=%s",
                request.path,
                request.form.get("CallSid", "-"),
            )
            abort(403)
        if not has_valid_call_sids():
            log.warning("refused webhook without a valid CallSid path=%s", request.path)
            abort(400, description="CallSid must be CA followed by letters and digits")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
