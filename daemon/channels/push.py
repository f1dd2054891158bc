"""Push over SMS: a device that has not pulled its channel for `[channels] push_after_s` while new
events came is told, by ONE short app message over SMS, to pull (the channel the engine already
owns: no third-party push service). At most one per device per `push_min_interval_s`, and only for
news since the last push: a device that stays away gets no second SMS for the same events.

The message is an app frame sealed to that device (daemon.security.channel, as
daemon.security.app_inbox seals replies, with the device's next down counter), so only it can read
it, even on a number shared by several devices; it carries "pull <head seq>". It goes text-framed
("#A1" + base64) like every encrypted reply, since the outbox and the sender carry text. Queued in
the transaction that records `pushed_at_ns`, guarded by the old value, so two TranProc processes
never both push one device. Bounded per run (PUSH_BATCH); a full run is followed at once.
"""

from __future__ import annotations

import functools
import re

from sqlalchemy import Connection, and_, exists, func, or_, select, update

from daemon.api.components import api_component
from daemon.api.env import ApiEnv
from daemon.clock import NS_PER_S
from daemon.components import Component, periodic_component
from daemon.config import Config
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.periodic import Periodic
from daemon.schema import devices
from daemon.schema_api import channel_events, channel_positions, channels
from daemon.security import channel
from daemon.security.app_inbox import device_keys
from daemon.security.channel import Direction, Kind
from daemon.security.devices import DeviceState, get_device_txn, next_counter_out_txn

PUSH_BATCH = 200  # devices pushed per run
PULL_WORD = "pull"
_PULL = re.compile(rf"^{PULL_WORD} ([0-9]{{1,18}})$")


def pull_body(head_seq: int) -> bytes:
    """The plaintext of a push: the word and the channel's head seq."""
    return f"{PULL_WORD} {head_seq}".encode("ascii")


def parse_pull(text: str) -> int | None:
    """The head seq of a push's text (the device side), None for any other text."""
    found = _PULL.match(text)
    return int(found[1]) if found else None


def _interval_ns(seconds: float) -> int:
    return int(seconds * NS_PER_S)


def due_pushes_txn(conn: Connection, config: Config, now_ns: int, limit: int) -> list[tuple]:
    """(device id, head seq) of the devices to push now, longest away first."""
    settings = config.channels
    positions = channel_positions.c
    last_push = func.coalesce(positions.pushed_at_ns, 0)
    news = exists().where(
        channel_events.c.channel_id == positions.channel_id,
        channel_events.c.seq > positions.acked_seq,
        channel_events.c.created_at_ns > last_push,
    )
    head = channels.c.next_seq - 1
    query = (
        select(positions.device_id, head)
        .join(channels, channels.c.id == positions.channel_id)
        .join(devices, devices.c.device_id == positions.device_id)
        .where(
            positions.last_seen_at_ns <= now_ns - _interval_ns(settings.push_after_s),
            head > positions.acked_seq,
            last_push <= now_ns - _interval_ns(settings.push_min_interval_s),
            devices.c.state == DeviceState.ACTIVE,
            news,
        )
        .order_by(positions.last_seen_at_ns, positions.device_id)
        .limit(limit)
    )
    return [tuple(row) for row in conn.execute(query)]


def _claim_txn(conn: Connection, config: Config, device_id: str, now_ns: int) -> bool:
    """Record the push; False if another process pushed this device meanwhile."""
    positions = channel_positions.c
    not_pushed_lately = or_(
        positions.pushed_at_ns.is_(None),
        positions.pushed_at_ns <= now_ns - _interval_ns(config.channels.push_min_interval_s),
    )
    claimed = conn.execute(
        update(channel_positions)
        .where(and_(positions.device_id == device_id, not_pushed_lately))
        .values(pushed_at_ns=now_ns)
    )
    return claimed.rowcount == 1


def push_sms_txn(conn: Connection, config: Config, device_id: str, head_seq: int, now_ns: int):
    """The push SMS to one device, sealed to it (None: the device is gone)."""
    device = get_device_txn(conn, device_id)
    if device is None or device.state != DeviceState.ACTIVE:
        return None
    keys = device_keys(config, device)
    counter = next_counter_out_txn(conn, device_id)
    frame = keys.seal(Direction.DOWN, counter, Kind.TEXT, pull_body(head_seq))
    return OutgoingSms(
        destination_addr=device.msisdn,
        text=channel.to_text(frame),
        source_addr=config.sender.source_addr,
        # Stale once the next push may go: dropped rather than sent late.
        deliver_by_ns=now_ns + _interval_ns(config.channels.push_min_interval_s),
    )


def push_txn(conn: Connection, config: Config, now_ns: int) -> tuple[dict[str, int], bool]:
    """One run: each due device claimed and its SMS queued in this transaction."""
    due = due_pushes_txn(conn, config, now_ns, PUSH_BATCH)
    messages = []
    for device_id, head_seq in due:
        if not _claim_txn(conn, config, device_id, now_ns):
            continue
        sms = push_sms_txn(conn, config, device_id, head_seq, now_ns)
        if sms is not None:
            messages.append(sms)
    queue_sms_txn(conn, messages, now_ns)
    return {"pushed": len(messages)}, len(due) == PUSH_BATCH


@api_component("all", "tranproc")
def channel_push(env: ApiEnv) -> Component | None:
    if not env.config.channels.enabled:
        return None
    work = functools.partial(_run, env.config)
    job = Periodic(env.reactor, env.db, "channel_push", work, env.config.channels.push_interval_s)
    return periodic_component(job)


def _run(config: Config, conn: Connection, now_ns: int) -> tuple[dict[str, int], bool]:
    return push_txn(conn, config, now_ns)
