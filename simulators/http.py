"""The HTTP control API (Twisted Web, JSON). Malformed requests get 400 and a one-line JSON error.

POST /v1/mo        {"from", "to", "text", "count"?: n, "wait"?: bool}  -> 202 (or 200 once acked)
GET  /v1/messages  ?msisdn=X  or  ?since=SEQ[&limit=N]                  -> {"messages", "last_seq"}
GET  /v1/stats     GET /v1/health     GET|POST /v1/faults {"name": {params} | null}
/airtime/v1/... and /v1/airtime/...: the simulated airtime provider (simulators/airtime.py)
/v1/ussd/sessions...: USSD subscribers' dialogues (simulators/ussd_http.py)
/, /console/..., /v1/events, /v1/phones..., /v1/runs..., /v1/binds, /v1/info, /v1/faults/types:
the console and what it calls (simulators/console_http.py)
/v1/mt..., /v1/subscribers, /v1/alerts, /v1/outbind: stored MTs, availability, outbind
(simulators/smsc_http.py)
"""

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from simulators import console_http, smsc_http, ussd_http
from simulators.delivery import BacklogFull
from simulators.faults import FaultError
from simulators.http_requests import BadRequest
from simulators.http_requests import int_param as _int
from simulators.http_requests import json_body as _json_body
from simulators.http_requests import query as _query
from simulators.http_requests import string_field as _string
from simulators.json_answers import finish_json, json_answer
from simulators.mo import InvalidMO
from simulators.store import DEFAULT_PAGE, MAX_PAGE

if TYPE_CHECKING:
    from simulators.simulator import Simulator

MAX_MO_COUNT = 1_000_000  # MOs one request may inject: the size of max_pending_deliveries' default


def control_site(simulator: "Simulator") -> Site:
    site = Site(ControlAPI(simulator))
    site.displayTracebacks = False
    site.noisy = False
    return site


class ControlAPI(Resource):
    isLeaf = True

    def __init__(self, simulator: "Simulator") -> None:
        super().__init__()
        self.simulator = simulator
        self._ussd = ussd_http.UssdAPI(simulator.ussd)
        self._console = console_http.ConsoleAPI(simulator)
        self._smsc = smsc_http.SmscAPI(simulator)
        self._routes = {
            (b"POST", b"/v1/mo"): self._post_mo,
            (b"GET", b"/v1/messages"): self._get_messages,
            (b"GET", b"/v1/stats"): lambda request: (HTTPStatus.OK, self.simulator.stats()),
            (b"GET", b"/v1/health"): self._health,
            (b"GET", b"/v1/faults"): lambda request: (
                HTTPStatus.OK,
                self.simulator.faults.describe(),
            ),
            (b"POST", b"/v1/faults"): self._post_faults,
        }

    def render(self, request: Request) -> bytes | int:
        if self.simulator.airtime.handles(request.path):
            return self.simulator.airtime.render(request)
        page = console_http.static_file(request)
        if page is not None:
            return page
        route = self._routes.get((request.method, request.path))
        if ussd_http.handles(request.path):
            route = self._ussd.render
        elif console_http.handles(request.path):
            route = self._console.render
        elif smsc_http.handles(request.path):
            route = self._smsc.render
        if route is None:
            known = any(path == request.path for _, path in self._routes)
            status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
            return json_answer(
                request, status, {"error": f"no {request.method.decode()} {request.path.decode()}"}
            )
        try:
            result = route(request)
        except BadRequest as exc:
            return json_answer(request, HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        if isinstance(result, Deferred):
            result.addCallbacks(
                lambda answer: finish_json(request, *answer),
                lambda failure: finish_json(request, *_failure_answer(failure)),
            )
            return NOT_DONE_YET
        if result == NOT_DONE_YET or isinstance(result, bytes):  # the event stream
            return result
        return json_answer(request, *result)

    def _health(self, request: Request) -> tuple[int, dict[str, Any]]:
        return HTTPStatus.OK, {"status": "ok", "binds": len(self.simulator.factory.bound_protocols)}

    def _post_mo(self, request: Request) -> tuple[int, dict[str, Any]] | Deferred:
        body = _json_body(request)
        source, destination, text = (_string(body, key) for key in ("from", "to", "text"))
        count = body.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_MO_COUNT:
            raise BadRequest(f'"count" must be an integer 1..{MAX_MO_COUNT}')
        wait = body.get("wait")
        try:
            if not wait:  # the outcome shows in /v1/stats: no Deferred per MO
                self.simulator.inject_mos(source, destination, text, count)
            else:
                acks = [self.simulator.inject_mo(source, destination, text) for _ in range(count)]
        except (InvalidMO, BacklogFull) as exc:
            raise BadRequest(str(exc)) from None
        answer = {"queued": count, "injected_at": self.simulator.reactor.seconds()}
        if not wait:
            return HTTPStatus.ACCEPTED, answer
        return gatherResults(acks, consumeErrors=True).addCallback(
            lambda results: (
                HTTPStatus.OK,
                {**answer, "acknowledged": len(results), "parts": results[0].parts},
            )
        )

    def _get_messages(self, request: Request) -> tuple[int, dict[str, Any]]:
        handsets = self.simulator.handsets
        msisdn = _query(request, b"msisdn")
        since = _query(request, b"since")
        if msisdn is None and since is None:
            raise BadRequest("give ?msisdn=NUMBER or ?since=SEQ")
        if msisdn is not None:
            messages = handsets.inbox(msisdn)
        else:
            limit = _int(_query(request, b"limit") or str(DEFAULT_PAGE), "limit")
            messages = handsets.since(_int(since or "0", "since"), max(1, min(limit, MAX_PAGE)))
        return HTTPStatus.OK, {
            "messages": [message.as_json() for message in messages],
            "last_seq": handsets.last_seq,
        }

    def _post_faults(self, request: Request) -> tuple[int, dict[str, Any]]:
        try:
            self.simulator.faults.configure(_json_body(request))
        except FaultError as exc:
            raise BadRequest(f"faults: {exc}") from None
        return HTTPStatus.OK, {"active": self.simulator.faults.describe()}


def _failure_answer(failure: Failure) -> tuple[int, dict[str, Any]]:
    reason = failure.value
    inner = getattr(reason, "subFailure", None)
    message = inner.getErrorMessage() if inner is not None else failure.getErrorMessage()
    return HTTPStatus.BAD_GATEWAY, {"error": f"not acknowledged: {message}"}
