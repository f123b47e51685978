"""The Twilio REST client, pointed at Twilio or at the carrier simulator.

`TWILIO_API_BASE_URL` replaces scheme and host of every request the official
client makes, so the same code talks to api.twilio.com in production and to
the simulator in demos and tests (rewriting in the HTTP client is robust to
the `TWILIO_EDGE`/`TWILIO_REGION` host rewriting that `client.api.base_url`
suffers from).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from core.settings import Settings
from core.telephony import REST_TIMEOUT_SECONDS


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends every Twilio API request to `base_url` instead of twilio.com."""

    def __init__(self, base_url: str, timeout: float = REST_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url)
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        rewritten = urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, "")
        )
        return super().request(method, rewritten, *args, **kwargs)


def build_twilio_client(settings: Settings) -> Client:
    """A REST client for the configured account and API base URL.

    Twilio's own HTTP client has no timeout unless given one: every request
    gets `REST_TIMEOUT_SECONDS`, whichever host it goes to.
    """
    http_client: TwilioHttpClient
    if settings.twilio_api_base_url != "https://api.twilio.com":
        http_client = BaseUrlHttpClient(settings.twilio_api_base_url)
    else:
        http_client = TwilioHttpClient(timeout=REST_TIMEOUT_SECONDS)
    return Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=http_client,
    )
