"""The live side of the channels: one hub per API process holds every open stream (server-sent
events, daemon.channels.stream) and every long poll waiting for an event, and finds new events for
all of them with ONE query every `[channels] stream_poll_s`: the `next_seq` of just the channels
someone listens to. Only a channel whose head moved past what its listeners have is read.

Events come from committed rows only (channels-core writes an event in the posting's own
transaction, its number taken from `channels.next_seq` under that row's lock), so a listener never
sees an event before its posting commits, and numbers commit in order: each listener takes events
strictly in sequence (seq == the last it got + 1), so a repeat or a gap never reaches a device.

A token reads no further once its channel's key epoch moved (a device was revoked) or its device
was revoked: its stream or long poll ends, and the next request is refused by the authenticator.

A device with an open stream is online: the hub records in `channel_positions` the events it was
sent and, every keepalive, that it is still there, so the SMS push (daemon.channels.push) leaves it
alone. The hub is bounded (`max_streams`: streams and long polls together) and, on stop, ends every
open response cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, case, select, update
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from daemon.api.env import ApiEnv
from daemon.api.errors import ApiError, ErrorCategory
from daemon.channels.events import event_json, events_after_txn
from daemon.channels.principal import ChannelPrincipal
from daemon.components import ComponentStatus
from daemon.deferreds import when_done
from daemon.schema import devices
from daemon.schema_api import channel_positions, channels
from daemon.security.devices import DeviceState

log = Logger()

SERVICE_KEY = "daemon.channels.hub"  # ApiEnv.services key of the process's one hub
MAX_PAGES_PER_POLL = 10  # a channel far ahead is read a few pages per poll, the rest next poll
Event = dict[str, Any]  # channels-core's event_json: seq, keyEpoch, ciphertext, createdAt


class Listener:
    """Someone waiting for the events of one channel after `last_seq`."""

    def __init__(self, principal: ChannelPrincipal, last_seq: int, done: Deferred) -> None:
        self.principal = principal
        self.last_seq = last_seq
        self.done = done

    @property
    def channel_id(self) -> int:
        return self.principal.channel_id

    def offer(self, events: list[Event]) -> bool:
        """Take the events that follow `last_seq`, in order; True if any was taken."""
        taken = False
        for event in events:
            if event["seq"] <= self.last_seq:
                continue  # already had it (another listener of the channel was further behind)
            if event["seq"] != self.last_seq + 1:
                break  # a gap: the next poll reads again from last_seq
            self.take(event)
            self.last_seq = event["seq"]
            taken = True
        return taken

    def take(self, event: Event) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Answer now (the daemon stops, the wait is over) and forget the listener."""
        raise NotImplementedError


class StreamListener(Listener):
    """An open text/event-stream response: each event written as it comes."""

    def __init__(
        self,
        principal: ChannelPrincipal,
        last_seq: int,
        done: Deferred,
        request: IRequest,
        now_s: float,
    ) -> None:
        super().__init__(principal, last_seq, done)
        self.request = request
        self.last_write_s = now_s

    def take(self, event: Event) -> None:
        self.request.write(sse_event(event))

    def keepalive(self, now_s: float) -> None:
        self.request.write(b": keepalive\n\n")
        self.last_write_s = now_s

    def end(self) -> None:
        if not self.done.called:
            self.done.callback(None)  # the router finishes the response


class WaitListener(Listener):
    """A long poll: answered (True) at the first event after `last_seq`, False on timeout/stop."""

    timeout: IDelayedCall | None = None

    def take(self, event: Event) -> None:
        if not self.done.called:
            self.done.callback(True)

    def end(self) -> None:
        if self.timeout is not None and self.timeout.active():
            self.timeout.cancel()
        if not self.done.called:
            self.done.callback(False)


def sse_event(event: Event) -> bytes:
    from daemon.api.routing import dump_json  # the router's compact JSON, one line

    return b"id: %d\ndata: %s\n\n" % (event["seq"], dump_json(event))


@dataclass
class PollResult:
    events: dict[int, list[Event]] = field(default_factory=dict)  # channel id -> new events
    epochs: dict[int, int] = field(default_factory=dict)  # channel id -> its key epoch now
    revoked: set[str] = field(default_factory=set)  # of the `seen` devices, those not active


