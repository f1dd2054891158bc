"""The daemon's status endpoint on 127.0.0.1 and the shapes it serves: `GET /status` (JSON, read by
`smscore status`), `GET /health/live` and `GET /health/ready` (`/health`: ready; daemon.metrics.health)
and, when `status.metrics` is on, `GET /metrics` (the Prometheus text format; daemon.metrics)."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

# The text format generate_latest writes, as every Prometheus server reads it (prometheus_client's
# CONTENT_TYPE_LATEST says 1.0.0 since 0.22, which older servers do not know).
METRICS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

if TYPE_CHECKING:
    from daemon.components import ComponentStatus
    from daemon.config import BindConfig
    from smscore.client import PersistentBind


@dataclass(frozen=True)
class JsonReply:
    """A JSON body with its HTTP status code (a plain dict is served with 200)."""

    body: dict
    code: int = 200


class JsonResource(Resource):
    """Serves whatever `snapshot()` returns (a dict, a JsonReply, or a Deferred of one) as JSON."""

    isLeaf = True

    def __init__(self, snapshot: Callable[[], dict | JsonReply | Deferred]) -> None:
        super().__init__()
        self._snapshot = snapshot

    def render_GET(self, request: Request) -> int:
        request.setHeader(b"content-type", b"application/json")
        result = maybeDeferred(self._snapshot)
        result.addCallbacks(self._write, self._error, (request,), None, (request,))
        return NOT_DONE_YET

    def _write(self, data: dict | JsonReply, request: Request) -> None:
        reply = data if isinstance(data, JsonReply) else JsonReply(data)
        request.setResponseCode(reply.code)
        request.write(
            json.dumps(reply.body, indent=2, sort_keys=True, default=str).encode() + b"\n"
        )
        request.finish()

    def _error(self, failure: Failure, request: Request) -> None:
        request.setResponseCode(500)
        request.write(json.dumps({"error": failure.getErrorMessage()}).encode() + b"\n")
        request.finish()


class HealthResource(JsonResource):
    """`/health` answers as `/health/ready` does (what it always meant); `/health/live` and
    `/health/ready` below it."""

    isLeaf = False

    def __init__(
        self, ready: Callable[[], JsonReply | Deferred], live: Callable[[], JsonReply | Deferred]
    ) -> None:
        super().__init__(ready)
        self.putChild(b"ready", JsonResource(ready))
        self.putChild(b"live", JsonResource(live))

    def getChild(self, path: bytes, request: Request) -> IResource:
        return self if path == b"" else notFound()  # /health/ is /health


class _Root(Resource):
    def getChild(self, path: bytes, request: Request) -> IResource:
        return notFound()  # a plain 404 (Resource's own default is deprecated)


class MetricsResource(Resource):
    """The Prometheus text format, built on the reactor from what is in memory (no query)."""

    isLeaf = True

    def __init__(self, exposition: Callable[[], bytes]) -> None:
        super().__init__()
        self._exposition = exposition

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", METRICS_CONTENT_TYPE)
        return self._exposition()


def status_root(
    snapshot: Callable[[], dict | Deferred],
    health: Callable[[], JsonReply | Deferred],
    live: Callable[[], JsonReply | Deferred] | None = None,
    metrics: Callable[[], bytes] | None = None,  # None: no /metrics (status.metrics = false)
) -> Resource:
    root = _Root()
    root.putChild(b"status", JsonResource(snapshot))
    root.putChild(b"health", HealthResource(health, live or (lambda: JsonReply({"ok": True}))))
    if metrics is not None:
        root.putChild(b"metrics", MetricsResource(metrics))
    return root


def bind_status(bind: "PersistentBind", settings: "BindConfig") -> dict[str, Any]:
    protocol = bind.protocol
    counters = bind.counters
    return {
        "name": bind.name,
        "host": f"{settings.host}:{settings.port}",
        "bound": bind.is_bound,
        "state": bind.state,  # up, down, refused-credentials, refused-tls
        "connects": counters.connects,
        "binds": counters.binds,
        "bind_failures": counters.bind_failures,
        "drops": counters.drops,
        "messages_received": counters.messages_received,
        "outstanding": protocol.session.outstanding_count if protocol else 0,
        "queued": protocol.queued_count if protocol else 0,
        "last_error": bind.last_error,
    }


@dataclass
class Snapshot:
    """One `GET /status` answer, assembled from the daemon's parts."""

    role: str
    status_listen: str
    started_at_s: float
    now_s: float
    binds: list[dict[str, Any]]
    queues: dict[str, int]
    counters: dict[str, int] = field(default_factory=dict)
    last_errors: list[str] = field(default_factory=list)
    security: dict[str, int] = field(default_factory=dict)  # daemon.status_security
    reload: dict[str, Any] | None = None  # the last SIGHUP reload's outcome (daemon.reload)

    def add_component(self, name: str, status: "ComponentStatus") -> None:
        self.counters.update({f"{name}.{key}": value for key, value in status.counters.items()})
        if status.last_error:
            self.last_errors.append(f"{name}: {status.last_error}")

    def as_json(self, marks: dict[str, tuple[float, int]]) -> dict[str, Any]:
        """The JSON body; `marks` keeps each counter's previous reading, for the rates."""
        bind_errors = [
            f"{bind['name']}: {bind['last_error']}" for bind in self.binds if bind["last_error"]
        ]
        return {
            "role": self.role,
            "status_listen": self.status_listen,
            "uptime_s": self.now_s - self.started_at_s,
            "binds": self.binds,
            "queues": self.queues,
            "counters": self.counters,
            "rates": self._rates(marks),
            "security": self.security,
            "reload": self.reload,
            "last_errors": bind_errors + self.last_errors,
        }

    def _rates(self, marks: dict[str, tuple[float, int]]) -> dict[str, float]:
        rates = {}
        for key, value in self.counters.items():
            then, before = marks.get(key, (self.started_at_s, 0))
            if self.now_s > then:
                rates[key] = (value - before) / (self.now_s - then)
            marks[key] = (self.now_s, value)
        return rates
