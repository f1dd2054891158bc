"""Writing and reading a channel's events. An event is written in the transaction of what it tells
of (a posting, a notice): it commits with it or not at all, and no reader sees it before. Its number
comes from `UPDATE channels SET next_seq = next_seq + 1 ... RETURNING`, which locks the channel's
row until commit, so numbers never repeat and never skip (a rolled-back writer gives its number
back with its row lock).

Only a process that activated the channels (`activate_channels`, a start-up step of every role;
the staff CLI when the daemon has made the keys) writes events: elsewhere write_event_txn writes
nothing and takes no number (a device then reconciles from GET /channels/me/balance)."""

from __future__ import annotations

import base64
import functools
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from daemon.api.errors import iso_time
from daemon.channels.crypto import derive_event_key, event_plaintext, seal_event
from daemon.config import Config
from daemon.money.prepared import PreparedWrite
from daemon.schema_api import channel_events, channels


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    msisdn: str
    reference: str
    next_seq: int
    key_epoch: int
    created_at_ns: int

    @property
    def head_seq(self) -> int:
        """The last event's seq (0: none yet)."""
        return self.next_seq - 1

    def __repr__(self) -> str:  # no number in logs
        return f"Channel({self.reference} epoch={self.key_epoch})"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    key_epoch: int
    ciphertext: bytes
    created_at_ns: int
    move_id: int | None


class _Active:
    """The event master key of this process (None: channels not activated here)."""

    master: bytes | None = None


def activate_channels(config: Config, create: bool = True) -> bool:
    """Load the event key (made if missing, unless `create` is False: a staff command writes
    events only with the key the daemon made) and start writing events in this process (the move
    observer is registered here); whether they are written. Every role calls it at start-up."""
    from daemon.channels.keys import event_key, event_key_path, token_key
    from daemon.channels.observer import register_observer

    if not config.channels.enabled or not (create or event_key_path(config).exists()):
        return False
    use_event_master(event_key(config).raw)
    token_key(config)  # read (or made) now: a bad file stops start-up, not the first request
    register_observer()
    return True


def use_event_master(raw: bytes | None) -> None:
    """Set (None: clear) the master key events are sealed under in this process."""
    _Active.master = raw


def event_master() -> bytes | None:
    return _Active.master


@functools.lru_cache(maxsize=4096)
def channel_event_key(master: bytes, reference: str, key_epoch: int) -> bytes:
    return derive_event_key(master, reference, key_epoch)


_COLUMNS = [channels.c[name] for name in Channel.__dataclass_fields__]


def get_channel_txn(conn: Connection, msisdn: str) -> Channel | None:
    row = conn.execute(select(*_COLUMNS).where(channels.c.msisdn == msisdn)).first()
    return Channel(*row) if row is not None else None


def channel_by_reference_txn(conn: Connection, reference: str) -> Channel | None:
    row = conn.execute(select(*_COLUMNS).where(channels.c.reference == reference)).first()
    return Channel(*row) if row is not None else None


def new_reference() -> str:
    return "ch" + secrets.token_hex(12)


def ensure_channel_txn(conn: Connection, msisdn: str, now_ns: int) -> Channel:
    """The subscriber's channel, made if it has none (at device activation, or lazily at token
    issue for devices enrolled before channels existed)."""
    found = get_channel_txn(conn, msisdn)
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            conn.execute(
                insert(channels).values(
                    msisdn=msisdn,
                    reference=new_reference(),
                    next_seq=1,
                    key_epoch=1,
                    created_at_ns=now_ns,
                )
            )
    except IntegrityError:  # another process made it at the same moment
        pass
    made = get_channel_txn(conn, msisdn)
    assert made is not None
    return made


def bump_epoch_txn(conn: Connection, msisdn: str) -> int | None:
    """A new key epoch for the subscriber's channel (a device was revoked): events from now on are
    sealed under a key the revoked device was never given. None: no channel."""
    row = conn.execute(
        update(channels)
        .where(channels.c.msisdn == msisdn)
        .values(key_epoch=channels.c.key_epoch + 1)
        .returning(channels.c.key_epoch)
    ).first()
    return row[0] if row is not None else None


_take_seq = PreparedWrite(
    lambda _: (
        update(channels)
        .where(channels.c.msisdn == bindparam("msisdn"))
        .values(next_seq=channels.c.next_seq + 1)
        .returning(channels.c.id, channels.c.reference, channels.c.next_seq, channels.c.key_epoch)
    )
)
_insert_event = PreparedWrite(
    lambda _: (
        insert(channel_events)
        .values(
            channel_id=bindparam("channel_id"),
            seq=bindparam("seq"),
            key_epoch=bindparam("key_epoch"),
            ciphertext=bindparam("ciphertext"),
            move_id=bindparam("move_id"),
            created_at_ns=bindparam("created_at_ns"),
        )
        .returning(channel_events.c.id)
    )
)


def write_event_txn(
    conn: Connection, msisdn: str, event: dict[str, Any], now_ns: int, move_id: int | None = None
) -> int | None:
    """Seal `event` ({"type": ..., ...}; "seq" and "at" are added) as the next event of the
    subscriber's channel, in the caller's transaction; its seq, or None (no channel, or channels
    not activated in this process)."""
    master = _Active.master
    if master is None:
        return None
    taken = _take_seq.run(conn, {"msisdn": msisdn})
    if not taken:
        return None
    [(channel_id, reference, next_seq, key_epoch)] = taken
    seq = next_seq - 1
    plaintext = event_plaintext({**event, "seq": seq, "at": iso_time(now_ns)})
    sealed = seal_event(channel_event_key(master, reference, key_epoch), reference, seq, plaintext)
    _insert_event.run(
        conn,
        {"channel_id": channel_id, "seq": seq, "key_epoch": key_epoch, "ciphertext": sealed,
         "move_id": move_id, "created_at_ns": now_ns},
    )  # fmt: skip
    return seq


def events_after_txn(
    conn: Connection, channel_id: int, after_seq: int, limit: int
) -> list[StoredEvent]:
    """The channel's events numbered above `after_seq`, oldest first, at most `limit`."""
    query = (
        select(
            channel_events.c.seq,
            channel_events.c.key_epoch,
            channel_events.c.ciphertext,
            channel_events.c.created_at_ns,
            channel_events.c.move_id,
        )
        .where(channel_events.c.channel_id == channel_id, channel_events.c.seq > after_seq)
        .order_by(channel_events.c.seq)
        .limit(limit)
    )
    return [
        StoredEvent(seq, epoch, bytes(text), at, move)
        for seq, epoch, text, at, move in conn.execute(query)
    ]


def event_json(stored: StoredEvent) -> dict[str, Any]:
    """An event as the API sends it (the device opens the ciphertext: daemon.channels.crypto)."""
    return {
        "seq": stored.seq,
        "keyEpoch": stored.key_epoch,
        "ciphertext": base64.b64encode(stored.ciphertext).decode("ascii"),
        "createdAt": iso_time(stored.created_at_ns),
    }
