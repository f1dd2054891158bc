"""The staff audit log: every change made by `smscore admin …` (and `smscore subscriber add`) is one
row saying who (the operator), what (an action word and a detail), on whom (the target, usually an
MSISDN) and when, written in the transaction that makes the change: no change without its row.

Security decisions the system makes itself (a PIN or code lockout, a fraud hold, a device enrolled
or revoked, a SIM swap) are entries too, by `record_security_event_txn`, with the actor "system" when
no person decided. Entries are hash-chained (daemon.audit_chain): an edit is detected.

The detail is written for people reading the log; it never holds a PIN, code or pepper (callers
pass only names, amounts, tiers and states).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, select

from daemon.audit_chain import append_txn
from daemon.schema import audit_log, moves

ACTOR_MAX_CHARS = 48  # audit_log.actor is 64: room for "staff:" in subscribers.registered_by
_ACTION_MAX_CHARS = 32
_TARGET_MAX_CHARS = 64
SYSTEM_ACTOR = "system"  # a decision the daemon made by rule, not a person


class SecurityEvent(StrEnum):
    """The actions of security decisions (audit_log.action)."""

    PIN_LOCKOUT = "pin.lockout"
    OTP_LOCKOUT = "otp.lockout"
    UNLOCK = "subscriber.unlock"  # what `smscore admin subscriber unlock` records
    FRAUD_HOLD = "fraud.hold"
    FRAUD_RELEASE = "fraud.release"
    FRAUD_REJECT = "fraud.reject"
    DEVICE_ENROL = "device.enrol"
    DEVICE_REVOKE = "device.revoke"
    SIM_SWAP = "simswap"


class AuditError(ValueError):
    """An audit entry that cannot be stored as given (a programming error, or a bad --actor)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at_ns: int
    actor: str
    action: str
    target: str
    detail: str
    move_ref: str | None  # the money movement the action caused, if any (moves.audit_id)


def operator_name() -> str:
    """Who runs the command: the operating-system user (a uid when the system has no name for it)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (some containers)
        return f"uid:{os.getuid()}"


def check_actor(actor: str) -> str:
    """The actor as stored; AuditError if it is empty, too long or not printable on one line."""
    actor = actor.strip()
    if not actor or len(actor) > ACTOR_MAX_CHARS or not actor.isprintable():
        raise AuditError(f"actor {actor!r}: 1 to {ACTOR_MAX_CHARS} printable characters")
    return actor


def record_txn(
    conn: Connection, actor: str, action: str, target: str, detail: str, now_ns: int
) -> int:
    """Append one entry in the caller's transaction; its id (for moves.audit_id)."""
    if not action or len(action) > _ACTION_MAX_CHARS or len(target) > _TARGET_MAX_CHARS:
        raise AuditError(f"audit action {action!r} on {target!r}: too long or empty")
    return append_txn(conn, now_ns, check_actor(actor), action, target, detail)


def record_security_event_txn(
    conn: Connection, actor: str, event: SecurityEvent, target: str, detail: str, now_ns: int
) -> int:
    """Append a security decision (`actor` SYSTEM_ACTOR when made by rule); its id."""
    return record_txn(conn, actor, SecurityEvent(event).value, target, detail, now_ns)


_LISTED = (
    "id",
    "at_ns",
    "actor",
    "action",
    "target",
    "detail",
)  # AuditEntry's fields, less move_ref


def list_txn(conn: Connection, target: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """The latest entries (of one target, if given), newest first, each with its move's ref."""
    query = (
        select(*(audit_log.c[name] for name in _LISTED), moves.c.ref)
        .select_from(audit_log.outerjoin(moves, moves.c.audit_id == audit_log.c.id))
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    if target is not None:
        query = query.where(audit_log.c.target == target)
    return [AuditEntry(*row) for row in conn.execute(query)]
