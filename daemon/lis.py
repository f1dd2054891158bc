"""LIS, the local integration server: the in-country layer bound to the SMSCs (M-Pesa's name for
it). It holds the inbox writer: what the binds receive goes durably into the inbox before the SMSC
gets ESME_ROK.

Group commit: deliver_sm from every bind are collected for at most `group_commit_max_wait_ms` (or until
`group_commit_max_batch`) and written in one transaction; each deliver_sm_resp waits for that commit.
If the write fails, every message of the batch is answered ESME_RX_T_APPN so the SMSC delivers it
again. Every whole MO is stored, repeats included: the inbox cannot tell an SMSC's re-delivery from a
person sending the same text again, so neither may end in silence. Each row carries a keyed digest of
(bind, source, destination, coding, payload), and the TranProc decides what a repeat within the dedupe
window gets (see daemon.repeats). Parts of a concatenated MO are stored one by one (each is
acknowledged; a re-sent part once) and become one inbox row when the last part arrives. Delivery
receipts go to the receipt sink inside the same transaction.

USSD: on a bind with a `ussd_dialect`, a deliver_sm that dialect reads as USSD (smscore.ussd_dialects)
becomes one inbox row with ussd_session/ussd_op/ussd_end set and the USSD string as its text ("1"),
no UDH looked for, never content-deduplicated ("1" on two screens is two answers; gateways do not
re-deliver a dialogue step; the session engine guards the money step). One with a missing or
malformed session field gets the status the codec names, unstored. Without a dialect: an SMS.

The messages waiting for a commit are bounded (`max_waiting`, each bind its share: daemon.inbox_queue):
past it a deliver_sm is answered ESME_RTHROTTLED at once, unstored (the SMSC delivers it again
later; `refused_queue_full`). The
rows not yet handled by the TranProc are bounded too (daemon.backpressure, `inbox.backlog`).
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import clock, pg_notify
from daemon.config import InboxConfig
from daemon.db import Database
from daemon.inbox_queue import WaitingQueue
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.schema import inbox, mo_parts
from ledger.fastpath import bulk_insert
from smscore.concat import ConcatError, ConcatInfo, concat_info
from smscore.pdu import PDU
from smscore.status import CommandStatus
from smscore.text import decode_text
from smscore.ussd import Dialect, UssdMessage
from smscore.ussd_dialects import UssdFieldError, has_ussd_fields, read_ussd

log = Logger()

INCOMPLETE_REPLY = "Part of your message was lost in the network. Please send it again."
# Ten full group commits at the default group_commit_max_batch (500): a database that far behind is
# not keeping up, and the SMSCs keep refused messages better than this process's memory would.
DEFAULT_MAX_WAITING = 5_000
FULL_QUEUE_STATUS = CommandStatus.ESME_RTHROTTLED  # temporary: the SMSC retries (after a pause)
EXPIRE_PARTS_LIMIT = 1000  # incomplete messages expired per sweep; the next sweep takes the rest
_DEDUPE_SECRET_BYTES = 32  # HMAC-SHA256 key as long as the hash (RFC 2104's recommendation)
_EXPIRED_KEY_RANDOM_BYTES = 16  # expired rows get a unique key no MO can collide with


class InboxStatus:
    """inbox.status: written 'new' here, marked 'done' or 'failed' by the TranProc."""

    NEW = "new"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IncomingMo:
    """One deliver_sm (whole message or one part) as the inbox stores it."""

    bind_name: str
    source_addr: str
    destination_addr: str
    data_coding: int
    body: bytes
    concat: ConcatInfo | None
    default_alphabet: str = "gsm7"
    ussd: UssdMessage | None = None  # a USSD dialogue step (never concatenated)


def mo_from_pdu(
    bind_name: str, pdu: PDU, default_alphabet: str = "gsm7", ussd_dialect: Dialect | None = None
) -> IncomingMo:
    """The inbox's view of a deliver_sm; raises UssdFieldError for a USSD one `ussd_dialect`
    cannot read (its `status` is the answer)."""
    ussd = read_ussd(ussd_dialect, pdu) if ussd_dialect is not None else None
    if ussd is not None:
        body = bytes(pdu.short_message or pdu.tlvs.get("message_payload") or b"")
        fields = (bind_name, pdu.source_addr, pdu.destination_addr, pdu.data_coding, body)
        return IncomingMo(*fields, None, default_alphabet, ussd)
    try:
        info, body = concat_info(pdu.esm_class, pdu.short_message, pdu.tlvs)
    except ConcatError:
        # A header we cannot read: keep the octets whole rather than refuse the message.
        info, body = None, pdu.tlvs.get("message_payload") or pdu.short_message
    return IncomingMo(
        bind_name,
        pdu.source_addr,
        pdu.destination_addr,
        pdu.data_coding,
        bytes(body),
        info,
        default_alphabet,
    )


def dedupe_key(mo: IncomingMo, body: bytes, secret: bytes) -> str:
    if mo.ussd is not None:  # never a repeat of another row (see the module docstring)
        return f"ussd-{secrets.token_hex(_EXPIRED_KEY_RANDOM_BYTES)}"
    # Keyed: a plain hash of "BAL 1234" would give the PIN away to anyone reading the table.
    digest = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (mo.bind_name, mo.source_addr, mo.destination_addr, str(mo.data_coding)):
        digest.update(part.encode("utf-8") + b"\x00")
    digest.update(body)
    return digest.hexdigest()


def _text_of(mo: IncomingMo, body: bytes) -> str:
    try:
        text = decode_text(body, mo.data_coding, mo.default_alphabet, errors="replace")
        # PostgreSQL text cannot hold NUL: one such MO would fail its whole batch, again and again.
        return text.replace("\x00", "")
    except ValueError:  # binary or unsupported coding: keep a visible trace, never fail the write
        return body.hex()


# --- the group-commit transaction -------------------------------------------------------------


def write_batch_txn(
    conn: Connection,
    mos: list[IncomingMo],
    receipts: list[Any],
    receipt_sink: Callable[[Connection, list[Any], int], None] | None,
    now_ns: int,
    dedupe_secret: bytes,
) -> int:
    """Store a batch of MOs (and apply receipts); returns how many new inbox rows were written."""
    if receipts and receipt_sink is not None:
        receipt_sink(conn, receipts, now_ns)
    whole = [(mo, mo.body) for mo in mos if mo.concat is None]
    parts = [mo for mo in mos if mo.concat is not None]
    if parts:
        whole.extend(_store_parts(conn, parts, now_ns))
    return pg_notify.notify_inbox_txn(conn, _insert_whole(conn, whole, now_ns, dedupe_secret))


class _InboxRow(NamedTuple):
    received_at_ns: int
    bind_name: str
    source_addr: str
    destination_addr: str
    data_coding: int
    payload: bytes
    text: str
    dedupe_key: str
    status: str
    attempts: int
    ussd_session: str | None
    ussd_op: int | None
    ussd_end: bool | None


# Compiled once; the rows go to the driver's executemany (SQLAlchemy's per-row parameter
# processing cost about as much as the insert).
_insert_inbox = bulk_insert(inbox, _InboxRow._fields)


def _insert_whole(
    conn: Connection, whole: list[tuple[IncomingMo, bytes]], now_ns: int, secret: bytes
) -> int:
    rows = [_inbox_row(mo, body, dedupe_key(mo, body, secret), now_ns) for mo, body in whole]
    if rows:
        _insert_inbox.executemany(conn, rows)
    return len(rows)


def _inbox_row(
    mo: IncomingMo, body: bytes, key: str, now_ns: int, status: str = InboxStatus.NEW
) -> _InboxRow:
    return _InboxRow(
        received_at_ns=now_ns,
        bind_name=mo.bind_name,
        source_addr=mo.source_addr,
        destination_addr=mo.destination_addr,
        data_coding=mo.data_coding,
        payload=body,
        text=_text_of(mo, body),
        dedupe_key=key,
        status=status,
        attempts=0,
        ussd_session=mo.ussd.session_key if mo.ussd else None,
        ussd_op=int(mo.ussd.op) if mo.ussd else None,
        ussd_end=mo.ussd.end if mo.ussd else None,
    )


def _insert_ignoring_duplicates(conn: Connection, rows: list[dict]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(mo_parts).on_conflict_do_nothing(), rows)


def _message_identity(mo: IncomingMo) -> tuple:
    assert mo.concat is not None
    return (mo.bind_name, mo.source_addr, mo.destination_addr, mo.concat.reference, mo.concat.total)


_IDENTITY_COLUMNS = (
    mo_parts.c.bind_name,
    mo_parts.c.source_addr,
    mo_parts.c.destination_addr,
    mo_parts.c.reference,
    mo_parts.c.total,
)


def _store_parts(conn: Connection, parts: list[IncomingMo], now_ns: int) -> list[tuple]:
    """Store parts; return (mo, joined body) for every message this batch completed."""
    _insert_ignoring_duplicates(
        conn,
        [
            {
                "bind_name": mo.bind_name,
                "source_addr": mo.source_addr,
                "destination_addr": mo.destination_addr,
                "reference": mo.concat.reference,
                "total": mo.concat.total,
                "sequence": mo.concat.sequence,
                "data_coding": mo.data_coding,
                "body": mo.body,
                "received_at_ns": now_ns,
            }
            for mo in parts
            if mo.concat is not None
        ],
    )
    touched = {_message_identity(mo): mo for mo in parts}
    completed = []
    for identity, mo in touched.items():
        rows = conn.execute(
            select(mo_parts.c.id, mo_parts.c.sequence, mo_parts.c.body, mo_parts.c.inbox_id)
            .where(tuple_(*_IDENTITY_COLUMNS) == identity)
            .order_by(mo_parts.c.sequence)
        ).all()
        if len(rows) != identity[-1] or any(row.inbox_id is not None for row in rows):
            continue  # still incomplete, or already assembled (a re-sent part)
        completed.append((mo, b"".join(row.body for row in rows), [row.id for row in rows]))
    return [_mark_assembled(conn, mo, body, part_ids) for mo, body, part_ids in completed]


def _mark_assembled(conn: Connection, mo: IncomingMo, body: bytes, part_ids: list[int]) -> tuple:
    # inbox_id 0 marks "assembled" (the inbox row is written by the caller); the parts stay for the
    # dedupe window so a re-sent part is ignored, then expire_parts_txn deletes them. Their bodies go
    # now: the whole text is in the inbox (masked there once parsed), and a part may hold a PIN.
    assembled = update(mo_parts).where(mo_parts.c.id.in_(part_ids))
    conn.execute(assembled.values(inbox_id=0, body=b""))
    return (mo, body)


def expire_parts_txn(
    conn: Connection,
    now_ns: int,
    concat_timeout_ns: int,
    dedupe_window_ns: int,
    limit: int = EXPIRE_PARTS_LIMIT,
) -> int:
    """Incomplete messages past the timeout become failed inbox rows with a 'send again' reply;
    assembled parts past the dedupe window are deleted. Returns how many messages expired."""
    conn.execute(
        delete(mo_parts).where(
            mo_parts.c.inbox_id.is_not(None), mo_parts.c.received_at_ns < now_ns - dedupe_window_ns
        )
    )
    stale = conn.execute(
        select(
            *_IDENTITY_COLUMNS,
            func.count().label("parts_received"),
            func.min(mo_parts.c.data_coding).label("data_coding"),
        )
        .where(mo_parts.c.inbox_id.is_(None))
        .group_by(*_IDENTITY_COLUMNS)
        .having(func.max(mo_parts.c.received_at_ns) < now_ns - concat_timeout_ns)
        .limit(limit)
    ).all()
    for row in stale:
        identity = tuple(row[: len(_IDENTITY_COLUMNS)])
        _expire_one(conn, identity, row.parts_received, row.data_coding, now_ns)
    return len(stale)


def _expire_one(conn: Connection, identity: tuple, received: int, coding: int, now_ns: int) -> None:
    bind_name, source, destination, _reference, total = identity
    where = and_(tuple_(*_IDENTITY_COLUMNS) == identity, mo_parts.c.inbox_id.is_(None))
    mo = IncomingMo(bind_name, source, destination, coding, b"", None)
    # The parts received are not kept: no TranProc parses a failed row, so a PIN in them would
    # never be masked. The sender is asked to send the whole message again.
    row = _inbox_row(
        mo,
        b"",
        f"expired-{secrets.token_hex(_EXPIRED_KEY_RANDOM_BYTES)}",
        now_ns,
        status=InboxStatus.FAILED,
    )._asdict()
    row["error"] = f"incomplete concatenated message: {received} of {total} parts"
    inbox_id = conn.execute(insert(inbox).returning(inbox.c.id), [row]).scalar_one()
    conn.execute(update(mo_parts).where(where).values(inbox_id=inbox_id, body=b""))
    queue_sms_txn(
        conn,
        [
            OutgoingSms(
                source, INCOMPLETE_REPLY, destination, inbox_id=inbox_id, bind_name=bind_name
            )
        ],
        now_ns,
    )


# --- the reactor side -----------------------------------------------------------------------


@dataclass(slots=True)
class _Waiting:
    mo: IncomingMo | None
    receipt: Any
    answer: Deferred


class InboxWriter:
    """Collects deliver_sm from all binds and commits them in groups; answers each after the commit."""

    def __init__(
        self,
        reactor: Any,
        db: Database,
        config: InboxConfig,
        *,
        on_committed: Callable[[], None] = lambda: None,
        is_receipt: Callable[[PDU], bool] = lambda pdu: False,
        receipt_from_pdu: Callable[[PDU, str], Any] | None = None,
        receipt_sink: Callable[[Connection, list[Any], int], None] | None = None,
        dedupe_secret: bytes = b"",
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self.reactor = reactor
        self.max_waiting = max_waiting
        self.db = db
        self.config = config
        self.on_committed = on_committed
        self.is_receipt = is_receipt
        self.receipt_from_pdu = receipt_from_pdu
        self.receipt_sink = receipt_sink
        self.dedupe_secret = dedupe_secret or secrets.token_bytes(_DEDUPE_SECRET_BYTES)
        self._waiting: WaitingQueue[_Waiting] = WaitingQueue(max_waiting)  # fair across binds
        self._timer: IDelayedCall | None = None
        self._writing_count = 0  # MOs and receipts in the write under way (0: none)
        self.backlog: Any = None  # daemon.backpressure.Backlog: the bound daemon.binds puts first
        self._idle_waiters: list[Deferred] = []
        self._ussd_ignored_on: set[str] = set()  # binds whose stray USSD TLVs were logged
        self.counters = {
            "mo_received": 0,
            "receipts_received": 0,
            "commits": 0,
            "write_failures": 0,
            "refused_queue_full": 0,  # answered FULL_QUEUE_STATUS, not stored
            "refused_ussd": 0,  # a USSD deliver_sm its bind's dialect could not read
        }

    def handler_for(
        self, bind_name: str, default_alphabet: str = "gsm7", ussd_dialect: Dialect | None = None
    ) -> Callable[[PDU], Deferred]:
        """The on_message callback for one bind's ESME protocol."""
        return lambda pdu: self.accept(bind_name, pdu, default_alphabet, ussd_dialect)

    def accept(
        self,
        bind_name: str,
        pdu: PDU,
        default_alphabet: str = "gsm7",
        ussd_dialect: Dialect | None = None,
    ) -> Deferred:
        """The deliver_sm_resp status for `pdu`, once it is committed (or refused)."""
        if self._waiting.full_for(bind_name):
            self.counters["refused_queue_full"] += 1
            return succeed(FULL_QUEUE_STATUS)
        answer: Deferred = Deferred()
        if self.receipt_from_pdu is not None and self.is_receipt(pdu):
            self.counters["receipts_received"] += 1
            receipt = self.receipt_from_pdu(pdu, bind_name)
            self._waiting.append(bind_name, _Waiting(None, receipt, answer))
        else:
            try:
                mo = mo_from_pdu(bind_name, pdu, default_alphabet, ussd_dialect)
            except UssdFieldError as exc:
                self.counters["refused_ussd"] += 1
                log.warn("{bind}: USSD deliver_sm refused: {error}", bind=bind_name, error=exc)
                return succeed(exc.status)
            if ussd_dialect is None and bind_name not in self._ussd_ignored_on:
                self._note_stray_ussd(bind_name, pdu)
            self.counters["mo_received"] += 1
            self._waiting.append(bind_name, _Waiting(mo, None, answer))
        if len(self._waiting) >= self.config.group_commit_max_batch:
            self._write_now()
        elif self._timer is None and not self._writing_count:
            delay_s = self.config.group_commit_max_wait_ms / 1000
            self._timer = self.reactor.callLater(delay_s, self._write_now)
        return answer

    def _note_stray_ussd(self, bind_name: str, pdu: PDU) -> None:
        if has_ussd_fields(pdu):
            self._ussd_ignored_on.add(bind_name)
            log.warn(
                "{bind}: a deliver_sm carries USSD fields but the bind has no ussd_dialect; "
                "taken as SMS (logged once)",
                bind=bind_name,
            )

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)

    @property
    def uncommitted_count(self) -> int:  # accepted: waiting for a write or in the one under way
        return len(self._waiting) + self._writing_count

    def flush(self) -> Deferred | None:
        """Write what is waiting; the Deferred fires once everything accepted so far is committed
        (None when nothing was waiting or being written)."""
        self._write_now()
        if not self._writing_count:
            return None
        idle: Deferred = Deferred()
        self._idle_waiters.append(idle)
        return idle

    def _write_now(self) -> None:
        # One write at a time: what arrives during a write goes into the next one as soon as it
        # ends. Under load each commit (one fsync) then carries more MOs, instead of more commits
        # queueing up behind each other on the database thread.
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._writing_count or not self._waiting:
            return
        limit = self.config.group_commit_max_batch
        batch = self._waiting.take(limit)
        mos = [item.mo for item in batch if item.mo is not None]
        receipts = [item.receipt for item in batch if item.receipt is not None]
        self._writing_count = len(batch)
        written = self.db.run_interaction(
            "inbox.write_batch",
            write_batch_txn,
            mos,
            receipts,
            self.receipt_sink,
            clock.now_ns(self.reactor),
            self.dedupe_secret,
        )
        written.addCallbacks(self._committed, self._failed, (batch,), None, (batch,))
        written.addBoth(self._write_finished)

    def _write_finished(self, result: Any) -> None:
        self._writing_count = 0
        if isinstance(result, Failure):
            log.failure("answering after an inbox write failed", result)
        if self._waiting:
            self._write_now()  # they have already waited for a whole commit
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for idle in waiters:
            idle.callback(None)

    def _committed(self, new_rows: int, batch: list[_Waiting]) -> None:
        self.counters["commits"] += 1
        for item in batch:
            item.answer.callback(CommandStatus.ESME_ROK)
        if new_rows:
            self.on_committed()

    def _failed(self, failure: Any, batch: list[_Waiting]) -> None:
        self.counters["write_failures"] += 1
        log.failure("inbox write failed; answering ESME_RX_T_APPN so the SMSC retries", failure)
        for item in batch:
            item.answer.callback(CommandStatus.ESME_RX_T_APPN)
