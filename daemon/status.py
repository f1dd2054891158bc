"""The daemon's status endpoint (`GET /status`, JSON) on 127.0.0.1, read by `smscore status`."""

import json
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request


class JsonResource(Resource):
    """Serves whatever `snapshot()` returns (a dict or a Deferred of one) as JSON."""

    isLeaf = True

    def __init__(self, snapshot: Callable[[], dict | Deferred]) -> None:
        super().__init__()
        self._snapshot = snapshot

    def render_GET(self, request: Request) -> Any:
        request.setHeader(b"content-type", b"application/json")
        result = maybeDeferred(self._snapshot)
        result.addCallbacks(self._write, self._error, (request,), None, (request,))
        return NOT_DONE_YET

    def _write(self, data: dict, request: Request) -> None:
        request.write(json.dumps(data, indent=2, sort_keys=True, default=str).encode() + b"\n")
        request.finish()

    def _error(self, failure: Any, request: Request) -> None:
        request.setResponseCode(500)
        request.write(json.dumps({"error": failure.getErrorMessage()}).encode() + b"\n")
        request.finish()


def status_root(snapshot: Callable[[], dict | Deferred], health: Callable[[], dict]) -> Resource:
    root = Resource()
    root.putChild(b"status", JsonResource(snapshot))
    root.putChild(b"health", JsonResource(health))
    return root


def format_status(data: dict) -> str:
    """The status JSON as the few lines an operator reads first."""
    lines = [f"role: {data.get('role')}   uptime: {data.get('uptime_s', 0):.0f}s"]
    for bind in data.get("binds", []):
        state = "UP  " if bind.get("bound") else "DOWN"
        lines.append(
            f"bind {bind['name']:<12} {state} {bind.get('host')}  connects={bind.get('connects')} "
            f"received={bind.get('messages_received')} last_error={bind.get('last_error') or '-'}"
        )
    queues = data.get("queues", {})
    if queues:
        lines.append(
            "queues: " + "  ".join(f"{name}={count}" for name, count in sorted(queues.items()))
        )
    rates = data.get("rates", {})
    if rates:
        lines.append(
            "rates/s: " + "  ".join(f"{name}={value:.1f}" for name, value in sorted(rates.items()))
        )
    for error in data.get("last_errors", [])[-5:]:
        lines.append(f"error: {error}")
    return "\n".join(lines)
