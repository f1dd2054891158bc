"""The business's side of HTTP in the demo, on the demo's reactor (nothing here blocks it): a client
its server calls the business API with (twisted.web's Agent, the key in X-API-Key), and the small
twisted.web receiver its callbacks are PUT to, which checks each X-Signature with the business's
secret as a business's own server would."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import Agent, FileBodyProducer, PotentialDataLoss, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from daemon.api.callback_keys import signed_bytes

ANSWER_MAX_BYTES = 1 << 20  # the demo's answers are small; a bigger one is cut off here
SIGNATURE_PREFIX = "sha256="


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str  # the body as sent (JSON)


class ApiClient:
    """Requests to the business API at `base_url` (http://HOST:PORT) with the business's key.
    A new connection per request (Agent's default pool): none is left open when the demo stops."""

    def __init__(self, reactor: IReactorTime, base_url: str, key: str, timeout_s: float) -> None:
        self.reactor = reactor
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout_s = timeout_s
        self.agent = Agent(reactor, connectTimeout=timeout_s)

    def call(
        self, method: str, path: str, body: str = "", headers: Mapping[str, str] | None = None
    ) -> Deferred[Answer]:
        sent = Headers({b"x-api-key": [self.key.encode()], b"accept": [b"application/json"]})
        for name, value in (headers or {}).items():
            sent.setRawHeaders(name.encode(), [value.encode()])
        producer = None
        if body:
            sent.setRawHeaders(b"content-type", [b"application/json"])
            producer = FileBodyProducer(BytesIO(body.encode()))
        url = (self.base_url + path).encode("ascii")
        answer = self.agent.request(method.encode("ascii"), url, sent, producer)
        answer.addCallback(_read)
        return answer.addTimeout(self.timeout_s, self.reactor)


class _Body(Protocol):
    def __init__(self, done: Deferred[bytes]) -> None:
        self.done = done
        self.parts: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= ANSWER_MAX_BYTES:
            self.parts.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


def _read(response: IResponse) -> Deferred[Answer]:
    body: Deferred[bytes] = Deferred()
    response.deliverBody(_Body(body))
    return body.addCallback(lambda raw: Answer(response.code, raw.decode("utf-8", "replace")))


@dataclass(frozen=True, slots=True)
class Callback:
    """One PUT the receiver took: its path, headers (lower-case names) and the exact body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def genuine(self, secret_hex: str) -> bool:
        """X-Signature is the HMAC-SHA256, with the secret staff gave the business, of the X-Date
        header, a newline and this body (daemon.api.callback_keys.signed_bytes)."""
        signed = signed_bytes(self.headers.get("x-date", ""), self.body)
        mac = hmac.new(bytes.fromhex(secret_hex), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-signature", ""), SIGNATURE_PREFIX + mac)


class CallbackReceiver(Resource):
    """Takes every PUT under its URL and answers 200; what came is in `received`, in order."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Callback] = []
        self.port: IListeningPort | None = None

    def listen(self, reactor: IReactorTCP) -> str:
        """Start listening on a free port of 127.0.0.1; returns HOST:PORT."""
        site = Site(self)
        site.noisy = False  # no "Starting factory <...>" line in the demo's log
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        address = self.port.getHost()
        return f"{address.host}:{address.port}"  # type: ignore[attr-defined]

    def stop(self) -> Deferred | None:
        port, self.port = self.port, None
        return port.stopListening() if port is not None else None

    def render_PUT(self, request: Request) -> bytes:
        headers = {
            name.decode("latin-1").lower(): values[0].decode("latin-1")
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        body = request.content.read() if request.content is not None else b""
        self.received.append(Callback(request.path.decode("latin-1"), headers, body))
        request.setHeader(b"content-type", b"application/json")
        return b"{}"

    def find(self, correlation_id: str) -> Callback | None:
        """The first callback for the request the business named `correlation_id`."""
        for callback in self.received:
            if callback.headers.get("x-correlationid") == correlation_id:
                return callback
        return None
