"""Every answer in the API tests is checked against the served OpenAPI document (openapi-core): a
response the document does not describe fails the test that got it."""

from __future__ import annotations

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SERVER = "http://127.0.0.1"


class Conformance:
    def __init__(self, document: dict) -> None:
        document = {**document, "servers": [{"url": SERVER}]}
        self.api = OpenAPI.from_dict(document)

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