def poll_txn(
    conn: Connection,
    wanted: dict[int, int],
    page_size: int,
    delivered: dict[str, int],
    seen: list[str],
    now_ns: int,
) -> PollResult:
    """`wanted`: channel id -> the lowest seq its listeners have. One query for every head (and
    key epoch), then the new events of the channels that moved. Records first what earlier polls
    delivered (device id -> highest seq sent) and which streaming devices are still there
    (`seen`, once per keepalive: also checked to be still enrolled)."""
    _record_positions(conn, delivered, seen, now_ns)
    result = PollResult()
    if seen:
        query = select(devices.c.device_id).where(
            devices.c.device_id.in_(seen), devices.c.state != DeviceState.ACTIVE
        )
        result.revoked = set(conn.execute(query).scalars())
    if not wanted:
        return result
    query = select(channels.c.id, channels.c.next_seq, channels.c.key_epoch).where(
        channels.c.id.in_(wanted)
    )
    heads = {}
    for channel_id, next_seq, key_epoch in conn.execute(query):
        heads[channel_id], result.epochs[channel_id] = next_seq, key_epoch
    for channel_id, after in wanted.items():
        head = heads.get(channel_id, 1) - 1
        if head > after:
            result.events[channel_id] = read_events_txn(conn, channel_id, after, head, page_size)
    return result


def read_events_txn(
    conn: Connection, channel_id: int, after: int, head: int, page_size: int
) -> list[Event]:
    found: list[Event] = []
    for _ in range(MAX_PAGES_PER_POLL):
        page = [
            event_json(stored) for stored in events_after_txn(conn, channel_id, after, page_size)
        ]
        found += page
        if len(page) < page_size or not page or page[-1]["seq"] >= head:
            break
        after = page[-1]["seq"]
    return found


def _record_positions(
    conn: Connection, delivered: dict[str, int], seen: list[str], now_ns: int
) -> None:
    acked = channel_positions.c.acked_seq
    if delivered:
        conn.execute(
            update(channel_positions)
            .where(channel_positions.c.device_id == bindparam("device"))
            .values(
                acked_seq=case((acked < bindparam("seq"), bindparam("seq")), else_=acked),
                last_seen_at_ns=now_ns,
            ),
            [{"device": device, "seq": seq} for device, seq in delivered.items()],
        )
    if still := [device for device in seen if device not in delivered]:
        conn.execute(
            update(channel_positions)
            .where(channel_positions.c.device_id.in_(still))
            .values(last_seen_at_ns=now_ns)
        )


