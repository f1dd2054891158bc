"""sd_notify(3) for `Type=notify` units: READY=1, STATUS= lines, WATCHDOG=1 pings, STOPPING=1, and
the reload handshake (RELOADING=1 + MONOTONIC_USEC=, then READY=1) that `Type=notify-reload` units
(systemd 253 and later) wait for; older ones take it as a state change only.

The protocol is one AF_UNIX datagram of newline-separated KEY=VALUE lines to $NOTIFY_SOCKET (a path,
or "@name" for an abstract socket). It is written here rather than taken from PyPI: `sdnotify` (last
release 2017) reads the environment when it is built and swallows every error without a word, and
`systemd-python` / `cysystemd` are C bindings to libsystemd that need its headers to build; the
protocol itself is a dozen stable lines.

Without $NOTIFY_SOCKET (not under systemd, or `Type=simple`) nothing is sent and nothing runs. A send
never blocks the reactor and never raises: a notification systemd misses is logged, once.
"""

import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

STATUS_INTERVAL_S = 5.0  # how often `systemctl status` gets a fresh STATUS= line
# The queues worth a glance: MOs not yet processed, replies not yet sent or not yet answered.
STATUS_QUEUES = ("inbox_new", "outbox_queued", "outbox_in_flight")
REFUSAL_MAX_CHARS = 160  # the refusal's part of the STATUS= line, the figures after it


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds: what MONOTONIC_USEC= must carry (systemd compares it with
    the time it sent SIGHUP, so it is the host's clock, not the reactor's)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def socket_address(value: str) -> str | None:
    """$NOTIFY_SOCKET as an AF_UNIX address: "@name" is the abstract socket "\\0name"; None for a
    form this code does not speak (e.g. systemd 253's "vsock:CID:PORT")."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Half of $WATCHDOG_USEC (as sd_watchdog_enabled(3) advises), or None when the unit has no
    watchdog, the value is unusable, or $WATCHDOG_PID names another process."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    watchdog_pid = environ.get("WATCHDOG_PID", "")
    if usec <= 0 or (watchdog_pid and watchdog_pid != str(pid)):
        return None
    return usec / 1_000_000 / 2


class NotifySocket:
    """A non-blocking datagram socket aimed at the service manager."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)
        self._failed = False

    def send(self, message: str) -> bool:
        try:
            self._socket.sendto(message.encode("utf-8"), self.address)
        except OSError as exc:
            if not self._failed:  # systemd gone or the queue full: say so once, not every ping
                log.warn(
                    "sd_notify to {address!r} failed: {error}", address=self.address, error=exc
                )
            self._failed = True
            return False
        return True

    def close(self) -> None:
        self._socket.close()


def status_line(snapshot: dict[str, Any]) -> str:
    """One short line from Daemon.snapshot(): binds up/total and the depths of the work queues."""
    binds = snapshot.get("binds", [])
    queues = snapshot.get("queues", {})
    up = sum(1 for bind in binds if bind.get("bound"))
    parts = [f"binds {up}/{len(binds)} up" if binds else f"no binds (role {snapshot.get('role')})"]
    parts += [f"{name} {queues.get(name, 0)}" for name in STATUS_QUEUES]
    reload = snapshot.get("reload") or {}
    if reload.get("result") == "refused":  # shown until a reload goes through
        parts.insert(0, f"reload refused: {reload.get('detail', '')}"[:REFUSAL_MAX_CHARS])
    return "; ".join(parts)


