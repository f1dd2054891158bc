"""The outbox: SMS waiting to be sent. TranProc and services add rows inside their own transaction;
the sender (daemon.sender) claims and submits them.

`daemon.outbox.claims` claims due rows and records what the SMSC answered (the SQL side of the
sender); `daemon.outbox.disposition` says what an answer does to a row; `daemon.outbox.rollup` turns
the parts' receipts into the row's final status."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert

from daemon.schema import outbox
from ledger.fastpath import bulk_insert

if TYPE_CHECKING:
    from daemon.security.receipts import ReceiptFields


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # waiting for next_attempt_at_ns
    IN_FLIGHT = "in_flight"  # claimed by the sender, submit_sm under way
    SUBMITTED = "submitted"  # every part accepted by the SMSC, receipts awaited
    DELIVERED = "delivered"  # every part's receipt says DELIVRD (a USSD screen: its submit_sm_resp)
    FAILED = "failed"  # a receipt says it was not delivered (a USSD screen: the SMSC refused it)
    UNDELIVERABLE = "undeliverable"  # the SMSC refused it for good or attempts ran out


class PartStatus(StrEnum):
    """Of one part in outbox_parts (a long SMS goes as several)."""

    SUBMITTED = "submitted"  # accepted by the SMSC, its receipt awaited
    DELIVERED = "delivered"
    FAILED = "failed"


FINAL_STATUSES = frozenset(
    {OutboxStatus.DELIVERED, OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE}
)


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    destination_addr: str
    text: str
    source_addr: str
    inbox_id: int | None = None
    bind_name: str | None = None  # answer on the bind the MO came in on when it is up
    on_failure: str | None = None  # name of a sweeper hook to call if finally not delivered
    on_failure_ref: int | None = None
    deliver_by_ns: int | None = None  # the hook fires if not delivered by then
    holds_code: bool = False  # a one-time code in the text: masked once the row is final
    # What its receipt tag signs (a money confirmation): an encrypted copy carries the Ed25519
    # signature too (daemon.security.app_receipt). Not stored: the tag in the text is.
    receipt: ReceiptFields | None = None
    ussd: UssdScreen | None = None  # a USSD screen, not an SMS: sent in its session (d0008)


@dataclass(frozen=True, slots=True)
class UssdScreen:
    """How a USSD screen travels: in the dialogue `session_key` (as the bind's dialect writes it),
    with this ussd_service_op (USSR request: an answer is awaited; PSSR response: the last one)."""

    session_key: str
    op: int
    end: bool


def queue_sms_txn(conn: Connection, messages: list[OutgoingSms], now_ns: int) -> None:
    """Add SMS to the outbox in the caller's transaction (one executemany)."""
    if messages:
        _insert_outbox.executemany(conn, [_values(sms, now_ns) for sms in messages])


def queue_one_sms_txn(conn: Connection, sms: OutgoingSms, now_ns: int) -> int:
    """Add one SMS (a USSD screen its session points at) and return its outbox id."""
    query = insert(outbox).values(_row(sms, now_ns)).returning(outbox.c.id)
    return conn.execute(query).scalar_one()


def _values(sms: OutgoingSms, now_ns: int) -> tuple:
    """_row's values in _OUTBOX_COLUMNS order, plain types for the driver."""
    ussd = sms.ussd
    return (
        sms.inbox_id, now_ns, sms.source_addr, sms.destination_addr, sms.text, sms.bind_name,
        OutboxStatus.QUEUED.value, 0, now_ns, 0, sms.on_failure, sms.on_failure_ref,
        sms.deliver_by_ns, bool(sms.holds_code),
        ussd.session_key if ussd else None, int(ussd.op) if ussd else None,
        bool(ussd.end) if ussd else None,
    )  # fmt: skip


def _row(sms: OutgoingSms, now_ns: int) -> dict[str, object]:
    return {
        "inbox_id": sms.inbox_id,
        "created_at_ns": now_ns,
        "source_addr": sms.source_addr,
        "destination_addr": sms.destination_addr,
        "text": sms.text,
        "bind_name": sms.bind_name,
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at_ns": now_ns,
        "parts_total": 0,
        "on_failure": sms.on_failure,
        "on_failure_ref": sms.on_failure_ref,
        "deliver_by_ns": sms.deliver_by_ns,
        "holds_code": sms.holds_code,
        "ussd_session": sms.ussd.session_key if sms.ussd else None,
        "ussd_op": sms.ussd.op if sms.ussd else None,
        "ussd_end": sms.ussd.end if sms.ussd else None,
    }


_OUTBOX_COLUMNS = tuple(_row(OutgoingSms("", "", ""), 0))  # _values' order
# Compiled once, the rows straight to the driver's executemany: SQLAlchemy's per-call statement
# and per-row parameter work cost more than SQLite's insert (benchmarks/profile.py, issue 19).
_insert_outbox = bulk_insert(outbox, _OUTBOX_COLUMNS)
