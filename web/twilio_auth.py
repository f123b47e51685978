"""Every voice webhook must prove it comes from Twilio (`X-Twilio-Signature`).

Behind a proxy the URL Twilio signed is the public one, not what Flask sees,
so with `PUBLIC_BASE_URL` set the signature is checked against that base plus
the request's path and query. A missing or wrong signature gets 403 and the
view never runs: a forged request changes nothing.
"""

from __future__ import annotations

import functools
import logging
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


def validate_twilio_request(view: F) -> F:
    """Decorator: 403 unless the request carries a valid Twilio signature."""

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
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
