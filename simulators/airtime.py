"""A simulated airtime provider, served by the simulator's HTTP server (simulators/http.py), with
faults per number or for every number. It speaks the API daemon.money.airtime_gateway expects:

POST /airtime/v1/topups        {"id", "msisdn", "amount_minor", "currency"}  -> the order's status
GET  /airtime/v1/topups/{id}   -> its status; 404 if the provider never got it
GET|POST /v1/airtime/faults    {"default": FAULT | null, "numbers": {"2547...": FAULT | null}}
GET  /v1/airtime/orders        what was bought: each order with its top-ups and queries

A status is {"id", "status": "succeeded" | "failed" | "pending", "provider_ref"?, "reason"?}.
Idempotent on our id: a top-up sent again is answered with the order as it stands, never bought
twice. A FAULT is {"kind": ...}:
- success: bought, answered at once (the default);
- failure: refused ("reason");
- timeout: never answered; queries say pending, or succeeded after `succeed_after_queries`;
- slow: bought, answered after `delay_s`;
- late_success: answered failed, but bought after all: queries say succeeded;
- error_5xx: the first `times` requests answered `status` (503) with nothing bought; then a success.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twisted.internet.interfaces import IReactorTime
from twisted.web.server import NOT_DONE_YET, Request

from simulators.json_answers import finish_json, json_answer

TOPUPS = b"/airtime/v1/topups"
FAULTS = b"/v1/airtime/faults"
ORDERS = b"/v1/airtime/orders"
MAX_BODY_BYTES = 1 << 16


class AirtimeFaultError(ValueError):
    """A fault spec that cannot be used; one line."""


class AirtimeFault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["success", "failure", "timeout", "slow", "late_success", "error_5xx"] = "success"
    reason: str = "the number cannot take airtime"
    delay_s: float = Field(1.0, gt=0, le=600)
    succeed_after_queries: int | None = Field(None, ge=0)
    status: int = Field(503, ge=500, le=599)
    times: int = Field(1, ge=1, le=1000)


class AirtimeProviderConfig(BaseModel):
    """`[airtime]` of the simulator's config: credentials (none: any are taken) and faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str | None = None
    password: str | None = None
    default: AirtimeFault = AirtimeFault()
    numbers: dict[str, AirtimeFault] = Field(default_factory=dict)


@dataclass
class ProviderOrder:
    id: str
    msisdn: str
    amount_minor: int
    fault: AirtimeFault
    status: str  # succeeded | failed | pending
    provider_ref: str
    topups: int = 0  # times the airtime was bought: never more than 1
    requests: int = 0
    queries: int = 0

    def answer(self) -> dict[str, Any]:
        found: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.status == "succeeded":
            found["provider_ref"] = self.provider_ref
        if self.status == "failed":
            found["reason"] = self.fault.reason
        return found


def _fault(spec: Any, where: str) -> AirtimeFault | None:
    if spec is None:
        return None
    try:
        return AirtimeFault.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise AirtimeFaultError(f"{where}.{key}: {error['msg']}" if key else where) from None


