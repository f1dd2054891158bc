"""Reading what a client sent the control API: the JSON body and query parameters. A client's
mistake raises BadRequest, answered 400 with its message."""

import json
from typing import Any

from twisted.web.server import Request

MAX_BODY_BYTES = (
    1 << 20
)  # 1 MiB: far above any request of ours, a bound on what a client makes us read


class BadRequest(ValueError):
    """The client's fault: answered with 400 and this message."""


def json_body(request: Request) -> dict[str, Any]:
    raw = request.content.read(MAX_BODY_BYTES + 1) if request.content is not None else b""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def string_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f'"{key}" must be a string')
    return value


def query(request: Request, name: bytes) -> str | None:
    values = request.args.get(name) if request.args else None
    return values[0].decode("utf-8", "replace") if values else None


def int_param(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {text!r}") from None
