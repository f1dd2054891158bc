"""The USSD part of the control API (simulators/http.py routes /v1/ussd/... here).

POST   /v1/ussd/sessions               {"msisdn", "code", "system_id"?}   -> 201 the session
GET    /v1/ussd/sessions                                                  -> {"sessions", "open"}
GET    /v1/ussd/sessions/{id}                                             -> the session
POST   /v1/ussd/sessions/{id}/answer   {"text"}                           -> the session
DELETE /v1/ussd/sessions/{id}          the subscriber hangs up            -> the session

A session is {"id", "msisdn", "code", "state", "waiting", "screen", "final", "screens", ...}, state
one of waiting_screen / waiting_answer / ended / aborted / timed_out (simulators.ussd). Screens come
from the ESME over SMPP, after the request that asked for them: `?wait_s=S` (at most MAX_WAIT_S) on
any of the session's requests answers once the session no longer waits for a screen, or after S
seconds. Errors: {"error"} with 400 (bad body or parameter), 404 (no such session), 409 (not in a
state that allows it; no account speaks USSD), 503 (too many sessions open).
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.web.server import Request

from simulators.http_requests import BadRequest, json_body, query, string_field
from simulators.mo import InvalidMO
from simulators.ussd import (
    NoUssdRoute,
    SessionConflict,
    TooManySessions,
    UnknownSession,
    UssdError,
    UssdSession,
)

if TYPE_CHECKING:
    from simulators.ussd import UssdNetwork

SESSIONS = b"/v1/ussd/sessions"
MAX_WAIT_S = 10.0  # a script's wait for a screen: longer ties up a connection for nothing
MAX_ANSWER_CHARS = 182  # one USSD string
Answer = tuple[int, Any]
_STATUS_OF = {
    UnknownSession: HTTPStatus.NOT_FOUND,
    SessionConflict: HTTPStatus.CONFLICT,
    NoUssdRoute: HTTPStatus.CONFLICT,
    TooManySessions: HTTPStatus.SERVICE_UNAVAILABLE,
}


def handles(path: bytes) -> bool:
    return path == SESSIONS or path.startswith(SESSIONS + b"/")


class UssdAPI:
    def __init__(self, network: UssdNetwork) -> None:
        self.network = network
        self._handlers = {
            (b"POST", "sessions"): self._start,
            (b"GET", "sessions"): self._list,
            (b"GET", "session"): self._get,
            (b"DELETE", "session"): self._abort,
            (b"POST", "answer"): self._answer,
        }

    def render(self, request: Request) -> Answer | Deferred:
        """(status, payload), or a Deferred of one; raises BadRequest."""
        parts = request.path[len(SESSIONS) :].decode("utf-8", "replace").strip("/").split("/")
        if parts == [""]:
            kind, args = "sessions", ()
        elif len(parts) == 1:
            kind, args = "session", (parts[0],)
        elif len(parts) == 2 and parts[1] == "answer":
            kind, args = "answer", (parts[0],)
        else:
            return _error(HTTPStatus.NOT_FOUND, f"no {request.path.decode()}")
        handler = self._handlers.get((request.method, kind))
        if handler is None:
            where = f"{request.method.decode()} {request.path.decode()}"
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, f"no {where}")
        try:
            return handler(request, *args)
        except UssdError as exc:
            return _error(_STATUS_OF.get(type(exc), HTTPStatus.CONFLICT), str(exc))
        except InvalidMO as exc:
            raise BadRequest(str(exc)) from None

    def _start(self, request: Request) -> Answer | Deferred:
        body = json_body(request)
        msisdn, code = string_field(body, "msisdn"), string_field(body, "code")
        system_id = body.get("system_id")
        if system_id is not None and not isinstance(system_id, str):
            raise BadRequest('"system_id" must be a string')
        wait_s = _wait_s(request)  # checked before anything is sent
        session = self.network.start(msisdn, code, system_id)
        return self._wait(request, session, HTTPStatus.CREATED, wait_s)

    def _answer(self, request: Request, session_id: str) -> Answer | Deferred:
        text = string_field(json_body(request), "text")
        if len(text) > MAX_ANSWER_CHARS:
            raise BadRequest(f'"text" longer than {MAX_ANSWER_CHARS} characters')
        wait_s = _wait_s(request)
        return self._wait(request, self.network.answer(session_id, text), HTTPStatus.OK, wait_s)

    def _get(self, request: Request, session_id: str) -> Answer | Deferred:
        return self._wait(request, self.network.get(session_id), HTTPStatus.OK)

    def _abort(self, request: Request, session_id: str) -> Answer:
        return HTTPStatus.OK, self.network.abort(session_id).as_json()

    def _list(self, request: Request) -> Answer:
        summaries = []
        for session in self.network.sessions():
            summary = session.as_json()
            del summary["screens"]
            summaries.append(summary)
        return HTTPStatus.OK, {"sessions": summaries, "open": self.network.open_count}

    def _wait(
        self, request: Request, session: UssdSession, status: int, wait_s: float | None = None
    ) -> Answer | Deferred:
        wait_s = _wait_s(request) if wait_s is None else wait_s
        if not wait_s:
            return status, session.as_json()
        waited = self.network.wait(session, wait_s)
        return waited.addCallback(lambda session: (status, session.as_json()))


def _wait_s(request: Request) -> float:
    text = query(request, b"wait_s")
    if text is None:
        return 0.0
    try:
        wait_s = float(text)
    except ValueError:
        wait_s = math.nan
    if not 0 <= wait_s <= MAX_WAIT_S:
        raise BadRequest(f"wait_s must be a number of seconds 0..{MAX_WAIT_S:g}, not {text!r}")
    return wait_s


def _error(status: int, message: str) -> Answer:
    return status, {"error": message}
