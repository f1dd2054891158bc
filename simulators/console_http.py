"""The console's part of the control API (simulators/http.py routes these here).

GET    /                                the console (simulators/console/index.html)
GET    /console/{app.js,console.css}    its script and style
GET    /v1/events                       live events, server-sent (simulators/events.py)
GET    /v1/info                         {"system_id", "now", "accounts", "ussd": {timers}}
GET    /v1/binds                        {"binds": [{"system_id", "bind_type", "peer",
                                         "window_in_use", "window", "queued", "tps"}]}
GET    /v1/faults/types                 {"faults": [{"name", "doc", "params": [...]}]}
GET    /v1/phones                       {"phones": [{"msisdn", "name"}]}
POST   /v1/phones                       {"msisdn", "name"?} -> 201 the phone (again: renamed)
DELETE /v1/phones/{msisdn}              -> {"removed"}
GET    /v1/phones/{msisdn}/thread       {"msisdn", "name", "items": [mo | mt]} (simulators/phones.py)
POST   /v1/runs, GET /v1/runs, GET /v1/runs/{id}   scenario and load runs (simulators/runs.py)

Everything the page does is one of these or of the routes in simulators/http.py (API_CALLS lists
them all, as the browser tests check).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote
from weakref import WeakKeyDictionary

from pydantic_core import PydanticUndefined
from twisted.web.server import Request

from simulators.faults import FAULT_TYPES
from simulators.http_requests import BadRequest, json_body, string_field
from simulators.phones import PhoneError
from simulators.runs import RunRefused, Runs
from smscore.session_state import State
from smscore.status import CommandStatus

if TYPE_CHECKING:
    from simulators.simulator import Simulator

Answer = tuple[int, Any]
# Every call the console's page may make, as (method, path pattern): the documented API.
API_CALLS = (
    ("GET", "/"),
    ("GET", "/console/app.js"),
    ("GET", "/console/console.css"),
    ("GET", "/v1/events"),
    ("GET", "/v1/info"),
    ("GET", "/v1/binds"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/faults"),
    ("POST", "/v1/faults"),
    ("GET", "/v1/faults/types"),
    ("GET", "/v1/phones"),
    ("POST", "/v1/phones"),
    ("DELETE", "/v1/phones/{msisdn}"),
    ("GET", "/v1/phones/{msisdn}/thread"),
    ("POST", "/v1/mo"),
    ("POST", "/v1/ussd/sessions"),
    ("GET", "/v1/ussd/sessions/{id}"),
    ("POST", "/v1/ussd/sessions/{id}/answer"),
    ("DELETE", "/v1/ussd/sessions/{id}"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/{id}"),
)
STATIC = {
    b"/": ("index.html", b"text/html; charset=utf-8"),
    b"/console/app.js": ("app.js", b"text/javascript; charset=utf-8"),
    b"/console/console.css": ("console.css", b"text/css; charset=utf-8"),
}
# Nothing from elsewhere: the page works offline and cannot be made to load a stranger's script.
CSP = b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'"
_BIND_TYPES = {State.BOUND_TX: "transmitter", State.BOUND_RX: "receiver",
               State.BOUND_TRX: "transceiver"}  # fmt: skip
_PHONE = re.compile(rb"^/v1/phones/([^/]+)(/thread)?$")
_RUN = re.compile(rb"^/v1/runs/([^/]+)$")
_EXACT = {b"/v1/events", b"/v1/info", b"/v1/binds", b"/v1/faults/types", b"/v1/phones", b"/v1/runs"}


def handles(path: bytes) -> bool:
    return path in _EXACT or bool(_PHONE.match(path) or _RUN.match(path))


def call_matches(method: str, path: str) -> bool:
    """Whether a request (its path without the query) is one of API_CALLS."""
    for allowed_method, pattern in API_CALLS:
        regex = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(pattern)) + "$"
        if method == allowed_method and re.match(regex, path):
            return True
    return False


def static_file(request: Request) -> bytes | None:
    """The page's files for GET (None: not one of them)."""
    found = STATIC.get(request.path)
    if found is None or request.method not in (b"GET", b"HEAD"):
        return None
    name, content_type = found
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"cache-control", b"no-cache")
    request.setHeader(b"content-security-policy", CSP)
    request.setHeader(b"x-content-type-options", b"nosniff")
    return (resources.files("simulators") / "console" / name).read_bytes()


