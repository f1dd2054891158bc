"""The callback PUT over real sockets on 127.0.0.1 (a reactor of the test's own, never the global
one, bounded by TEST_BOUND_S): a plain-http receiver gets the body and headers, and an https
receiver whose certificate nobody vouches for (self-signed, made here with `cryptography`) is not
sent the callback: the TLS handshake fails and the attempt says so."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.selectreactor import SelectReactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from daemon.api.callback_http import AgentHttp
from daemon.api.callback_rows import Attempt
from tests.smscore.test_tls import self_signed

TEST_BOUND_S = 10.0


class Receiver(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bytes, dict[bytes, bytes], bytes]] = []

    def render_PUT(self, request) -> bytes:
        headers = {
            name.lower(): values[0] for name, values in request.requestHeaders.getAllRawHeaders()
        }
        self.seen.append((request.uri, headers, request.content.read()))
        request.setResponseCode(204)
        return b""


def run(reactor: SelectReactor, http: AgentHttp, work: Callable[[], Deferred]) -> list:
    results: list = []

    def whole() -> None:
        done = work()
        done.addBoth(results.append)
        done.addBoth(lambda _: http.close())
        done.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(whole)
    bound = reactor.callLater(TEST_BOUND_S, reactor.stop)
    reactor.run(installSignalHandlers=False)
    if bound.active():
        bound.cancel()
    return results


def test_a_put_over_a_real_socket_reaches_the_receiver():
    reactor, receiver = SelectReactor(), Receiver()
    port = reactor.listenTCP(0, Site(receiver), interface="127.0.0.1")
    http = AgentHttp(reactor, timeout_s=5.0, max_per_host=2)
    url = f"http://127.0.0.1:{port.getHost().port}/cb?ref=1"
    headers = {"Content-Type": "application/json", "X-CorrelationID": "abc"}
    results = run(reactor, http, lambda: http.put(url, headers, b'{"a":1}'))
    port.stopListening()
    assert results == [Attempt(204, "")]
    [(uri, seen, body)] = receiver.seen
    assert uri == b"/cb?ref=1" and body == b'{"a":1}'
    assert seen[b"content-type"] == b"application/json" and seen[b"x-correlationid"] == b"abc"


def test_an_https_receiver_with_an_unvouched_certificate_gets_nothing(tmp_path):
    cert, key = self_signed(tmp_path, "receiver")
    reactor, receiver = SelectReactor(), Receiver()
    options = ssl.DefaultOpenSSLContextFactory(str(key), str(cert))
    port = reactor.listenSSL(0, Site(receiver), options, interface="127.0.0.1")
    http = AgentHttp(reactor, timeout_s=5.0, max_per_host=2)
    url = f"https://127.0.0.1:{port.getHost().port}/cb"
    results = run(reactor, http, lambda: http.put(url, {"X-Signature": "sha256=00"}, b"{}"))
    port.stopListening()
    [attempt] = results
    assert attempt.status is None and not attempt.delivered
    assert attempt.error.startswith("TLS: ") and "certificate verify failed" in attempt.error
    assert receiver.seen == []