class StreamHub:
    """The Component (roles all and lis) and the registry of listeners."""

    name = "channel_streams"

    def __init__(self, env: ApiEnv) -> None:
        self.env = env
        self.settings = env.config.channels
        self.listeners: dict[int, set[Listener]] = {}  # channel id -> its listeners
        self.counters = {
            "polls": 0,
            "failures": 0,
            "events_sent": 0,
            "refused": 0,
            "opened": 0,
            "revoked": 0,
        }
        self.last_error = ""
        self._call: IDelayedCall | None = None
        self._polling: Deferred | None = None
        self._again = False
        self._stopped = False
        self._delivered: dict[str, int] = {}  # device id -> highest seq sent, not yet recorded
        self._seen_at_s = env.reactor.seconds()

    # --- Component

    def start(self) -> None:
        self._stopped = False

    def stop(self) -> Deferred:
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        for listener in [one for group in self.listeners.values() for one in group]:
            self._forget(listener)
            listener.end()
        return when_done(self._polling)

    def status(self) -> ComponentStatus:
        return ComponentStatus({**self.counters, "open": self.open_count}, self.last_error)

    @property
    def open_count(self) -> int:
        return sum(len(group) for group in self.listeners.values())

    # --- listeners

    def admit(self) -> None:
        """ApiError 503 when the hub is full or stopping (a client retries later)."""
        if self._stopped or self.open_count >= self.settings.max_streams:
            self.counters["refused"] += 1
            raise ApiError(
                ErrorCategory.SERVICE_UNAVAILABLE,
                "genericError",
                "too many open streams: try again later",
                headers={"Retry-After": str(max(1, round(self.settings.stream_keepalive_s)))},
            )

    def add(self, listener: Listener, on_gone: Deferred | None = None) -> None:
        """Listen; forgotten when its response ends (`on_gone`: request.notifyFinish())."""
        self.listeners.setdefault(listener.channel_id, set()).add(listener)
        self.counters["opened"] += 1
        listener.done.addBoth(self._forgotten, listener)
        if on_gone is not None:
            on_gone.addBoth(lambda _: listener.end())
        self.kick()

    def _forgotten(self, result: object, listener: Listener) -> object:
        self._forget(listener)
        return result

    def _forget(self, listener: Listener) -> None:
        group = self.listeners.get(listener.channel_id)
        if group is not None:
            group.discard(listener)
            if not group:
                del self.listeners[listener.channel_id]

    # --- polling

    def kick(self) -> None:
        """Poll now (a listener just came), or right after the poll under way."""
        if self._polling is not None:
            self._again = True
        elif not self._stopped:
            if self._call is not None and self._call.active():
                self._call.cancel()
            self._call = None
            self.poll()

    def poll(self) -> Deferred:
        """One poll now; fires when its events were handed out."""
        wanted: dict[int, int] = {}
        for channel_id, group in self.listeners.items():
            wanted[channel_id] = min(listener.last_seq for listener in group)
        delivered, self._delivered = self._delivered, {}
        seen = self._keepalives()
        polling = self._polling = self.env.db.run_interaction(
            "channels.poll", poll_txn, wanted, self.settings.page_size, delivered, seen,
            self.env.now_ns(),
        )  # fmt: skip
        polling.addCallbacks(self._hand_out, self._failed, errbackArgs=(delivered,))
        polling.addBoth(self._polled)
        return polling

    def _keepalives(self) -> list[str]:
        """Write a comment to every stream quiet for a keepalive; the devices still connected
        (recorded as seen once per keepalive interval)."""
        now_s = self.env.reactor.seconds()
        keepalive_s = self.settings.stream_keepalive_s
        streams = [one for group in self.listeners.values() for one in group]
        for stream in streams:
            if isinstance(stream, StreamListener) and now_s - stream.last_write_s >= keepalive_s:
                stream.keepalive(now_s)
        if now_s - self._seen_at_s < keepalive_s:
            return []
        self._seen_at_s = now_s
        return sorted(
            {one.principal.device_id for one in streams if isinstance(one, StreamListener)}
        )

    def _hand_out(self, result: PollResult) -> None:
        self.counters["polls"] += 1
        self._end_revoked(result)
        for channel_id, events in result.events.items():
            for listener in list(self.listeners.get(channel_id, ())):
                before = listener.last_seq
                if listener.offer(events) and isinstance(listener, StreamListener):
                    self.counters["events_sent"] += listener.last_seq - before
                    device = listener.principal.device_id
                    self._delivered[device] = max(self._delivered.get(device, 0), listener.last_seq)

    def _end_revoked(self, result: PollResult) -> None:
        """A token stops reading at once when its channel's keys changed (a device was revoked:
        the others ask for a new token) or, at the latest a keepalive later, when its own device
        was revoked."""
        for channel_id, group in list(self.listeners.items()):
            epoch = result.epochs.get(channel_id)
            for listener in list(group):
                principal = listener.principal
                changed = epoch is not None and epoch != principal.key_epoch
                if changed or principal.device_id in result.revoked:
                    self.counters["revoked"] += 1
                    self._forget(listener)
                    listener.end()

    def _failed(self, failure: Failure, delivered: dict[str, int]) -> None:
        for device, seq in delivered.items():  # recorded by the next poll instead
            self._delivered[device] = max(self._delivered.get(device, 0), seq)
        self.counters["failures"] += 1
        self.last_error = str(failure.value).splitlines()[0][:200] if str(failure.value) else ""
        log.failure("channels: stream poll failed", failure)

    def _polled(self, _: object) -> None:
        self._polling = None
        if self._stopped:
            return
        if self._again:
            self._again = False
            self.poll()
        elif self.listeners or self._delivered:
            self._schedule(self.settings.stream_poll_s)

    def _schedule(self, delay_s: float) -> None:
        if self._call is None or not self._call.active():
            self._call = self.env.reactor.callLater(delay_s, self._tick)  # type: ignore[attr-defined]

    def _tick(self) -> None:
        self._call = None
        if self._polling is None:
            self.poll()


def hub_of(env: ApiEnv, factory: Callable[[ApiEnv], StreamHub] = StreamHub) -> StreamHub:
    """The process's hub: the component's, or made on first use (an in-process test)."""
    hub = env.services.get(SERVICE_KEY)
    if hub is None:
        hub = env.services[SERVICE_KEY] = factory(env)
    return hub
