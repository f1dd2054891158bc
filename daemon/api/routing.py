"""Declaring an HTTP operation once: its method, path, models and who may call it. The declarations
give both the klein routes (`Router.klein_app`) and the OpenAPI document (daemon.api.openapi), so the
document cannot drift from what is served.

A handler takes a `Call` (the validated body and query, the path parameters, who is calling) and
returns a `Reply`, or a Deferred of one; it raises `ApiError` to refuse. It never blocks: database
work goes through `call.env.db.run_interaction`. Bodies are JSON, validated by the operation's
pydantic model before the handler runs; a body that fails is a GSMA validation error naming the field.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from klein import Klein
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError, ErrorCategory

log = Logger()
JSON_TYPE = b"application/json"
BIGINT_LIMIT = 2**63
_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Authenticator = Callable[["Call"], Any]  # returns the principal (or a Deferred of it); ApiError
Observer = Callable[["Call", int, "ApiError | None"], None]  # after every answer (the access log)


class Guard(Protocol):
    """Runs before anything else of a request (daemon.api.preauth): `enter` raises ApiError to
    refuse it; `admitted` is told once the request authenticated."""

    def enter(self, call: Call) -> None: ...

    def admitted(self, call: Call) -> None: ...


@dataclass(frozen=True)
class Header:
    """A request header an operation reads, or a response header it sends, for the document."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str  # GET, POST, PUT, DELETE
    path: str  # the OpenAPI form: /transactions/{transactionReference}
    operation_id: str
    summary: str
    tag: str
    handler: Callable[[Call], Any]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # status -> the body's model (None: no body; a dict: a plain JSON schema); error statuses get
    # errorObject by themselves.
    responses: Mapping[int, type[BaseModel] | dict | None] = field(default_factory=dict)
    auth: str | None = None  # a name in AUTHENTICATORS: "business", "channel"; None: anyone
    headers: Sequence[Header] = ()
    stream: bool = False  # text/event-stream: the handler writes the response itself
    description: str = ""
    # status -> the headers its answer carries (for the document)
    response_headers: Mapping[int, Sequence[Header]] = field(default_factory=dict)

    @property
    def path_parameters(self) -> list[str]:
        return _PATH_PARAMETER.findall(self.path)

    @property
    def klein_path(self) -> str:
        return _PATH_PARAMETER.sub(r"<string:\1>", self.path)


