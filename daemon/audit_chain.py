"""The audit log's tamper-evidence chain, like the ledger's: hash(n) = SHA-256(hash(n-1) || the
canonical bytes of entry n), over its id, place, time, actor, action, target and detail. Editing,
deleting or reordering any entry changes the hash it should have (or the next one's); the head row
(`audit_head`) holds the count and last hash, so an entry deleted from the end shows too.

Appends lock the head row. The ledger no longer has one head row every writer takes first (it has a
chain per concurrent writer, ledger.batch), so there is no lock to order this one after: a
transaction that writes an entry before posting money (a batch with a PIN lockout, then a SEND)
and one that posts first may, on PostgreSQL, wait for each other; the server detects that within
deadlock_timeout and the database layer retries the one it aborted (daemon.db, 40P01). Entries
are rare (staff actions, security events), so this costs nothing on the money path.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from sqlalchemy import Connection, insert, inspect, select, update

from daemon.schema import audit_head, audit_log

HEAD_ROW_ID = 1
HASH_BYTES = 32
GENESIS_HASH = hashlib.sha256(b"smscore audit log").digest()  # not the ledger's: two chains
_FIXED = struct.Struct(">qqq")  # id, seq, at_ns
_LENGTH = struct.Struct(">I")
_SHOWN_HEX_DIGITS = 16


@dataclass(frozen=True, slots=True)
class Head:
    entry_count: int
    last_id: int
    head_hash: bytes


@dataclass(frozen=True, slots=True)
class AuditBreak:
    """The first entry where the chain does not hold (id None: an entry missing from the end)."""

    seq: int
    entry_id: int | None
    reason: str

    def describe(self) -> str:
        where = f"entry {self.entry_id} (seq {self.seq})" if self.entry_id else f"seq {self.seq}"
        return f"audit log BROKEN at {where}: {self.reason}"


def entry_digest(previous: bytes, entry_id: int, seq: int, at_ns: int, *texts: str) -> bytes:
    """`texts`: actor, action, target, detail; each length-prefixed, so no two entries encode alike."""
    parts = [previous, _FIXED.pack(entry_id, seq, at_ns)]
    for text in texts:
        data = text.encode()
        parts += [_LENGTH.pack(len(data)), data]
    return hashlib.sha256(b"".join(parts)).digest()


def lock_head_txn(conn: Connection) -> Head:
    """The head, locked until the caller's transaction ends (SQLite: its write lock does that)."""
    query = select(audit_head.c.entry_count, audit_head.c.last_id, audit_head.c.head_hash)
    row = conn.execute(query.where(audit_head.c.id == HEAD_ROW_ID).with_for_update()).one()
    return Head(row[0], row[1], bytes(row[2]))


def append_txn(
    conn: Connection, at_ns: int, actor: str, action: str, target: str, detail: str
) -> int:
    """Chain one entry onto the head and store it, in the caller's transaction; its id."""
    head = lock_head_txn(conn)
    entry_id, seq = head.last_id + 1, head.entry_count + 1
    chained = entry_digest(head.head_hash, entry_id, seq, at_ns, actor, action, target, detail)
    values = {"id": entry_id, "seq": seq, "at_ns": at_ns, "actor": actor, "action": action}
    conn.execute(insert(audit_log).values(target=target, detail=detail, hash=chained, **values))
    conn.execute(
        update(audit_head)
        .where(audit_head.c.id == HEAD_ROW_ID)
        .values(entry_count=seq, last_id=entry_id, head_hash=chained)
    )
    return entry_id


def has_chain_txn(conn: Connection) -> bool:
    """Whether the database's audit log is chained (the daemon's schema is at d0006 or later)."""
    return inspect(conn).has_table(audit_head.name)


def head_txn(conn: Connection) -> Head:
    query = select(audit_head.c.entry_count, audit_head.c.last_id, audit_head.c.head_hash)
    row = conn.execute(query.where(audit_head.c.id == HEAD_ROW_ID)).one()
    return Head(row[0], row[1], bytes(row[2]))


_ENTRY_COLUMNS = (
    audit_log.c.id, audit_log.c.seq, audit_log.c.at_ns, audit_log.c.actor,
    audit_log.c.action, audit_log.c.target, audit_log.c.detail, audit_log.c.hash,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditVerdict:
    broken: AuditBreak | None
    head: Head

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        if self.broken is not None:
            return self.broken.describe()
        return f"audit log OK: {self.head.entry_count} entries, head {self.head.head_hash.hex()}"


def audit_verdict_txn(conn: Connection) -> AuditVerdict | None:
    """The chain checked, with its head; None if the database's audit log is not chained."""
    if not has_chain_txn(conn):
        return None
    return AuditVerdict(verify_audit_chain_txn(conn), head_txn(conn))


def verify_audit_chain_txn(conn: Connection) -> AuditBreak | None:
    """Walk the chain in order; the first entry that breaks it, or None if it holds whole."""
    previous, seq_expected = GENESIS_HASH, 1
    # Streamed, on this statement only (Connection.execution_options would stay on the connection).
    query = select(*_ENTRY_COLUMNS).order_by(audit_log.c.seq).execution_options(yield_per=1000)
    rows = conn.execute(query)
    for entry_id, seq, at_ns, actor, action, target, detail, stored in rows:
        if seq != seq_expected:
            return AuditBreak(seq_expected, entry_id, f"seq {seq_expected} is missing")
        digest = entry_digest(previous, entry_id, seq, at_ns, actor, action, target, detail)
        if digest != bytes(stored):
            return AuditBreak(seq, entry_id, "its content or place differs from what was chained")
        previous, seq_expected = digest, seq + 1
    return _check_head(conn, seq_expected - 1, previous)


def _check_head(conn: Connection, count: int, last_hash: bytes) -> AuditBreak | None:
    head = head_txn(conn)
    if head.entry_count > count:
        return AuditBreak(count + 1, None, f"missing: the head counts {head.entry_count} entries")
    if head.entry_count < count:
        reason = f"not appended through the head, which counts {head.entry_count} entries"
        return AuditBreak(head.entry_count + 1, None, reason)
    if head.head_hash != last_hash:
        shown = head.head_hash.hex()[:_SHOWN_HEX_DIGITS]
        return AuditBreak(count, None, f"the head's hash {shown}… is not the last entry's")
    return None
