"""The simulator's SMSC-side defences: an allow-list of peer addresses and a limit on failed binds.

An address off the allow-list is closed before anything is read from it (buildProtocol answers
None, so not even a TLS handshake happens). A source address that fails `max_failures` binds for
its credentials within `window_s` gets ESME_RBINDFAIL for every bind, good password or not, until
the oldest of those failures is `window_s` old: a password cannot be guessed at line speed.
"""

import ipaddress
from collections import deque
from collections.abc import Callable, Iterable

from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

log = Logger()
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Sources remembered at most: a scan from many addresses cannot grow the table without bound
# (the oldest source is forgotten first).
MAX_SOURCES = 10_000


def peer_ip(addr: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of a Twisted address (an IPv4-mapped IPv6 address as its IPv4 one), or None."""
    try:
        ip = ipaddress.ip_address(getattr(addr, "host", ""))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class AllowList:
    """Networks peers may connect from; empty: any."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def permits(self, addr: object) -> bool:
        if not self.networks:
            return True
        ip = peer_ip(addr)
        return ip is not None and any(ip in network for network in self.networks)


class AllowListFactory(Factory):
    """Wraps the listening factory (plain or TLS): a refused peer gets no protocol at all."""

    def __init__(
        self, inner: Factory, allow: AllowList, on_refused: Callable[[IAddress], None]
    ) -> None:
        self.inner = inner
        self.allow = allow
        self.on_refused = on_refused

    def doStart(self) -> None:
        self.inner.doStart()

    def doStop(self) -> None:
        self.inner.doStop()

    def buildProtocol(self, addr: IAddress) -> Protocol | None:
        if not self.allow.permits(addr):
            self.on_refused(addr)
            return None  # Twisted closes the connection at once
        return self.inner.buildProtocol(addr)


class BindFailures:
    """Failed binds per source address in a sliding window; `locked` once there are max_failures."""

    def __init__(self, max_failures: int, window_s: float, max_sources: int = MAX_SOURCES) -> None:
        if max_failures < 1 or window_s <= 0 or max_sources < 1:
            raise ValueError("need max_failures >= 1, window_s > 0 and max_sources >= 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_sources = max_sources
        self._failures: dict[str, deque[float]] = {}

    def locked(self, source: str, now_s: float) -> bool:
        times = self._failures.get(source)
        if times is None:
            return False
        while times and times[0] + self.window_s <= now_s:
            times.popleft()
        if not times:
            del self._failures[source]
            return False
        return len(times) >= self.max_failures

    def record(self, source: str, now_s: float) -> bool:
        """One more failed bind from `source`; True if that locks it out."""
        times = self._failures.pop(source, None)
        if times is None:
            times = deque(maxlen=self.max_failures)
            if len(self._failures) >= self.max_sources:
                del self._failures[next(iter(self._failures))]
        times.append(now_s)
        self._failures[source] = times  # (re)inserted last: the most recently failing source
        return len(times) >= self.max_failures

    def unlocked_at_s(self, source: str) -> float | None:
        times = self._failures.get(source)
        return times[0] + self.window_s if times else None


def source_of(peer: str) -> str:
    """'HOST:PORT' (as SMSCProtocol.peer_text) -> 'HOST': failures count per address, not port."""
    host, sep, _ = peer.rpartition(":")
    return host if sep else peer
