"""The callback's HTTP PUT (daemon.api.callback_http.AgentHttp, twisted.web's Agent) on a memory
reactor: what goes on the wire, and every outcome as an Attempt, never an exception: 2xx, another
status, a refused connection, no connection in time, no answer in time."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from daemon.api.callback_http import AgentHttp
from daemon.api.callback_rows import Attempt

URL = "http://127.0.0.1:8899/callbacks/transactions?ref=1"
HEADERS = {"Content-Type": "application/json", "X-Signature": "sha256=00ff"}


class Wire:
    def __init__(self, timeout_s: float = 10.0) -> None:
        self.reactor = MemoryReactorClock()
        self.http = AgentHttp(self.reactor, timeout_s, max_per_host=4)
        self.results: list = []

    def put(self, body: bytes = b'{"a":1}') -> None:
        self.http.put(URL, HEADERS, body).addBoth(self.results.append)

    def connect(self) -> StringTransport:
        host, port, factory, _timeout, _bind = self.reactor.tcpClients[-1]
        self.protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        transport = StringTransport()
        self.protocol.makeConnection(transport)
        return transport

    def answer(self, raw: bytes) -> None:
        self.protocol.dataReceived(raw)


def test_a_put_with_the_headers_and_body_and_a_2xx_is_delivered():
    wire = Wire()
    wire.put()
    host, port, _factory, connect_timeout_s, _bind = wire.reactor.tcpClients[0]
    assert (host, port, connect_timeout_s) == ("127.0.0.1", 8899, 10.0)
    sent = wire.connect().value()
    head, _, body = sent.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"PUT /callbacks/transactions?ref=1 HTTP/1.1"
    assert b"Content-Type: application/json" in lines and b"X-Signature: sha256=00ff" in lines
    assert b"Content-Length: 7" in lines and body == b'{"a":1}'
    wire.answer(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert wire.results == [Attempt(204, "")]
    assert wire.results[0].delivered


def test_another_status_is_an_attempt_with_it():
    wire = Wire()
    wire.put()
    wire.connect()
    wire.answer(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
    assert wire.results == [Attempt(503, "HTTP 503")]
    assert not wire.results[0].delivered


def test_a_refused_connection_is_an_attempt_without_a_status():
    wire = Wire()
    wire.put()
    _host, _port, factory, _timeout, _bind = wire.reactor.tcpClients[0]
    factory.clientConnectionFailed(wire.reactor.connectors[0], Failure(ConnectionRefusedError()))
    wire.reactor.advance(1)  # the endpoint reports once its other attempts are done
    [attempt] = wire.results
    assert attempt.status is None and attempt.error.startswith("ConnectionRefusedError")


def test_no_connection_in_time_gives_up_at_the_timeout():
    wire = Wire(timeout_s=2.5)
    wire.put()
    wire.reactor.advance(2.4)
    assert wire.results == []
    wire.reactor.advance(0.1)
    assert wire.results == [Attempt(None, "no answer within 2.5 s")]


def test_a_receiver_that_never_answers_is_given_up_at_the_timeout():
    wire = Wire(timeout_s=3.0)
    wire.put()
    transport = wire.connect()
    wire.reactor.advance(3.0)
    assert wire.results == [Attempt(None, "no answer within 3 s")]
    assert transport.disconnecting  # the request was cancelled, its connection dropped
