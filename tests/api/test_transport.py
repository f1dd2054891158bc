"""The API server's transport bounds (review 15, finding 10): an idle timeout for reading a
request, a cap on open connections, and a body over max_body_bytes refused from its Content-Length
(or, chunked, once past the limit) without being read or stored."""

from __future__ import annotations

import json

from sqlalchemy import Engine
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from daemon.api.server import api_factory
from tests.api.world import ApiWorld

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


def _connect(world: ApiWorld, clock: Clock) -> tuple:
    world.site.reactor = clock
    protocol = world.site.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return protocol, transport


def _answer(transport: StringTransport) -> tuple[bytes, dict]:
    head, _, body = transport.value().partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


def test_a_declared_length_over_the_limit_is_refused_before_the_body(engine: Engine) -> None:
    world = ApiWorld(engine, api={"max_body_bytes": 2048})
    protocol, transport = _connect(world, Clock())
    protocol.dataReceived(
        b"POST /transactions/type/transfer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
    )
    status, body = _answer(transport)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert (body["errorCategory"], body["errorCode"]) == ("validation", "lengthError")
    assert transport.disconnecting
    protocol.dataReceived(b"x" * 100_000)  # whatever still arrives is not kept
    assert protocol._channel.requests[-1].content.tell() == 0


def test_a_chunked_body_past_the_limit_is_refused(engine: Engine) -> None:
    world = ApiWorld(engine, api={"max_body_bytes": 2048})
    protocol, transport = _connect(world, Clock())
    protocol.dataReceived(
        b"POST /transactions/type/transfer HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"1000\r\n" + b"x" * 4096 + b"\r\n"
    )
    status, body = _answer(transport)
    assert status == b"HTTP/1.1 400 Bad Request" and body["errorCode"] == "lengthError"
    assert transport.disconnecting


def test_a_slow_request_times_out(engine: Engine) -> None:
    world = ApiWorld(engine, api={"request_timeout_s": 30})
    clock = Clock()
    protocol, transport = _connect(world, clock)
    protocol.dataReceived(b"GET /heartbeat HTTP/1.1\r\n")
    clock.advance(29)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting


def test_open_connections_are_capped(engine: Engine) -> None:
    world = ApiWorld(engine, api={"max_connections": 2})
    world.site.reactor = Clock()
    factory = api_factory(world.site, world.config.api)
    first, second = factory.buildProtocol(PEER), factory.buildProtocol(PEER)
    for protocol in (first, second):
        protocol.makeConnection(StringTransport(peerAddress=PEER))
    assert factory.buildProtocol(PEER) is None  # refused: closed at once
    first.connectionLost(Failure(ConnectionDone()))
    assert factory.buildProtocol(PEER) is not None
