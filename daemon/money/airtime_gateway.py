"""The airtime gateway: how an order reaches the provider, and what the provider said.

`AirtimeGateway` is the interface (a top-up, and a query of an earlier one by our id); `HttpGateway`
speaks the provider's HTTP JSON API without blocking the reactor. Every request carries the
credentials (HTTP Basic) and our order's id as its idempotency key, so a top-up sent twice (a retry
after a lost answer, a restart) is bought once by the provider.

The provider's API (the bundled simulator serves it: simulators/airtime.py):
  POST {url}/topups        {"id", "msisdn", "amount_minor", "currency"}  (Idempotency-Key: id)
  GET  {url}/topups/{id}
  -> 200 {"id", "status": "succeeded" | "failed" | "pending", "provider_ref"?, "reason"?}
  -> 404 on a query: the provider has no such order (it never got the top-up).
Anything else (a timeout, 5xx, a refused connection, a body we cannot read) is an unknown outcome:
the order is queried again later, never guessed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from typing import Protocol as Interface
from urllib.parse import quote

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IResponse
from zope.interface import implementer

from daemon.config import AirtimeConfig

log = Logger()
MAX_PASSWORD_CHARS = 256
MAX_BODY_BYTES = 1 << 16  # an answer is a few dozen bytes: a bound on what we read
_MAX_REASON_CHARS = 120


class GatewayConfigError(Exception):
    """The gateway cannot be set up (its password file is missing or empty); one line."""


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"  # the provider topped the number up
    FAILED = "failed"  # the provider says it did not, and will not
    UNKNOWN = "unknown"  # no answer we can act on: ask again later
    NOT_FOUND = "not_found"  # (a query) the provider never got the top-up: safe to send it


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    provider_ref: str = ""
    reason: str = ""  # why it failed or is unknown, for the order's last_error (never a secret)

    @classmethod
    def succeeded(cls, provider_ref: str) -> Outcome:
        return cls(OutcomeKind.SUCCEEDED, provider_ref=provider_ref)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.FAILED, reason=reason[:_MAX_REASON_CHARS])

    @classmethod
    def unknown(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.UNKNOWN, reason=reason[:_MAX_REASON_CHARS])


@dataclass(frozen=True, slots=True)
class TopUp:
    """One order as the provider sees it: our id (the idempotency key), the number, the amount."""

    id: str
    msisdn: str
    amount_minor: int
    currency: str


class AirtimeGateway(Interface):
    def topup(self, order: TopUp) -> Deferred[Outcome]: ...

    def query(self, order: TopUp) -> Deferred[Outcome]: ...


def read_password(config: AirtimeConfig) -> str:
    """The provider's password from airtime.password_file; GatewayConfigError (never showing it)."""
    path: Path | None = config.password_file
    if path is None:
        raise GatewayConfigError("required when airtime.enabled is true")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GatewayConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', exc)}") from None
    password = text.strip()
    if not password or "\n" in password or len(password) > MAX_PASSWORD_CHARS:
        raise GatewayConfigError(f"{path}: must hold the password on one line")
    return password


class HttpGateway:
    """The provider's HTTP JSON API through twisted.web's Agent; each request gives up after
    `timeout_s` (connecting included) with an unknown outcome."""

    def __init__(self, reactor: IReactorTime, config: AirtimeConfig, password: str) -> None:
        self.reactor = reactor
        self.base_url = config.url.rstrip("/")
        self.timeout_s = config.timeout_s
        self.pool = pool = HTTPConnectionPool(reactor)
        pool.maxPersistentPerHost = config.batch_size
        self.agent = Agent(reactor, pool=pool, connectTimeout=config.timeout_s)
        token = base64.b64encode(f"{config.username}:{password}".encode()).decode()
        self._authorization = f"Basic {token}".encode()  # kept out of every log line

    def close(self) -> Deferred:
        """Close the connections kept open to the provider (at stop)."""
        return self.pool.closeCachedConnections()

    def topup(self, order: TopUp) -> Deferred[Outcome]:
        body = {
            "id": order.id,
            "msisdn": order.msisdn,
            "amount_minor": order.amount_minor,
            "currency": order.currency,
        }
        return self._call(b"POST", "/topups", order.id, body)

    def query(self, order: TopUp) -> Deferred[Outcome]:
        return self._call(b"GET", f"/topups/{quote(order.id, safe='')}", order.id, None)

    def _call(self, method: bytes, path: str, key: str, body: Any) -> Deferred[Outcome]:
        headers = Headers(
            {
                b"authorization": [self._authorization],
                b"idempotency-key": [key.encode()],
                b"content-type": [b"application/json"],
                b"accept": [b"application/json"],
            }
        )
        producer = _JsonBody(body) if body else None
        url = (self.base_url + path).encode()
        answer = self.agent.request(method, url, headers, producer)
        answer.addCallback(lambda response: _read(response, querying=method == b"GET"))
        answer.addTimeout(self.timeout_s, self.reactor, onTimeoutCancel=_timed_out)
        return answer.addErrback(_unreachable)


@implementer(IBodyProducer)
class _JsonBody:
    """A small JSON body written at once (FileBodyProducer would need the global reactor's
    cooperator, which a gateway given another reactor may not have running)."""

    def __init__(self, body: object) -> None:
        self.data = json.dumps(body).encode()
        self.length = len(self.data)

    def startProducing(self, consumer) -> Deferred:
        consumer.write(self.data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Body(Protocol):
    """Collects a response body of at most MAX_BODY_BYTES (readBody warns about the transports
    of twisted's own HTTP client)."""

    def __init__(self, done: Deferred[bytes]) -> None:
        self.done = done
        self.parts: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_BODY_BYTES:
            self.transport.stopProducing()  # type: ignore[union-attr]
            return
        self.parts.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.size > MAX_BODY_BYTES:
            self.done.errback(ValueError(f"a body over {MAX_BODY_BYTES} bytes"))
        elif reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


def _read(response: IResponse, querying: bool) -> Deferred[Outcome]:
    body: Deferred[bytes] = Deferred()
    response.deliverBody(_Body(body))
    return body.addCallback(lambda raw: _outcome(response.code, raw, querying))


def _outcome(code: int, raw: bytes, querying: bool) -> Outcome:
    if code == 404 and querying:
        return Outcome(OutcomeKind.NOT_FOUND, reason="the provider has no such order")
    if code != 200:
        if code in (401, 403):  # our credentials: every order will meet this until it is fixed
            log.error("airtime provider refused our credentials (HTTP {code})", code=code)
        return Outcome.unknown(f"HTTP {code}")
    try:
        payload = json.loads(raw)
        status = payload["status"]
    except (ValueError, KeyError, TypeError):
        return Outcome.unknown("HTTP 200 with a body that is not an answer")
    if status == "succeeded":
        return Outcome.succeeded(str(payload.get("provider_ref") or "")[:64])
    if status == "failed":
        return Outcome.failed(str(payload.get("reason") or "refused by the provider"))
    return Outcome.unknown(f"the provider says {str(status)[:40]}")


def _timed_out(result: object, timeout_s: float) -> Outcome:
    return Outcome.unknown(f"no answer: timeout after {timeout_s} s")


def _unreachable(failure: Failure) -> Outcome:
    # A timeout (TimeoutError from addTimeout), a refused or lost connection: the top-up may or
    # may not have been bought.
    return Outcome.unknown(f"no answer: {failure.type.__name__}: {failure.getErrorMessage()}"[:120])
