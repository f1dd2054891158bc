"""The reference device's HTTP client for its channel (daemon.channels.routes): a token asked with
the device's Ed25519 signature or refreshed, pages of events, the ledger's balance.

The standard library's urllib: the device CLI is a short synchronous program outside the reactor,
so a blocking client is right, and the reference app needs nothing beyond what the daemon installs
(`requests` is a test dependency only, the independent client of the e2e tests). The token is a
bearer secret: never printed, never in an exception's text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from daemon.channels.grant import sign_token_request

DEFAULT_CHANNEL_API = "http://127.0.0.1:8790"


class ChannelApiError(Exception):
    """The API did not answer, or refused (one line: the status and the errorCode, no secret)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChannelApi:
    """The channel API at `base` (http://host:port); `send` is the transport (tests replace it)."""

    base: str = DEFAULT_CHANNEL_API
    timeout_s: float = 20.0

    def send(self, method: str, path: str, body: dict | None, token: str | None) -> tuple[int, Any]:
        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as refused:
            try:
                return refused.code, json.loads(refused.read() or b"null")
            except ValueError:
                return refused.code, None
        except (OSError, ValueError) as exc:
            raise ChannelApiError(f"channel API at {self.base}: {exc}") from None

    def _ok(self, method: str, path: str, body: dict | None, token: str | None) -> Any:
        status, answer = self.send(method, path, body, token)
        if status != 200:
            code = answer.get("errorCode", "") if isinstance(answer, dict) else ""
            raise ChannelApiError(f"{method} {path.split('?')[0]}: HTTP {status} {code}", status)
        return answer

    def new_token(
        self, signing_key: Ed25519PrivateKey, device_id: str, timestamp_ms: int
    ) -> dict[str, Any]:
        """POST /channels/token, signed with the device's enrolled Ed25519 key."""
        body = sign_token_request(signing_key, device_id, timestamp_ms)
        return self._ok("POST", "/channels/token", body, None)

    def refresh_token(self, token: str) -> dict[str, Any]:
        return self._ok("POST", "/channels/me/token", None, token)

    def events(self, token: str, after_seq: int) -> dict[str, Any]:
        query = urllib.parse.urlencode({"after": after_seq})
        return self._ok("GET", f"/channels/me/events?{query}", None, token)

    def balance(self, token: str) -> dict[str, Any]:
        return self._ok("GET", "/channels/me/balance", None, token)
