"""Every answer in the API tests is checked against the served OpenAPI document (openapi-core): a
response the document does not describe fails the test that got it."""

from __future__ import annotations

import json
from functools import lru_cache

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SERVER = "http://127.0.0.1"


@lru_cache(maxsize=8)
def _openapi(document_json: str) -> OpenAPI:
    """Building an OpenAPI (it validates the document against the OpenAPI schema) costs about a
    second: once per distinct document per process, not once per test."""
    return OpenAPI.from_dict({**json.loads(document_json), "servers": [{"url": SERVER}]})


class Conformance:
    def __init__(self, document: dict) -> None:
        self.api = _openapi(json.dumps(document, sort_keys=True))

    def check(
        self, method: str, path: str, status: int, headers: dict[str, str], raw: bytes
    ) -> None:
        """AssertionError naming what the document does not allow in this answer."""
        path_only, _, query = path.partition("?")
        args = dict(pair.partition("=")[::2] for pair in filter(None, query.split("&")))
        request = MockRequest(SERVER, method.lower(), path_only, args=args)
        content_type = headers.get("content-type", "application/json").split(";")[0]
        response = MockResponse(raw, status_code=status, headers=headers, content_type=content_type)
        errors = list(self.api.iter_response_errors(request, response))
        assert not errors, f"{method} {path} -> {status}: not as documented: {errors[0]!r}"
