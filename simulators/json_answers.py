"""JSON answers of the simulator's HTTP APIs (its control API and the airtime provider)."""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request


def json_answer(request: Request, status: int, payload: Any) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(payload).encode() + b"\n"


def finish_json(request: Request, status: int, payload: Any) -> None:
    """A deferred answer written once it is known, unless the client has gone."""
    if request.finished or getattr(request, "_disconnected", False):
        return
    request.write(json_answer(request, status, payload))
    request.finish()
