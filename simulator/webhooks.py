"""Signed webhook requests, sent the way Twilio sends them.

Every request carries the `X-Twilio-Signature` the app must validate, a fresh
`I-Twilio-Idempotency-Token` and Twilio's User-Agent, within Twilio's 15 s
limit. Twilio does not retry a 5xx or a read timeout; it does retry a failed
connection, with the same idempotency token, and so do we (once): a keep-alive
connection the server closed while idle is such a failure, not the app's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from twilio.request_validator import RequestValidator

from simulator.errors import WebhookError

WEBHOOK_TIMEOUT = 15.0
USER_AGENT = "TwilioProxy/1.1"


class WebhookSender:
    """Sends signed requests for one call; owns (and closes) its HTTP session."""

    def __init__(
        self,
        auth_token: str,
        *,
        timeout: float = WEBHOOK_TIMEOUT,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self._validator = RequestValidator(auth_token)
        self._timeout = timeout
        self._session = requests.Session()
        self._observe = observe  # (url, seconds) of every answered request

    def close(self) -> None:
        self._session.close()

    def send(self, url: str, method: str, params: Mapping[str, str]) -> str:
        """The body of a 2xx answer; `WebhookError` for anything else."""
        if method == "GET":
            url = _with_query(url, params)
            signature = self._validator.compute_signature(url, {})
            data: dict[str, str] | None = None
        else:
            data = dict(params)
            signature = self._validator.compute_signature(url, data)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": USER_AGENT,
        }
        started = time.monotonic()
        try:
            try:
                response = self._session.request(
                    method, url, data=data, headers=headers, timeout=self._timeout
                )
            except requests.ConnectionError as exc:
                if isinstance(exc, requests.Timeout):
                    raise
                response = self._session.request(
                    method, url, data=data, headers=headers, timeout=self._timeout
                )
        except requests.Timeout:
            raise WebhookError(
                f"no answer within {self._timeout:g} s (Twilio error 11205)", url=url
            ) from None
        except requests.RequestException as exc:
            raise WebhookError(
                f"HTTP connection failure (Twilio error 11205): {exc}", url=url
            ) from exc
        if self._observe is not None:
            self._observe(url, time.monotonic() - started)
        with response:
            if not 200 <= response.status_code < 300:
                raise WebhookError(
                    f"{method} answered HTTP {response.status_code} "
                    f"(Twilio error 11200): {response.text[:200]!r}",
                    url=url,
                )
            return _body_text(response)


def _body_text(response: requests.Response) -> str:
    """The body as text; without a declared charset XML is UTF-8, not Latin-1.

    (`requests` falls back to ISO-8859-1 for `text/*`, which would turn the
    app's "é" into "Ã©" where Twilio, reading XML, hears "é".)
    """
    if "charset" in response.headers.get("Content-Type", "").lower():
        return response.text
    return response.content.decode("utf-8", errors="replace")


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode(list(params.items()))
    if parts.query:
        query = parts.query + "&" + query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