class ConsoleAPI:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.runs = Runs(simulator, simulator.events.publish)
        self._tps: WeakKeyDictionary[Any, tuple[float, int, float]] = WeakKeyDictionary()
        self._last_stats: Any = None
        simulator.events.on_tick.append(self._publish_stats)

    def render(self, request: Request) -> Answer | int | bytes:
        """(status, payload), or the event stream (NOT_DONE_YET); raises BadRequest."""
        path, method = request.path, request.method
        if path == b"/v1/events" and method == b"GET":
            return self.simulator.events.open(request)
        phone = _PHONE.match(path)
        if phone is not None:
            msisdn = unquote(phone.group(1).decode("utf-8", "replace"))
            if phone.group(2) and method == b"GET":
                return HTTPStatus.OK, self.simulator.phones.thread(msisdn)
            if not phone.group(2) and method == b"DELETE":
                return HTTPStatus.OK, {"removed": self.simulator.phones.remove(msisdn)}
            return _not_allowed(request)
        run = _RUN.match(path)
        if run is not None:
            return self._run(request, run.group(1).decode("utf-8", "replace"))
        handler = {
            (b"GET", b"/v1/info"): self._info,
            (b"GET", b"/v1/binds"): lambda request: (HTTPStatus.OK, {"binds": self.binds()}),
            (b"GET", b"/v1/faults/types"): lambda request: (HTTPStatus.OK, fault_types()),
            (b"GET", b"/v1/phones"): lambda request: (
                HTTPStatus.OK,
                {"phones": self.simulator.phones.phones()},
            ),
            (b"POST", b"/v1/phones"): self._add_phone,
            (b"GET", b"/v1/runs"): lambda request: (
                HTTPStatus.OK,
                {"runs": [run.as_json() for run in self.runs.runs()]},
            ),
            (b"POST", b"/v1/runs"): self._start_run,
        }.get((method, path))
        return _not_allowed(request) if handler is None else handler(request)

    def _info(self, request: Request) -> Answer:
        config = self.simulator.config
        return HTTPStatus.OK, {
            "system_id": config.system_id,
            "now": self.simulator.reactor.seconds(),
            "accounts": [
                {"system_id": a.system_id, "ussd_dialect": a.ussd_dialect and str(a.ussd_dialect)}
                for a in config.account
            ],
            "ussd": {
                "session_timeout_s": config.ussd.session_timeout_s,
                "answer_timeout_s": config.ussd.answer_timeout_s,
            },
        }

    def _add_phone(self, request: Request) -> Answer:
        body = json_body(request)
        name = body.get("name", "")
        if not isinstance(name, str):
            raise BadRequest('"name" must be a string')
        try:
            return HTTPStatus.CREATED, self.simulator.phones.add(string_field(body, "msisdn"), name)
        except PhoneError as exc:
            raise BadRequest(str(exc)) from None

    def _start_run(self, request: Request) -> Answer:
        try:
            return HTTPStatus.CREATED, self.runs.start(json_body(request)).as_json()
        except RunRefused as exc:
            if exc.status == HTTPStatus.BAD_REQUEST:
                raise BadRequest(str(exc)) from None
            return exc.status, {"error": str(exc)}

    def _run(self, request: Request, run_id: str) -> Answer:
        if request.method != b"GET":
            return _not_allowed(request)
        run = self.runs.get(run_id)
        if run is None:
            return HTTPStatus.NOT_FOUND, {"error": f"no run {run_id}"}
        return HTTPStatus.OK, run.as_json()

    def binds(self) -> list[dict[str, Any]]:
        now_s = self.simulator.reactor.seconds()
        return [
            {
                "system_id": protocol.system_id,
                "bind_type": _BIND_TYPES.get(protocol.session.state, protocol.session.state.value),
                "peer": protocol.peer_text,
                "window_in_use": protocol.session.outstanding_count,
                "window": protocol.session.timers.window,
                "queued": protocol.queued_count,
                "tps": self._rate(protocol, now_s),
            }
            for protocol in self.simulator.factory.bound_protocols
        ]

    def _rate(self, protocol: Any, now_s: float) -> float:
        """Requests the ESME sent per second, over the last second or more (0 at first sight)."""
        count = getattr(protocol, "requests_answered", 0)
        since_s, since_count, rate = self._tps.get(protocol, (now_s, count, 0.0))
        if now_s - since_s >= 1.0:
            rate = round((count - since_count) / (now_s - since_s), 1)
            since_s, since_count = now_s, count
        self._tps[protocol] = (since_s, since_count, rate)
        return rate

    def _publish_stats(self, new_client: bool) -> None:
        snapshot = {"stats": self.simulator.stats(), "binds": self.binds()}
        if new_client or snapshot != self._last_stats:
            self._last_stats = snapshot
            self.simulator.events.publish({"type": "stats", **snapshot})


def fault_types() -> dict[str, Any]:
    """Each fault and its parameters, as POST /v1/faults takes them (simulators/faults.py)."""
    faults = []
    for name, cls in FAULT_TYPES.items():
        params = []
        for key, info in cls.model_fields.items():
            default = None if info.default is PydanticUndefined else info.default
            kind = "number" if info.annotation in (float, float | None) else "integer"
            if key == "status":  # given by name, as the config and --fault take it
                kind, default = "status", CommandStatus(default).name
            limits = {}
            for meta in info.metadata:
                for bound in ("ge", "gt", "le", "lt"):
                    if getattr(meta, bound, None) is not None:
                        limits[bound] = getattr(meta, bound)
            params.append({"name": key, "type": kind, "default": default, **limits})
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        faults.append({"name": name, "doc": " ".join(doc.split()), "params": params})
    return {"faults": faults}


def _not_allowed(request: Request) -> Answer:
    where = f"{request.method.decode()} {request.path.decode('utf-8', 'replace')}"
    return HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"no {where}"}
