"""The live event stream of the control API: GET /v1/events, server-sent events (text/event-stream).

Each event is one `data:` line of JSON with a "type": "hello" (first, with the simulator's clock),
"phone" (that number's thread changed: read GET /v1/phones/{msisdn}/thread), "phones" (the named
phones changed), "stats" (counters and binds, sent once a second while they change), "run" (a
scenario or load run moved on: the run as GET /v1/runs/{id} shows it). Events are hints that
replace each other: a client's queue holds at most one event per key (a phone's number, a run's
id), the newest.

Backpressure: each client is a push producer on its connection. While the connection's buffer is
full (the client reads slowly) events wait in the client's queue, at most `max_queue` of them;
one more and the client is dropped (its connection closed; it may reconnect and read afresh),
so a slow or stalled client costs a bounded amount of memory, never an unbounded buffer.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

MAX_QUEUE = 256  # events waiting for one slow client before it is dropped
MAX_CLIENTS = 32  # open streams; one more is answered 503
TICK_S = 1.0  # how often ticks run (the stats event) while a client is connected
KEEPALIVE_TICKS = 15  # a comment line this often, so proxies and dead peers show up
RETRY_MS = 2_000  # what an EventSource waits before reconnecting after a drop


def _key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["type"], event.get("msisdn"), event.get("id"))


def encode(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


@implementer(IPushProducer)
class EventClient:
    """One open stream: its queue of events not yet written."""

    def __init__(self, hub: EventHub, request: Request, max_queue: int) -> None:
        self.hub = hub
        self.request = request
        self.max_queue = max_queue
        self.queue: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self.paused = False
        self.closed = False

    def push(self, key: tuple[Any, ...], data: bytes) -> None:
        if self.closed:
            return
        if key in self.queue:
            self.queue[key] = data  # the newer hint replaces the older, in its place
        else:
            self.queue[key] = data
            if len(self.queue) > self.max_queue:
                self.hub.dropped += 1
                self.close()
                return
        self.flush()

    def flush(self) -> None:
        while self.queue and not self.paused and not self.closed:
            _, data = self.queue.popitem(last=False)
            self.request.write(data)

    def write_comment(self, text: str) -> None:
        if not self.paused and not self.closed:
            self.request.write(f": {text}\n\n".encode())

    def close(self) -> None:
        """Drop the client: its connection closes, its queue is forgotten."""
        if self.closed:
            return
        self.closed = True
        self.queue.clear()
        self.hub.forget(self)
        transport = getattr(self.request, "transport", None)
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()  # not loseConnection: that would wait for the buffer the client is not reading
        elif not self.request.finished:
            self.request.finish()

    # IPushProducer: the connection says when its buffer is full and when it drained.
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.flush()

    def stopProducing(self) -> None:
        self.closed = True
        self.hub.forget(self)


class EventHub:
    """The open streams; `publish(event)` queues it for each, `on_tick` callbacks run every TICK_S
    while any stream is open."""

    def __init__(
        self, reactor: IReactorTime, max_queue: int = MAX_QUEUE, max_clients: int = MAX_CLIENTS
    ) -> None:
        self.reactor = reactor
        self.max_queue = max_queue
        self.max_clients = max_clients
        self.clients: list[EventClient] = []
        self.on_tick: list[Callable[[bool], None]] = []  # (a new client: tell all) -> None
        self.dropped = 0  # slow clients dropped so far
        self._ticks = 0
        self._ticker = LoopingCall(self._tick)
        self._ticker.clock = reactor

    def publish(self, event: dict[str, Any]) -> None:
        if not self.clients:
            return
        key, data = _key(event), encode(event)
        for client in list(self.clients):
            client.push(key, data)

    def open(self, request: Request) -> int | bytes:
        """Answer GET /v1/events: the stream stays open (NOT_DONE_YET) until either side closes."""
        if len(self.clients) >= self.max_clients:
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"error": f"{self.max_clients} event streams are open"}).encode()
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        client = EventClient(self, request, self.max_queue)
        self.clients.append(client)
        request.registerProducer(client, True)
        request.notifyFinish().addBoth(lambda _: client.stopProducing())
        request.write(f"retry: {RETRY_MS}\n\n".encode())
        client.push(("hello", None, None), encode({"type": "hello", "now": self.reactor.seconds()}))
        if not self._ticker.running:
            self._ticker.start(TICK_S, now=False)
        for tick in self.on_tick:
            tick(True)
        return NOT_DONE_YET

    def forget(self, client: EventClient) -> None:
        if client in self.clients:
            self.clients.remove(client)
        if not self.clients and self._ticker.running:
            self._ticker.stop()

    def close_all(self) -> None:
        for client in list(self.clients):
            client.close()

    def _tick(self) -> None:
        self._ticks += 1
        for tick in self.on_tick:
            tick(False)
        if self._ticks % KEEPALIVE_TICKS == 0:
            for client in list(self.clients):
                client.write_comment("keepalive")
