"""A simulated hotliner's use of the hotline's agent console API (not Twilio).

The simulated hotliner goes through the same HTTP API as the browser console,
so benchmarks and end-to-end tests exercise availability and wrap-up the way
people do.
"""

from __future__ import annotations

from typing import Any

import requests

from simulator.errors import SimulatorError

_TIMEOUT = 10.0


class AgentConsoleClient:
    """Calls `{app_base_url}/api/...` on behalf of simulated hotliners."""

    def __init__(
        self, app_base_url: str, *, token: str | None = None, timeout: float = _TIMEOUT
    ) -> None:
        self.app_base_url = app_base_url.rstrip("/")
        self.timeout = timeout
        # The app's API needs an account: an API token, as a script sends it.
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def set_state(self, agent_id: str, state: str) -> dict[str, Any]:
        return self._request(
            "POST", f"/api/agents/{agent_id}/state", json={"state": state}
        )

    def agent(self, agent_id: str) -> dict[str, Any]:
        """The app's view of a hotliner: state, current call."""
        return self._request("GET", f"/api/agents/{agent_id}")

    def current_call(self, agent_id: str) -> str | None:
        """The CallSid the app thinks this hotliner is handling, if any."""
        call_sid = self.agent(agent_id).get("call_sid")
        return call_sid if isinstance(call_sid, str) and call_sid else None

    def post_outcome(
        self, agent_id: str, call_sid: str, outcome: str, notes: str = ""
    ) -> dict[str, Any]:
        return self._request(
            "POST",
            f"/api/calls/{call_sid}/outcome",
            json={"agent_id": agent_id, "outcome": outcome, "notes": notes},
        )

    def _request(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = self.app_base_url + path
        try:
            response = requests.request(
                method, url, json=json, headers=self.headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise SimulatorError(f"agent console {method} {url}: {exc}") from exc
        with response:
            if not 200 <= response.status_code < 300:
                raise SimulatorError(
                    f"agent console {method} {url}: HTTP {response.status_code} "
                    f"{response.text[:200]!r}"
                )
            if not response.content:
                return {}
            try:
                body = response.json()
            except ValueError as exc:
                raise SimulatorError(
                    f"agent console {method} {url}: answer is not JSON"
                ) from exc
        return body if isinstance(body, dict) else {"value": body}
