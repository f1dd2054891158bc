"""The device's radio: the simulator's HTTP API (simulators/http.py). It injects the device's MOs
as text (the API carries text only, so frames go text-framed: daemon.security.channel.to_text) and
reads the SMS delivered to the device's number."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_API = "http://127.0.0.1:8775"
_POLL_PAUSE_S = 0.1  # bounds the polling rate; nothing is ordered by it


class LinkError(Exception):
    """The simulator did not answer, or no reply came in time (one line)."""


@dataclass(frozen=True)
class SimulatorLink:
    api: str = DEFAULT_API
    short_code: str = "12345"
    timeout_s: float = 20.0

    def _http(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.api + path, data, {"content-type": "application/json"}, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return json.loads(answer.read())
        except (OSError, ValueError) as exc:
            raise LinkError(f"simulator at {self.api}: {exc}") from None

    def received(self, msisdn: str) -> list[str]:
        query = urllib.parse.urlencode({"msisdn": msisdn})
        return [m["text"] for m in self._http("GET", f"/v1/messages?{query}")["messages"]]

    def send(self, msisdn: str, text: str) -> None:
        self._http("POST", "/v1/mo", {"from": msisdn, "to": self.short_code, "text": text})

    def exchange(
        self, msisdn: str, text: str, is_reply: Callable[[str], bool] = lambda _: True
    ) -> str:
        """Send `text`; the next SMS the number gets that `is_reply` takes (not, say, a push or
        another device's frame arriving meanwhile: daemon.device.sync.reply_filter)."""
        seen = len(self.received(msisdn))
        self.send(msisdn, text)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            got = self.received(msisdn)
            for candidate in got[seen:]:
                if is_reply(candidate):
                    return candidate
            seen = len(got)
            time.sleep(_POLL_PAUSE_S)
        raise LinkError(f"no reply to {msisdn} within {self.timeout_s} s")
