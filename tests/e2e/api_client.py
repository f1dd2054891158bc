"""The business API as a client sees it over real HTTP: a `requests` session against the daemon's
[api] listen address that checks EVERY answer against the OpenAPI document that same daemon
serves at /openapi.json (fetched once per daemon address; tests/api/conformance.py, openapi-core).
An answer the document does not describe fails the test that got it.

`ApiClient(base_url, key)`: `get`, `post` (a fresh X-CorrelationID unless one is given), and
`poll_final` / `poll_until` (poll GET /requeststates with a deadline, as a business would)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import requests

from tests.api.conformance import Conformance
from tests.e2e.harness import wait_for

TIMEOUT_S = 10.0
POLL_STEP_S = 0.2
_DOCUMENTS: dict[str, Conformance] = {}  # by base URL: one daemon serves one document


def conformance(base_url: str) -> Conformance:
    if base_url not in _DOCUMENTS:
        served = requests.get(f"{base_url}/openapi.json", timeout=TIMEOUT_S)
        assert served.status_code == 200, served.text
        _DOCUMENTS[base_url] = Conformance(served.json())
    return _DOCUMENTS[base_url]


def check(method: str, path: str, answer: requests.Response) -> requests.Response:
    """`answer` as it came, once the served document allows it."""
    base_url = answer.url[: answer.url.index("/", len("http://"))]
    headers = {name.lower(): value for name, value in answer.headers.items()}
    conformance(base_url).check(method, path, answer.status_code, headers, answer.content)
    return answer


class ApiClient:
    def __init__(self, base_url: str, key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.session = requests.Session()

    def with_key(self, key: str | None) -> ApiClient:
        return ApiClient(self.base_url, key)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        sent = {"X-API-Key": self.key} if self.key is not None else {}
        sent.update(headers or {})
        kwargs: dict[str, Any] = {"headers": sent, "timeout": TIMEOUT_S}
        if isinstance(body, bytes):
            kwargs["data"] = body
            sent.setdefault("Content-Type", "application/json")
        elif body is not None:
            kwargs["json"] = body
        answer = self.session.request(method, self.base_url + path, **kwargs)
        return check(method, path, answer)

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.request("GET", path, headers=headers)

    def post(
        self, path: str, body: Any, correlation_id: str | None = None, **headers: str
    ) -> requests.Response:
        headers.setdefault("X-CorrelationID", correlation_id or str(uuid.uuid4()))
        return self.request("POST", path, body, headers)

    def create(self, kind: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        """POST /transactions/type/{kind}, accepted (202): its request state."""
        answer = self.post(f"/transactions/type/{kind}", body, **headers)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def poll_until(
        self, state: dict[str, Any], done: Callable[[dict[str, Any]], bool], what: str,
        timeout_s: float = TIMEOUT_S,
    ) -> dict[str, Any]:  # fmt: skip
        path = f"/requeststates/{state['serverCorrelationId']}"

        def polled() -> dict[str, Any] | None:
            answer = self.get(path)
            assert answer.status_code == 200, answer.text
            found = answer.json()
            return found if done(found) else None

        return wait_for(polled, timeout_s, what, interval_s=POLL_STEP_S)

    def poll_final(self, state: dict[str, Any], timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The request state once it is no longer pending."""
        return self.poll_until(
            state, lambda found: found["status"] != "pending", "the request to finish", timeout_s
        )


def party(msisdn: str) -> list[dict[str, str]]:
    return [{"key": "msisdn", "value": f"+{msisdn}"}]