class AirtimeProvider:
    def __init__(self, reactor: IReactorTime, config: AirtimeProviderConfig | None = None) -> None:
        self.reactor = reactor
        self.config = config = config or AirtimeProviderConfig()
        self.default = config.default
        self.numbers: dict[str, AirtimeFault] = dict(config.numbers)
        self.orders: dict[str, ProviderOrder] = {}
        self._refs = itertools.count(1)
        self._failed_requests: dict[str, int] = {}  # error_5xx: requests answered 5xx, by id

    def handles(self, path: bytes) -> bool:
        return path.startswith(TOPUPS) or path in (FAULTS, ORDERS)

    # --- faults

    def configure(self, body: dict[str, Any]) -> None:
        """Set the default fault and per-number faults (null: back to the default); all or none."""
        unknown = set(body) - {"default", "numbers"}
        if unknown:
            raise AirtimeFaultError(f"unknown keys {sorted(unknown)}: use default, numbers")
        numbers = body.get("numbers") or {}
        if not isinstance(numbers, dict):
            raise AirtimeFaultError("numbers must be an object of number: fault")
        default = _fault(body["default"], "default") if "default" in body else self.default
        changes = {msisdn: _fault(spec, f"numbers.{msisdn}") for msisdn, spec in numbers.items()}
        self.default = default or AirtimeFault()
        for msisdn, fault in changes.items():
            if fault is None:
                self.numbers.pop(msisdn, None)
            else:
                self.numbers[msisdn] = fault

    def describe(self) -> dict[str, Any]:
        return {
            "default": self.default.model_dump(),
            "numbers": {n: f.model_dump() for n, f in self.numbers.items()},
        }

    def fault_for(self, msisdn: str) -> AirtimeFault:
        return self.numbers.get(msisdn, self.default)

    # --- HTTP

    def render(self, request: Request) -> bytes | int:
        path, method = request.path, request.method
        if path == FAULTS:
            if method == b"POST":
                try:
                    self.configure(_body(request))
                except ValueError as exc:  # AirtimeFaultError, or a body that is not JSON
                    return json_answer(
                        request, HTTPStatus.BAD_REQUEST, {"error": f"airtime: {exc}"}
                    )
            return json_answer(request, HTTPStatus.OK, self.describe())
        if path == ORDERS:
            orders = [vars(order) | {"fault": order.fault.kind} for order in self.orders.values()]
            return json_answer(request, HTTPStatus.OK, {"orders": orders})
        if not self._authorised(request):
            return json_answer(request, HTTPStatus.UNAUTHORIZED, {"error": "bad credentials"})
        if path == TOPUPS and method == b"POST":
            return self._topup(request)
        if path.startswith(TOPUPS + b"/") and method == b"GET":
            return self._query(request, path[len(TOPUPS) + 1 :].decode("utf-8", "replace"))
        return json_answer(request, HTTPStatus.NOT_FOUND, {"error": "no such airtime endpoint"})

    def _authorised(self, request: Request) -> bool:
        if self.config.username is None:
            return True
        secret = f"{self.config.username}:{self.config.password or ''}".encode()
        expected = b"Basic " + base64.b64encode(secret)
        return request.getHeader(b"authorization") == expected

    def _topup(self, request: Request) -> bytes | int:
        try:
            body = _body(request)
            key, msisdn, amount = str(body["id"]), str(body["msisdn"]), int(body["amount_minor"])
        except (ValueError, KeyError, TypeError) as exc:
            return json_answer(request, HTTPStatus.BAD_REQUEST, {"error": f"bad top-up: {exc}"})
        order = self.orders.get(key)
        if order is not None:  # idempotent: the same id is never bought twice
            order.requests += 1
            return json_answer(request, HTTPStatus.OK, order.answer())
        fault = self.fault_for(msisdn)
        if fault.kind == "error_5xx":
            failed = self._failed_requests[key] = self._failed_requests.get(key, 0) + 1
            if failed <= fault.times:
                return json_answer(request, fault.status, {"error": "the provider is unwell"})
        order = self.orders[key] = self._new_order(key, msisdn, amount, fault)
        order.requests += 1
        if fault.kind == "timeout":
            return NOT_DONE_YET  # never answered; the client gives up
        if fault.kind == "slow":
            self.reactor.callLater(
                fault.delay_s, finish_json, request, HTTPStatus.OK, order.answer()
            )
            return NOT_DONE_YET
        if fault.kind == "late_success":
            return json_answer(request, HTTPStatus.OK, {"id": key, "status": "failed",
                                                  "reason": fault.reason})  # fmt: skip
        return json_answer(request, HTTPStatus.OK, order.answer())

    def _new_order(self, key: str, msisdn: str, amount: int, fault: AirtimeFault) -> ProviderOrder:
        bought = fault.kind in ("success", "slow", "late_success", "error_5xx")
        status = "succeeded" if bought else "failed" if fault.kind == "failure" else "pending"
        order = ProviderOrder(key, msisdn, amount, fault, status, f"SIM{next(self._refs):06d}")
        order.topups = 1 if bought else 0
        return order

    def _query(self, request: Request, key: str) -> bytes:
        order = self.orders.get(key)
        if order is None:
            return json_answer(request, HTTPStatus.NOT_FOUND, {"id": key, "status": "not_found"})
        order.queries += 1
        after = order.fault.succeed_after_queries
        if order.status == "pending" and after is not None and order.queries > after:
            order.status, order.topups = "succeeded", 1
        return json_answer(request, HTTPStatus.OK, order.answer())


def _body(request: Request) -> dict[str, Any]:
    raw = request.content.read(MAX_BODY_BYTES + 1) if request.content is not None else b""
    body = json.loads(raw or b"null")
    if not isinstance(body, dict):
        raise AirtimeFaultError("the body must be a JSON object")
    return body
