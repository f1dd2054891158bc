"""The control API's SMSC-side calls (simulators/http.py routes these paths here).

GET  /v1/mt[?msisdn=X][&limit=N]       stored MTs, newest last       -> {"messages": [MT]}
GET  /v1/mt/{id}                       one MT (its state, as query_sm answers it)  -> MT
POST /v1/mt/{id}/cancel                the SMSC deletes it (a DELETED receipt if asked) -> MT
POST /v1/mt/{id}/intermediate          {"state"?: "ENROUTE"|"ACCEPTD"}: an intermediate
                                       notification now                               -> MT
GET  /v1/subscribers                   {"absent", "pending_flags", "unsent_alerts"}
POST /v1/subscribers                   {"msisdn", "available": bool}: absent or back (back: an
                                       alert_notification to each ESME that set DPF)
                                       -> {"msisdn", "available", "alerts": [...]}
POST /v1/alerts                        {"msisdn", "esme_addr", "system_id"?}: one
                                       alert_notification now (or at the account's next bind)
                                       -> {"sent": bool}
POST /v1/outbind                       {"address", "password"?, "system_id"?}: outbind to an
                                       ESME listening there; answers once it bound back
                                       -> {"bound": system_id} | 502 {"error"}

An MT is {"id", "system_id", "from", "to", "state" (stat word: ENROUTE, DELIVRD, DELETED, ...),
"message_state", "error_code", "text", "registered_delivery", "submitted_at", "done_at",
"scheduled_at", "expires_at", "replaced"}. 404: no such message; 409: it is final already.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.web.server import Request

from simulators.availability import Alert
from simulators.config import parse_address
from simulators.http_requests import BadRequest, int_param, json_body, query, string_field
from simulators.store import DEFAULT_PAGE, MAX_PAGE, MessageNotFound, StoredMessage, message_text
from smscore.concat import ConcatError
from smscore.constants import MessageState

if TYPE_CHECKING:
    from simulators.simulator import Simulator

MT = b"/v1/mt"
PATHS = frozenset({b"/v1/subscribers", b"/v1/alerts", b"/v1/outbind"})
INTERMEDIATE_STATES = {"ENROUTE": MessageState.ENROUTE, "ACCEPTD": MessageState.ACCEPTED}
Answer = tuple[int, Any]


def handles(path: bytes) -> bool:
    return path in PATHS or path == MT or path.startswith(MT + b"/")


def mt_json(message: StoredMessage) -> dict[str, Any]:
    try:
        _, body = message.body()
    except ConcatError:
        body = message.short_message
    return {
        "id": message.message_id,
        "system_id": message.system_id,
        "from": message.source_addr,
        "to": message.destination_addr,
        "state": message.state.stat,
        "message_state": int(message.state),
        "error_code": message.error_code,
        "text": message_text(body, message.data_coding),
        "registered_delivery": message.registered_delivery,
        "submitted_at": message.submitted_at_s,
        "done_at": message.done_at_s,
        "scheduled_at": message.scheduled_at_s,
        "expires_at": message.expires_at_s,
        "replaced": message.replaced,
    }


class SmscAPI:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._routes = {
            (b"GET", b"/v1/subscribers"): lambda request: (
                HTTPStatus.OK,
                self.simulator.subscribers.as_json(),
            ),
            (b"POST", b"/v1/subscribers"): self._availability,
            (b"POST", b"/v1/alerts"): self._alert,
            (b"POST", b"/v1/outbind"): self._outbind,
        }

    def render(self, request: Request) -> Answer | Deferred:
        """(status, payload), or a Deferred of one; raises BadRequest."""
        if request.path == MT or request.path.startswith(MT + b"/"):
            return self._mt(request)
        route = self._routes.get((request.method, request.path))
        if route is None:
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, _where(request))
        return route(request)

    def _mt(self, request: Request) -> Answer:
        parts = request.path[len(MT) :].decode("utf-8", "replace").strip("/").split("/")
        if parts == [""]:
            if request.method != b"GET":
                return _error(HTTPStatus.METHOD_NOT_ALLOWED, _where(request))
            return self._list(request)
        if len(parts) > 2:
            return _error(HTTPStatus.NOT_FOUND, _where(request))
        try:
            message = self.simulator.store.get(parts[0])
        except MessageNotFound:
            return _error(HTTPStatus.NOT_FOUND, f"no message {parts[0]!r}")
        action = (request.method, parts[1] if len(parts) == 2 else "")
        if action == (b"GET", ""):
            return HTTPStatus.OK, mt_json(message)
        if action == (b"POST", "cancel"):
            return self._cancel(message)
        if action == (b"POST", "intermediate"):
            return self._intermediate(request, message)
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, _where(request))

    def _list(self, request: Request) -> Answer:
        limit = int_param(query(request, b"limit") or str(DEFAULT_PAGE), "limit")
        recent = self.simulator.store.recent(
            max(1, min(limit, MAX_PAGE)), query(request, b"msisdn")
        )
        return HTTPStatus.OK, {"messages": [mt_json(message) for message in recent]}

    def _cancel(self, message: StoredMessage) -> Answer:
        if message.state.is_final:
            return _error(
                HTTPStatus.CONFLICT, f"message {message.message_id} is {message.state.stat}"
            )
        self.simulator.logic.cancelled(message)
        self.simulator.logic.counters["cancelled"] += 1
        return HTTPStatus.OK, mt_json(message)

    def _intermediate(self, request: Request, message: StoredMessage) -> Answer:
        word = json_body(request).get("state", "ENROUTE")
        state = INTERMEDIATE_STATES.get(word) if isinstance(word, str) else None
        if state is None:
            raise BadRequest(f'"state" must be one of {", ".join(INTERMEDIATE_STATES)}')
        if message.state.is_final:
            return _error(
                HTTPStatus.CONFLICT, f"message {message.message_id} is {message.state.stat}"
            )
        self.simulator.send_intermediate(message, state)
        return HTTPStatus.OK, mt_json(message)

    def _availability(self, request: Request) -> Answer:
        body = json_body(request)
        msisdn, available = string_field(body, "msisdn"), body.get("available")
        if not isinstance(available, bool):
            raise BadRequest('"available" must be true or false')
        alerts = self.simulator.subscribers.set_available(msisdn, available)
        answer = {"msisdn": msisdn, "available": available}
        return HTTPStatus.OK, {**answer, "alerts": [alert.as_json() for alert in alerts]}

    def _alert(self, request: Request) -> Answer:
        body = json_body(request)
        system_id = _optional_string(body, "system_id")
        alert = Alert(string_field(body, "msisdn"), string_field(body, "esme_addr"), system_id)
        return HTTPStatus.OK, {"sent": self.simulator.subscribers.alert(alert)}

    def _outbind(self, request: Request) -> Deferred:
        body = json_body(request)
        address = string_field(body, "address")
        try:
            parse_address(address)
        except ValueError as exc:
            raise BadRequest(f'"address": {exc}') from None
        password = _optional_string(body, "password") or ""
        attempt = self.simulator.outbinder.outbind(
            address, password, _optional_string(body, "system_id")
        )
        return attempt.addCallbacks(
            lambda protocol: (HTTPStatus.OK, {"bound": protocol.system_id}),
            lambda failure: _error(HTTPStatus.BAD_GATEWAY, f"outbind: {failure.value}"),
        )


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f'"{key}" must be a string')
    return value


def _where(request: Request) -> str:
    return f"no {request.method.decode()} {request.path.decode()}"


def _error(status: int, message: str) -> Answer:
    return status, {"error": message}