class SystemdNotifier:
    """What the daemon tells systemd. Build it with `from_environ`; every method is a no-op when
    there is no $NOTIFY_SOCKET."""

    def __init__(
        self,
        clock: IReactorTime,
        notify: NotifySocket | None,
        watchdog_s: float | None = None,
        status_interval_s: float = STATUS_INTERVAL_S,
        monotonic: Callable[[], int] = monotonic_usec,
    ) -> None:
        self.clock = clock
        self.monotonic = monotonic
        self.is_reloading = False
        self.notify = notify
        self.watchdog_s = watchdog_s if notify is not None else None
        self.status_interval_s = status_interval_s
        self.is_ready = False
        self.is_stopping = False
        self._snapshot: Callable[[], Deferred] | None = None
        self._asking = False  # a snapshot is under way: the next tick does not pile another on
        self._watchdog = LoopingCall(self._send, "WATCHDOG=1")
        self._status = LoopingCall(self._ask_status)
        self._watchdog.clock = self._status.clock = clock

    @classmethod
    def from_environ(
        cls, clock: IReactorTime, environ: Mapping[str, str] = os.environ, pid: int | None = None
    ) -> "SystemdNotifier":
        address = socket_address(environ.get("NOTIFY_SOCKET", ""))
        if address is None and environ.get("NOTIFY_SOCKET"):
            value = environ["NOTIFY_SOCKET"]
            log.warn("NOTIFY_SOCKET {value!r}: not a path or @name; not notifying", value=value)
        notify = NotifySocket(address) if address is not None else None
        pid = os.getpid() if pid is None else pid
        return cls(clock, notify, watchdog_interval_s(environ, pid))

    @property
    def enabled(self) -> bool:
        return self.notify is not None

    def start_watchdog(self) -> None:
        """Ping WATCHDOG=1 from the reactor every half watchdog period: a reactor that is stuck
        stops pinging and systemd restarts the process (WatchdogSec= in the unit)."""
        if self.watchdog_s is not None and not self._watchdog.running:
            self._watchdog.start(self.watchdog_s, now=True)

    def ready(self, snapshot: Callable[[], Deferred]) -> None:
        """The daemon listens and every component runs: READY=1 goes with the first STATUS= that
        the database answered for, then a STATUS= line every status_interval_s."""
        if not self.enabled or self.is_stopping or self._status.running:
            return
        self._snapshot = snapshot
        self._status.start(self.status_interval_s, now=True)

    def failed(self, message: str) -> None:
        """Start-up failed: the reason is shown by `systemctl status` (the exit code follows)."""
        self._send(f"STATUS=failed: {message}")

    def stopping(self) -> None:
        """The daemon is shutting down (called again, it does nothing). The watchdog keeps pinging:
        a drain may take longer than the watchdog period."""
        if self.is_stopping:
            return
        self.is_stopping = True
        if self._status.running:
            self._status.stop()
        self._send("STOPPING=1\nSTATUS=stopping")

    def reloading(self) -> None:
        """A reload begins (SIGHUP taken). Only once READY=1 has gone: a SIGHUP during the start-up
        must not make systemd think the start-up is over."""
        if not self.enabled or not self.is_ready or self.is_stopping or self.is_reloading:
            return
        self.is_reloading = True
        self._send(
            f"RELOADING=1\nMONOTONIC_USEC={self.monotonic()}\nSTATUS=reloading the configuration"
        )

    def reloaded(self, status: str) -> None:
        """The reload is over, applied or refused (`status` says which): READY=1 ends systemd's
        reload job; the STATUS= line stays until the next periodic one."""
        if not self.is_reloading:
            return
        self.is_reloading = False
        if not self.is_stopping:
            self._send(f"READY=1\nSTATUS={status}")

    def close(self) -> None:
        for loop in (self._watchdog, self._status):
            if loop.running:
                loop.stop()
        if self.notify is not None:
            self.notify.close()

    def _ask_status(self) -> None:
        if self._asking or self._snapshot is None:
            return
        self._asking = True
        asked = self._snapshot()
        asked.addCallbacks(self._tell_status, self._status_unknown)
        asked.addBoth(self._answered)

    def _answered(self, _: object) -> None:
        self._asking = False

    def _tell_status(self, snapshot: dict[str, Any]) -> None:
        if self.is_stopping:
            return
        line = f"STATUS={status_line(snapshot)}"
        self._send(line if self.is_ready else f"READY=1\n{line}")
        self.is_ready = True

    def _status_unknown(self, failure: Failure) -> None:
        # Not ready while the database does not answer: systemd's TimeoutStartSec= then decides.
        if not self.is_stopping:
            reason = (failure.getErrorMessage().splitlines() or [failure.type.__name__])[0]
            self._send(f"STATUS=database not answering: {reason}")

    def _send(self, message: str) -> None:
        if self.notify is not None:
            self.notify.send(message)