@dataclass
class Reply:
    status: int
    body: BaseModel | dict | list | bytes | None = None  # bytes: JSON already encoded
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One request on its way through an operation."""

    env: ApiEnv
    request: IRequest
    operation: Operation
    params: dict[str, str]
    started_ns: int
    raw_body: bytes = b""
    body: Any = None  # the operation's body model, validated
    query: Any = None  # the operation's query model, validated
    principal: Any = None  # what the operation's authenticator returned

    def header(self, name: str) -> str | None:
        value = self.request.getHeader(name)
        return value if value is None or isinstance(value, str) else value.decode("latin-1")

    @property
    def remote_ip(self) -> str:
        peer = self.request.getClientAddress()
        return getattr(peer, "host", "") or ""


class Router:
    """Operations in declaration order; `op` is the decorator route modules use."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self.authenticators: dict[str, Authenticator] = {}
        self.observers: list[Observer] = []
        self.guards: list[Guard] = []

    def op(self, method: str, path: str, operation_id: str, **details: Any) -> Callable:
        def declare(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
            if any(o.operation_id == operation_id for o in self.operations):
                raise ValueError(f"operation {operation_id} declared twice")
            self.operations.append(
                Operation(method, path, operation_id, handler=handler, **details)
            )
            return handler

        return declare

    def authenticator(self, name: str) -> Callable[[Authenticator], Authenticator]:
        def register(fn: Authenticator) -> Authenticator:
            self.authenticators[name] = fn
            return fn

        return register

    def klein_app(self, env: ApiEnv, operations: Sequence[Operation] | None = None) -> Klein:
        """The routes of `operations` (every operation by default); any other path is 404."""
        app = Klein()
        for operation in self.operations if operations is None else operations:
            # Each route its own endpoint name: klein defaults to the function's __name__, the
            # same for every operation here, and one name would take every route.
            route = app.route(
                operation.klein_path, methods=[operation.method], endpoint=operation.operation_id
            )
            route(self._endpoint(env, operation))
        app.handle_errors(NotFound, MethodNotAllowed)(self._no_route(env))
        return app

    @staticmethod
    def _no_route(env: ApiEnv) -> Callable:
        """An unknown path or method answered as the API answers everything: an errorObject."""

        def no_route(request: IRequest, failure: Failure) -> bytes:
            if failure.check(MethodNotAllowed):
                error = ApiError(
                    ErrorCategory.VALIDATION, "genericError", "method not allowed here", status=405
                )
            else:
                error = ApiError(ErrorCategory.IDENTIFICATION, "genericError", "no such resource")
            set_status(request, error.status)
            request.setHeader(b"content-type", JSON_TYPE)
            return dump_json(error.body(env.now_ns()))

        return no_route

    def _endpoint(self, env: ApiEnv, operation: Operation) -> Callable:
        def endpoint(request: IRequest, **params: str) -> Deferred:
            call = Call(env, request, operation, params, started_ns=time.monotonic_ns())
            done = maybeDeferred(self._run, call)
            done.addCallbacks(self._answer, self._refuse, callbackArgs=(call,), errbackArgs=(call,))
            return done

        return endpoint

    def _run(self, call: Call) -> Deferred:
        for guard in self.guards:
            guard.enter(call)
        read_raw_body(call)  # only the size before authentication: parsing is for callers
        if call.operation.auth is None:
            parse_input(call)
            return maybeDeferred(call.operation.handler, call)
        authenticate = self.authenticators[call.operation.auth]
        authenticated = maybeDeferred(authenticate, call)
        return authenticated.addCallback(self._with_principal, call)

    def _with_principal(self, principal: Any, call: Call) -> Deferred:
        call.principal = principal
        for guard in self.guards:
            guard.admitted(call)
        parse_input(call)
        return maybeDeferred(call.operation.handler, call)

    def _answer(self, reply: Reply | None, call: Call) -> bytes:
        if reply is None:  # a stream, written by its handler
            self._observe(call, 200, None)
            return b""
        request = call.request
        set_status(request, reply.status)
        for name, value in reply.headers.items():
            request.setHeader(name, value)
        self._observe(call, reply.status, None)
        if reply.body is None:
            return b""
        request.setHeader(b"content-type", JSON_TYPE)
        return dump_json(reply.body)

    def _refuse(self, failure: Failure, call: Call) -> bytes:
        error = failure.value
        if failure.check(OverflowError, DataError):  # a value out of the database's range
            error = ApiError(ErrorCategory.VALIDATION, "formatError", "a value is out of range")
        elif not isinstance(error, ApiError):
            log.failure("api: {operation} failed", failure, operation=call.operation.operation_id)
            error = ApiError(ErrorCategory.INTERNAL, "genericError", "internal error")
        request = call.request
        set_status(request, error.status)
        for name, value in error.headers.items():
            request.setHeader(name, value)
        request.setHeader(b"content-type", JSON_TYPE)
        self._observe(call, error.status, error)
        return dump_json(error.body(call.env.now_ns()))

    def _observe(self, call: Call, status: int, error: ApiError | None) -> None:
        for observer in self.observers:
            try:
                observer(call, status, error)
            except Exception:  # the access log must never turn an answer into a failure
                log.failure("api: observer failed", Failure())


def set_status(request: IRequest, status: int) -> None:
    """The status with its reason phrase: twisted.web knows none for 429 ("Unknown Status")."""
    try:
        phrase = HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        phrase = None
    request.setResponseCode(status, phrase)


def dump_json(body: BaseModel | dict | list | bytes) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, BaseModel):
        return body.model_dump_json(by_alias=True, exclude_none=True).encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def read_raw_body(call: Call) -> None:
    limit = call.env.config.api.max_body_bytes
    raw = call.request.content.read(limit + 1) if call.request.content is not None else b""
    if len(raw) > limit:
        raise ApiError(ErrorCategory.VALIDATION, "lengthError", f"body over {limit} bytes")
    call.raw_body = raw


def parse_input(call: Call) -> None:
    """The JSON body and the query string, validated by the operation's models (ApiError)."""
    raw = call.raw_body
    operation = call.operation
    if operation.query is not None:
        call.query = validate(operation.query, _query_args(call.request))
        _check_bounds(call.query)
    if operation.body is not None:
        try:
            data = json.loads(raw or b"null")
        except (ValueError, RecursionError):  # not UTF-8 or JSON, too deep, too long a number
            raise ApiError(ErrorCategory.VALIDATION, "formatError", "body is not JSON") from None
        call.body = validate(operation.body, data)


def _query_args(request: IRequest) -> dict[str, str]:
    try:
        return {k.decode(): v[-1].decode() for k, v in (request.args or {}).items()}
    except UnicodeDecodeError:
        raise ApiError(ErrorCategory.VALIDATION, "formatError", "query is not UTF-8") from None


def _check_bounds(query: BaseModel) -> None:
    """Every integer of a query fits a database integer (a larger one overflows the driver)."""
    for name, value in query:
        if isinstance(value, int) and not -BIGINT_LIMIT <= value < BIGINT_LIMIT:
            raise ApiError(
                ErrorCategory.VALIDATION, "formatError", f"{name}: out of range", {"field": name}
            )


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failure(exc) from None


def validation_failure(exc: ValidationError) -> ApiError:
    """The first problem as the specification phrases it: mandatoryValueNotSupplied for a missing
    field, formatError for one that is malformed; errorParameters name the field."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    code = "mandatoryValueNotSupplied" if first["type"] == "missing" else "formatError"
    message = first["msg"].removeprefix("Value error, ")
    return ApiError(ErrorCategory.VALIDATION, code, f"{where}: {message}", {"field": where})


ROUTER = Router()  # the one router every route module declares its operations on
