"""In-memory SMPP connections for tests: an ESME protocol and an SMSC protocol on one `task.Clock`.

Bytes move only when the test says so (`pump()`, or `advance(seconds)` which moves the clock and then
pumps), so every interleaving is deterministic. `byte_at_a_time=True` delivers every chunk one byte per
`dataReceived` call, to prove the stream decoding. Reused by other packages' tests:

    clock = BoundedClock()           # a task.Clock that fails instead of spinning forever
    link = Loopback.between(esme_protocol, smsc_protocol, clock)
    link.pump()                      # the bind goes through
    link.advance(30)                 # timers fire, their bytes are delivered
    link.drop()                      # both sides see the connection lost (not cleanly)

`FakeEndpoint` is an IStreamClientEndpoint that connects each attempt to a fresh protocol from an SMSC
factory through a Loopback, or refuses the attempt, for reconnect tests of ClientService-based binds.
"""

from collections.abc import Callable

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

ESME_ADDRESS = IPv4Address("TCP", "127.0.0.1", 40001)
SMSC_ADDRESS = IPv4Address("TCP", "127.0.0.1", 2775)
MAX_PUMP_ROUNDS = 10_000  # a ping-pong that never settles is a bug, not a reason to hang


class BoundedClock(Clock):
    """A task.Clock that fails a test instead of hanging it when timers re-arm without end.

    Clock.advance runs every call due "now", including ones scheduled by those calls: a component
    that keeps re-arming a timer for the current instant would spin there forever.
    """

    def __init__(self, max_calls: int = 1_000_000) -> None:
        super().__init__()
        self.max_calls = max_calls
        self.calls_made = 0

    def callLater(self, delay, callable, *args, **kw):  # type: ignore[no-untyped-def]
        self.calls_made += 1
        if self.calls_made > self.max_calls:
            raise AssertionError(f"more than {self.max_calls} timers scheduled: a livelock?")
        return super().callLater(delay, callable, *args, **kw)


class Loopback:
    """Two protocols joined by StringTransports; `pump()` carries bytes until both sides are quiet."""

    def __init__(
        self,
        client: IProtocol,
        server: IProtocol,
        clock: Clock,
        *,
        byte_at_a_time: bool = False,
    ) -> None:
        self.client = client
        self.server = server
        self.clock = clock
        self.byte_at_a_time = byte_at_a_time
        self.client_transport = StringTransport(hostAddress=ESME_ADDRESS, peerAddress=SMSC_ADDRESS)
        self.server_transport = StringTransport(hostAddress=SMSC_ADDRESS, peerAddress=ESME_ADDRESS)
        self.closed = False
        self.bytes_to_server = 0
        self.bytes_to_client = 0

    @classmethod
    def between(
        cls, client: IProtocol, server: IProtocol, clock: Clock, *, byte_at_a_time: bool = False
    ) -> "Loopback":
        """Connect both protocols (server first, as TCP accept does) and pump once."""
        link = cls(client, server, clock, byte_at_a_time=byte_at_a_time)
        link.connect()
        link.pump()
        return link

    def connect(self) -> None:
        self.server.makeConnection(self.server_transport)
        self.client.makeConnection(self.client_transport)

    def pump(self) -> None:
        """Deliver written bytes both ways until nothing moves; then apply any loseConnection."""
        for _ in range(MAX_PUMP_ROUNDS):
            moved = self._deliver(self.client_transport, self.server)
            moved = self._deliver(self.server_transport, self.client) or moved
            if not moved:
                break
        else:
            raise AssertionError("the two protocols never stopped talking")
        if not self.closed and (
            self.client_transport.disconnecting or self.server_transport.disconnecting
        ):
            self._close(Failure(error.ConnectionDone("closed by one side")))

    def advance(self, seconds: float) -> None:
        """Move the clock (firing timers), then pump, so timer-sent bytes arrive."""
        self.clock.advance(seconds)
        self.pump()

    def drop(self) -> None:
        """The network fails: both sides lose the connection, bytes in flight are lost."""
        self.client_transport.clear()
        self.server_transport.clear()
        self._close(Failure(error.ConnectionLost("the network dropped the connection")))

    def inject_to_server(self, data: bytes) -> None:
        """Raw bytes to the server as if the client wrote them (malformed PDUs, foreign peers)."""
        self._feed(self.server, data)
        self.pump()

    def inject_to_client(self, data: bytes) -> None:
        self._feed(self.client, data)
        self.pump()

    def _deliver(self, transport: StringTransport, receiver: IProtocol) -> bool:
        data = transport.value()
        if not data or self.closed:
            return False
        transport.clear()
        if receiver is self.server:
            self.bytes_to_server += len(data)
        else:
            self.bytes_to_client += len(data)
        self._feed(receiver, data)
        return True

    def _feed(self, receiver: IProtocol, data: bytes) -> None:
        if not self.byte_at_a_time:
            receiver.dataReceived(data)
            return
        for index in range(len(data)):
            if self.closed:
                return
            receiver.dataReceived(data[index : index + 1])

    def _close(self, reason: Failure) -> None:
        self.closed = True
        self.client_transport.disconnecting = True
        self.server_transport.disconnecting = True
        self.client.connectionLost(reason)
        self.server.connectionLost(reason)


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """Connects to protocols built by `server_factory`, or refuses while `refusing` is True.

    `links` holds every Loopback made, newest last; `attempts` counts connect() calls.
    """

    def __init__(
        self,
        clock: Clock,
        server_factory: IProtocolFactory,
        *,
        on_connect: Callable[[Loopback], None] | None = None,
    ) -> None:
        self.clock = clock
        self.server_factory = server_factory
        self.refusing = False
        self.attempts = 0
        self.links: list[Loopback] = []
        self._on_connect = on_connect

    def connect(self, protocol_factory: IProtocolFactory) -> Deferred:
        self.attempts += 1
        if self.refusing:
            return fail(error.ConnectionRefusedError("fake endpoint refuses"))
        client = protocol_factory.buildProtocol(SMSC_ADDRESS)
        server = self.server_factory.buildProtocol(ESME_ADDRESS)
        link = Loopback(client, server, self.clock)
        self.links.append(link)
        link.connect()
        if self._on_connect is not None:
            self._on_connect(link)
        return succeed(client)

    def pump(self) -> None:
        for link in self.links:
            link.pump()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.pump()

    @property
    def current(self) -> Loopback:
        return self.links[-1]
