"""How scenarios and the load generator reach a simulator: in the same process, or over HTTP."""

import json
from collections.abc import Callable
from http import HTTPStatus
from io import BytesIO
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IConnector, IDelayedCall
from twisted.internet.protocol import ClientFactory
from twisted.python.failure import Failure
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from simulators.store import MAX_PAGE

if TYPE_CHECKING:  # `smscore sim send` needs only HttpTarget: the in-process side is imported by
    # whoever holds a Simulator already
    from simulators.simulator import Simulator
    from simulators.ussd import UssdSession


class TargetError(Exception):
    """The simulator refused a request or could not be reached; one line."""


class ClientReactor(Protocol):
    """What HttpTarget needs of a reactor: TCP connections (IReactorTCP) and timers (IReactorTime,
    for the connection pool). The global reactor is both; a task.Clock is only the second."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: object, **kwargs: object
    ) -> IDelayedCall: ...

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: ClientFactory,
        timeout: float = 30.0,
        bindAddress: tuple[str, int] | None = None,
    ) -> IConnector: ...


class Target(Protocol):
    def send_mo(self, source: str, destination: str, text: str, wait: bool) -> Deferred: ...

    def messages_since(self, seq: int) -> Deferred: ...  # (messages after seq, newest seq overall)

    def stats(self) -> Deferred: ...

    # USSD dialogues (simulators/ussd_http.py): each fires with the session as the API shows it.
    def ussd_start(self, msisdn: str, code: str, system_id: str | None) -> Deferred: ...

    def ussd_answer(self, session_id: str, text: str) -> Deferred: ...

    def ussd_session(self, session_id: str) -> Deferred: ...

    def ussd_abort(self, session_id: str) -> Deferred: ...


class InProcessTarget:
    def __init__(self, simulator: "Simulator") -> None:
        self.simulator = simulator

    def send_mo(self, source: str, destination: str, text: str, wait: bool) -> Deferred:
        injected_at = self.simulator.reactor.seconds()
        acked = self.simulator.inject_mo(source, destination, text)
        answer = {"queued": 1, "injected_at": injected_at}
        if not wait:
            acked.addErrback(lambda _: None)
            return succeed(answer)
        return acked.addCallback(
            lambda result: {**answer, "acknowledged": 1, "parts": result.parts}
        )

    def messages_since(self, seq: int) -> Deferred:
        handsets = self.simulator.handsets
        messages = [message.as_json() for message in handsets.since(seq, MAX_PAGE)]
        return succeed((messages, handsets.last_seq))

    def stats(self) -> Deferred:
        return succeed(self.simulator.stats())

    def ussd_start(self, msisdn: str, code: str, system_id: str | None) -> Deferred:
        return self._ussd(lambda: self.simulator.ussd.start(msisdn, code, system_id))

    def ussd_answer(self, session_id: str, text: str) -> Deferred:
        return self._ussd(lambda: self.simulator.ussd.answer(session_id, text))

    def ussd_session(self, session_id: str) -> Deferred:
        return self._ussd(lambda: self.simulator.ussd.get(session_id))

    def ussd_abort(self, session_id: str) -> Deferred:
        return self._ussd(lambda: self.simulator.ussd.abort(session_id))

    def _ussd(self, act: Callable[[], "UssdSession"]) -> Deferred:
        from simulators.mo import InvalidMO
        from simulators.ussd import UssdError

        try:
            return succeed(act().as_json())
        except (UssdError, InvalidMO) as exc:
            return fail(TargetError(str(exc)))


class HttpTarget:
    """The control API of a running simulator, e.g. http://127.0.0.1:8775.

    `max_connections` kept open to it: as many requests as a load run has at once go out without
    waiting for a connection, and the simulator is not flooded with new ones."""

    def __init__(self, reactor: ClientReactor, base_url: str, max_connections: int = 50) -> None:
        self.base_url = base_url.rstrip("/")
        pool = HTTPConnectionPool(reactor)
        pool.maxPersistentPerHost = max_connections
        self.agent = Agent(reactor, pool=pool)

    def _call(self, method: bytes, path: str, body: Any = None) -> Deferred:
        producer = (
            FileBodyProducer(BytesIO(json.dumps(body).encode())) if body is not None else None
        )
        headers = Headers({b"content-type": [b"application/json"]})
        url = (self.base_url + path).encode()
        request = self.agent.request(method, url, headers, producer)
        request.addErrback(self._unreachable)
        return request.addCallback(self._decode)

    def _unreachable(self, failure: Failure) -> None:
        raise TargetError(
            f"cannot reach the simulator at {self.base_url}: {failure.getErrorMessage()}"
        )

    def _decode(self, response: IResponse) -> Deferred:
        def parse(raw: bytes) -> Any:
            try:
                payload = json.loads(raw)
            except ValueError:
                raise TargetError(f"the simulator answered {response.code} with non-JSON") from None
            if response.code >= HTTPStatus.BAD_REQUEST:
                raise TargetError(f"the simulator said {response.code}: {payload.get('error')}")
            return payload

        return readBody(response).addCallback(parse)

    def send_mo(self, source: str, destination: str, text: str, wait: bool) -> Deferred:
        body = {"from": source, "to": destination, "text": text, "wait": wait}
        return self._call(b"POST", "/v1/mo", body)

    def messages_since(self, seq: int) -> Deferred:
        answer = self._call(b"GET", f"/v1/messages?since={seq}&limit={MAX_PAGE}")
        return answer.addCallback(lambda payload: (payload["messages"], payload["last_seq"]))

    def stats(self) -> Deferred:
        return self._call(b"GET", "/v1/stats")

    def ussd_start(self, msisdn: str, code: str, system_id: str | None) -> Deferred:
        body = {"msisdn": msisdn, "code": code, "system_id": system_id}
        return self._call(b"POST", "/v1/ussd/sessions", body)

    def ussd_answer(self, session_id: str, text: str) -> Deferred:
        return self._call(b"POST", f"/v1/ussd/sessions/{quote(session_id)}/answer", {"text": text})

    def ussd_session(self, session_id: str) -> Deferred:
        return self._call(b"GET", f"/v1/ussd/sessions/{quote(session_id)}")

    def ussd_abort(self, session_id: str) -> Deferred:
        return self._call(b"DELETE", f"/v1/ussd/sessions/{quote(session_id)}")
