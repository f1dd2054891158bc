"""How a callback reaches its receiver: one HTTP PUT through twisted.web's Agent (never blocking
the reactor), given up after `timeout_s` (connecting included). Whatever happens is an `Attempt`,
never an exception: a status, or no status and the reason (refused, timed out, a TLS failure).

HTTPS certificates are checked against the system's trust store (Agent's default policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol as Interface

from OpenSSL import SSL
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed, ResponseNeverReceived
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IResponse
from zope.interface import implementer

from daemon.api.callback_rows import Attempt

_ANSWER_MAX_BYTES = 1 << 16  # what the receiver says is not read, only drained this far
_REASON_MAX_CHARS = 200


class CallbackHttp(Interface):
    """The deliverer's view of HTTP (tests give it a fake)."""

    def put(self, url: str, headers: Mapping[str, str], body: bytes) -> Deferred[Attempt]: ...

    def close(self) -> Deferred: ...


class AgentHttp:
    def __init__(self, reactor: IReactorTime, timeout_s: float, max_per_host: int) -> None:
        self.reactor = reactor
        self.timeout_s = timeout_s
        self.pool = pool = HTTPConnectionPool(reactor)
        pool.maxPersistentPerHost = max_per_host
        self.agent = Agent(reactor, pool=pool, connectTimeout=timeout_s)

    def close(self) -> Deferred:
        return self.pool.closeCachedConnections()

    def put(self, url: str, headers: Mapping[str, str], body: bytes) -> Deferred[Attempt]:
        sent = Headers({name.encode(): [value.encode()] for name, value in headers.items()})
        answer = self.agent.request(b"PUT", url.encode("ascii"), sent, _Bytes(body))
        answer.addCallback(_drained)
        answer.addTimeout(self.timeout_s, self.reactor, onTimeoutCancel=_timed_out)
        return answer.addErrback(_no_answer)


@implementer(IBodyProducer)
class _Bytes:
    """A body written at once (FileBodyProducer needs the global reactor's cooperator)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer) -> Deferred:
        consumer.write(self.data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Drain(Protocol):
    """Reads and forgets the receiver's answer (so its connection can be reused), up to a bound."""

    def __init__(self, done: Deferred[None]) -> None:
        self.done = done
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > _ANSWER_MAX_BYTES:
            self.transport.stopProducing()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(None)  # the status is what counts, however the body ended


def _drained(response: IResponse) -> Deferred[Attempt]:
    done: Deferred[None] = Deferred()
    response.deliverBody(_Drain(done))
    code = response.code
    error = "" if 200 <= code < 300 else f"HTTP {code}"
    return done.addCallback(lambda _: Attempt(code, error))


def _timed_out(result: object, timeout_s: float) -> Attempt:
    return Attempt(None, f"no answer within {timeout_s:g} s")


def _no_answer(failure: Failure) -> Attempt:
    # Refused, lost, a DNS or TLS failure: the reason's first line, which never holds the body
    # or a header. The client wraps what broke a request (a TLS handshake...) in a list.
    if failure.check(ResponseNeverReceived, ResponseFailed) and failure.value.reasons:
        failure = failure.value.reasons[0]
    message = failure.getErrorMessage()
    text = message.splitlines()[0] if message else ""
    name = "TLS" if failure.check(SSL.Error) else failure.type.__name__
    return Attempt(None, f"{name}: {text}"[:_REASON_MAX_CHARS])
