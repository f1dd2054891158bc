"""The sender: claims outbox rows, submits them through the bind pool, records the outcomes in batches.

A round is: one transaction claims up to `batch_size` queued rows (marks them in_flight with
claimed_at_ns; PostgreSQL skips rows another sender has locked), the rows are split into parts and every
part goes to `pool.submit`, and as answers come back the outcomes are written by one transaction for many
messages (group commit: as soon as every outstanding message has an answer, or after
`record_max_wait_ms`). Nothing on this path does a database round trip per message.

What an answer does to the row:
- every part ESME_ROK: parts stored with their message ids (and normalised keys, see daemon.receipts),
  row submitted; receipts that overtook the submit_sm_resp are applied at once;
- a permanent error status: undeliverable, `last_error` names the status;
- a temporary status (THROTTLED / MSGQFUL after the protocol's own retries, RX_T_APPN, SYSERR), or an
  unknown outcome (ResponseTimeout, ConnectionLostError): queued again after retry_delay_s with the
  attempt counted; undeliverable once attempts reach max_attempts;
- nothing left this process (NoBindAvailable, NotSent, QueueFull): queued again, no attempt counted.

At-least-once: after a ResponseTimeout or a lost connection the SMSC may have accepted the message; it
is sent again, so the subscriber can get it twice. Likewise a crash between the claim and the record
leaves rows in_flight, and the sweeper re-queues them after in_flight_timeout_s. Losing a reply is worse
than a duplicate (the design's "every MO gets a reply"); money hooks never depend on a reply being
unique. Parts already accepted are never re-sent: a retry re-uses the stored concatenation reference and
submits only the missing parts, so the handset can still join them.
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, or_, select, update
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon.clock import NS_PER_S, now_ns
from daemon.config import BindConfig, SenderConfig
from daemon.outbox import OutboxStatus
from daemon.receipts import PartStatus, apply_early_receipts_txn, message_keys, rollup_txn
from daemon.schema import outbox, outbox_parts
from ledger.batch import BulkStatement, id_filter
from ledger.prepared import PreparedSelect, in_parameter_value
from smscore.client import NoBindAvailable
from smscore.concat import MessagePart, split_message
from smscore.constants import EsmClass, Npi, RegisteredDelivery, Ton
from smscore.defaults import DEFAULT_WINDOW
from smscore.pdu import PDU, SubmitSm
from smscore.protocol import ConnectionLostError, NotSent, QueueFull, ResponseTimeout
from smscore.status import CommandStatus

log = Logger()

_RECORD_RETRY_S = 1.0  # after a failed outcome write (database down): try the same batch again
_MAX_RECORD_RETRIES = 30  # then leave the rows in_flight for the sweeper rather than loop forever
_MAX_ADDRESS_CHARS = 20  # submit_sm addresses are C-strings of at most 21 octets
_UNLIMITED_QUEUE_WINDOWS = 20  # without a TPS limit, keep this many windows' worth queued per bind


class Disposition(IntEnum):
    """What happens to a row; when its parts disagree, the highest value wins."""

    SUBMITTED = 0
    RETRY_FREE = 1  # nothing reached the SMSC: queued again, no attempt counted
    RETRY_COUNTED = 2  # temporary refusal or unknown outcome: queued again, attempt counted
    UNDELIVERABLE = 3  # refused for good (or cannot be encoded)


@dataclass(frozen=True, slots=True)
class ClaimedSms:
    id: int
    source_addr: str
    destination_addr: str
    text: str
    bind_name: str | None
    attempts: int
    claimed_at_ns: int
    concat_reference: int | None
    parts_done: frozenset[int]  # part numbers accepted by an earlier attempt


@dataclass(frozen=True, slots=True)
class AcceptedPart:
    part_no: int
    message_id: str


@dataclass(frozen=True, slots=True)
class SmsOutcome:
    sms: ClaimedSms
    reference: int
    parts_total: int
    bind_name: str
    accepted: tuple[AcceptedPart, ...]
    disposition: Disposition
    error: str


# --- classifying answers ----------------------------------------------------------------------


def status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def classify_status(status: int) -> Disposition:
    if status == CommandStatus.ESME_ROK:
        return Disposition.SUBMITTED
    try:
        temporary = CommandStatus(status).is_temporary
    except ValueError:
        temporary = False  # vendor-specific: retrying blindly could repeat a refusal forever
    return Disposition.RETRY_COUNTED if temporary else Disposition.UNDELIVERABLE


def classify_error(error: BaseException) -> Disposition:
    if isinstance(error, NoBindAvailable | NotSent | QueueFull):
        return Disposition.RETRY_FREE
    if not isinstance(error, ResponseTimeout | ConnectionLostError):
        log.error("unexpected submit failure {error!r}; retrying as unknown outcome", error=error)
    return Disposition.RETRY_COUNTED


# --- database side ----------------------------------------------------------------------------

_CLAIM_COLUMNS = (
    outbox.c.id,
    outbox.c.source_addr,
    outbox.c.destination_addr,
    outbox.c.text,
    outbox.c.bind_name,
    outbox.c.attempts,
    outbox.c.concat_reference,
)


def _select_due(dialect_name: str) -> Select:
    return (
        select(*_CLAIM_COLUMNS)
        .where(
            outbox.c.status == bindparam("queued"),
            outbox.c.next_attempt_at_ns <= bindparam("now"),
            or_(outbox.c.deliver_by_ns.is_(None), outbox.c.deliver_by_ns > bindparam("now")),
        )
        .order_by(outbox.c.next_attempt_at_ns, outbox.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


# Compiled once, run on the driver's cursor: SQLAlchemy's per-call statement work cost more
# than SQLite's own (see BENCHMARKS.md, End to end).
_select_due_rows = PreparedSelect(_select_due)
_mark_in_flight = {
    dialect_name: BulkStatement(
        update(outbox)
        .where(id_filter(dialect_name)(outbox.c.id))
        .values(status=bindparam("c_status"), claimed_at_ns=bindparam("c_now"))
    )
    for dialect_name in ("sqlite", "postgresql")
}


def claim_outbox_txn(conn: Connection, limit: int, now: int) -> list[ClaimedSms]:
    """Mark up to `limit` due rows in_flight and return them. Rows past deliver_by are left to the
    sweeper: a late confirmation must not reach a subscriber whose transfer was voided."""
    params = {"queued": OutboxStatus.QUEUED.value, "now": now, "limit": limit}
    rows = _select_due_rows.all(conn, params)
    if not rows:
        return []
    ids = [row[0] for row in rows]
    in_flight = (in_parameter_value(conn.dialect.name, ids), OutboxStatus.IN_FLIGHT.value, now)
    _mark_in_flight[conn.dialect.name].executemany(conn, ("ids", "c_status", "c_now"), [in_flight])
    done = _parts_done(conn, [row[0] for row in rows if row[6] is not None])
    return [
        ClaimedSms(
            row_id,
            source_addr,
            destination_addr,
            text,
            bind_name,
            attempts,
            now,
            concat_reference,
            frozenset(done.get(row_id, ())),
        )
        for row_id, source_addr, destination_addr, text, bind_name, attempts, concat_reference in rows
    ]


def _parts_done(conn: Connection, outbox_ids: list[int]) -> dict[int, list[int]]:
    if not outbox_ids:
        return {}
    done: dict[int, list[int]] = {}
    query = select(outbox_parts.c.outbox_id, outbox_parts.c.part_no).where(
        outbox_parts.c.outbox_id.in_(outbox_ids)
    )
    for outbox_id, part_no in conn.execute(query):
        done.setdefault(outbox_id, []).append(part_no)
    return done


_SET_OUTCOME = BulkStatement(
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at_ns=bindparam("b_next_attempt_at_ns"),
        claimed_at_ns=bindparam("b_claimed_at_ns"),
        parts_total=bindparam("b_parts_total"),
        last_error=bindparam("b_last_error"),
        final_at_ns=bindparam("b_final_at_ns"),
        concat_reference=bindparam("b_reference"),
    )
)
_OUTCOME_PARAMS = (
    "b_id",
    "b_status",
    "b_attempts",
    "b_next_attempt_at_ns",
    "b_parts_total",
    "b_last_error",
    "b_final_at_ns",
    "b_reference",
    "b_claimed_at_ns",
)
_PART_COLUMNS = (
    "outbox_id",
    "part_no",
    "bind_name",
    "message_id",
    "message_key",
    "message_key_alt",
    "status",
    "submitted_at_ns",
)
_PART_PARAMS = tuple(f"p_{column}" for column in _PART_COLUMNS)
_insert_parts = BulkStatement(
    insert(outbox_parts).values(
        {
            column: bindparam(param)
            for column, param in zip(_PART_COLUMNS, _PART_PARAMS, strict=True)
        }
    )
)


@dataclass(slots=True)
class RecordResult:
    recorded: int = 0
    stale: int = 0  # rows the sweeper had already re-queued: their outcome is dropped


def record_outcomes_txn(
    conn: Connection, outcomes: Sequence[SmsOutcome], now: int, config: SenderConfig
) -> RecordResult:
    """Store the parts and the new status of every row in one transaction (a few statements)."""
    fresh = _still_claimed(conn, outcomes)
    result = RecordResult(recorded=len(fresh), stale=len(outcomes) - len(fresh))
    if not fresh:
        return result
    parts = [_part_row(outcome, part, now) for outcome in fresh for part in outcome.accepted]
    if parts:
        rows = [tuple(part[column] for column in _PART_COLUMNS) for part in parts]
        _insert_parts.executemany(conn, _PART_PARAMS, rows)
    updates = [_row_update(outcome, now, config) for outcome in fresh]
    _SET_OUTCOME.executemany(
        conn, _OUTCOME_PARAMS, [tuple(row[name] for name in _OUTCOME_PARAMS) for row in updates]
    )
    keys = [(part["message_key"], part["message_key_alt"]) for part in parts]
    touched = apply_early_receipts_txn(conn, keys, now) if keys else set()
    # Parts accepted by an earlier attempt may already have their receipts.
    touched |= {outcome.sms.id for outcome in fresh if outcome.sms.parts_done}
    rollup_txn(conn, touched, now)
    return result


_select_claims = PreparedSelect(
    lambda dialect_name: (
        select(outbox.c.id, outbox.c.status, outbox.c.claimed_at_ns, outbox.c.attempts)
        .where(id_filter(dialect_name)(outbox.c.id))
        .with_for_update()
    )
)


def _still_claimed(conn: Connection, outcomes: Sequence[SmsOutcome]) -> list[SmsOutcome]:
    ids = [outcome.sms.id for outcome in outcomes]
    rows = _select_claims.all(conn, {"ids": in_parameter_value(conn.dialect.name, ids)})
    current = {row[0]: row for row in rows}
    fresh = []
    for outcome in outcomes:
        row = current.get(outcome.sms.id)
        if (
            row is not None
            and row[1] == OutboxStatus.IN_FLIGHT
            and (row[2], row[3]) == (outcome.sms.claimed_at_ns, outcome.sms.attempts)
        ):
            fresh.append(outcome)
        else:
            log.warn("outbox {id}: claim taken over (sweeper?); outcome dropped", id=outcome.sms.id)
    return fresh


def _part_row(outcome: SmsOutcome, part: AcceptedPart, now: int) -> dict[str, Any]:
    key, key_alt = message_keys(part.message_id)
    return {
        "outbox_id": outcome.sms.id,
        "part_no": part.part_no,
        "bind_name": outcome.bind_name,
        "message_id": part.message_id,
        "message_key": key,
        "message_key_alt": key_alt,
        "status": PartStatus.SUBMITTED.value,
        "submitted_at_ns": now,
    }


def _row_update(outcome: SmsOutcome, now: int, config: SenderConfig) -> dict[str, Any]:
    disposition = outcome.disposition
    attempts = outcome.sms.attempts + (disposition is not Disposition.RETRY_FREE)
    status, error = OutboxStatus.QUEUED, outcome.error or None
    if disposition is Disposition.SUBMITTED:
        status = OutboxStatus.SUBMITTED
    elif disposition is Disposition.UNDELIVERABLE:
        status = OutboxStatus.UNDELIVERABLE
    elif disposition is Disposition.RETRY_COUNTED and attempts >= config.max_attempts:
        status, error = OutboxStatus.UNDELIVERABLE, f"gave up after {attempts} attempts: {error}"
    return {
        "b_id": outcome.sms.id,
        "b_status": status.value,
        "b_attempts": attempts,
        "b_next_attempt_at_ns": now + int(config.retry_delay_s * NS_PER_S),
        "b_parts_total": outcome.parts_total,
        "b_last_error": error,
        "b_final_at_ns": now if status is OutboxStatus.UNDELIVERABLE else None,
        "b_reference": outcome.reference,
        "b_claimed_at_ns": None,
    }


# --- building submit_sm ------------------------------------------------------------------------


def address_type(address: str) -> tuple[int, int, str]:
    """(ton, npi, digits) for an address: +international, 0national, short code, or alphanumeric."""
    if address.startswith("+") and address[1:].isdigit():
        return Ton.INTERNATIONAL, Npi.ISDN, address[1:]
    if address.isascii() and address.isdigit():
        if address.startswith("0"):
            return Ton.NATIONAL, Npi.ISDN, address
        if len(address) >= 10:
            return Ton.INTERNATIONAL, Npi.ISDN, address
        return Ton.UNKNOWN, Npi.ISDN, address
    return Ton.ALPHANUMERIC, Npi.UNKNOWN, address


def address_problem(address: str, what: str) -> str | None:
    if not address:
        return f"{what} is empty"
    if len(address) > _MAX_ADDRESS_CHARS or not address.isascii():
        return f"{what} {address!r} is not an SMPP address (at most 20 ASCII characters)"
    return None


def build_submit(
    source: str, destination: str, part: MessagePart, request_receipt: bool
) -> SubmitSm:
    source_ton, source_npi, source_addr = address_type(source)
    dest_ton, dest_npi, destination_addr = address_type(destination)
    return SubmitSm(
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source_addr,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=destination_addr,
        esm_class=EsmClass.UDHI if part.esm_class_udhi else 0,
        registered_delivery=RegisteredDelivery.RECEIPT_ALWAYS if request_receipt else 0,
        data_coding=part.data_coding,
        short_message=part.short_message,
        tlvs=part.tlvs,
    )


def reference_for(method: str, reference: int) -> int | None:
    return None if method == "payload" else reference & (0xFF if method == "udh8" else 0xFFFF)


# --- the Twisted side ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Submission:
    """One row's parts on their way; resolved when every submitted part has its answer."""

    sms: ClaimedSms
    reference: int
    parts_total: int
    bind_name: str
    held: int  # pool slots this row counts against the in-flight bound
    pending: int = 1  # a guard held while the parts are being submitted
    accepted: list[AcceptedPart] = field(default_factory=list)
    disposition: Disposition = Disposition.SUBMITTED
    error: str = ""

    def fail(self, disposition: Disposition, error: str) -> None:
        if disposition > self.disposition or not self.error:
            self.disposition = max(self.disposition, disposition)
            self.error = error

    def outcome(self) -> SmsOutcome:
        return SmsOutcome(
            self.sms,
            self.reference,
            self.parts_total,
            self.bind_name,
            tuple(self.accepted),
            self.disposition,
            self.error,
        )


@dataclass(frozen=True, slots=True)
class _SplitSettings:
    concat_method: str = "udh8"
    default_alphabet: str = "gsm7"


class Sender:
    """Moves outbox rows to the SMSC. `wake()` after committing new rows; it also polls."""

    def __init__(
        self,
        reactor: Any,
        db: Any,
        pool: Any,
        bind_settings: Mapping[str, BindConfig],
        config: SenderConfig,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.pool = pool
        self.bind_settings = dict(bind_settings)
        self.config = config
        self._next_reference = (rng or random.Random()).randrange(0x10000)
        self._running = False
        self._claiming = False
        self._backlog = False  # the last claim was full: more rows are probably due
        self._woken_while_claiming = False  # rows were committed after the claim's SELECT
        self._round_call: IDelayedCall | None = None
        self._flush_call: IDelayedCall | None = None
        self._writing: Deferred | None = None
        self._held = 0  # parts claimed and not yet recorded
        self._unresolved = 0  # submissions still waiting for an answer
        self._resolved: list[_Submission] = []
        self._record_failures = 0  # consecutive failed outcome writes
        self.counters = {"claimed": 0, "submitted_parts": 0, "recorded": 0, "stale": 0}

    # --- lifecycle ---

    def start(self) -> None:
        self._running = True
        self._schedule_round(0)

    def stop(self) -> Deferred:
        """Stop claiming; write the outcomes already known. Rows still waiting for an answer stay
        in_flight (the sweeper re-queues them)."""
        self._running = False
        for call in (self._round_call, self._flush_call):
            if call is not None and call.active():
                call.cancel()
        self._round_call = self._flush_call = None
        if self._writing is not None:
            done = self._chain(self._writing)
            done.addCallback(lambda _: self._flush(final=True))
            return done
        return self._flush(final=True)

    def wake(self) -> None:
        """New rows were committed: claim soon (many wakes in one reactor turn make one round)."""
        if self._claiming:
            # The claim under way may have missed them: claim again as soon as it is done rather
            # than after poll_interval_s.
            self._woken_while_claiming = True
            return
        self._schedule_round(0)

    @property
    def in_flight_parts(self) -> int:
        return self._held

    def capacity(self) -> int:
        """Parts the pool can take now: enough to keep every bound window busy, no more than its queues
        drain within a quarter of in_flight_timeout_s (so the sweeper never re-queues a waiting row)."""
        total = 0
        for bind in self.pool.transmitters():
            settings = self.bind_settings.get(bind.name)
            window = settings.window if settings else DEFAULT_WINDOW
            tps = settings.tps_limit if settings else None
            if tps is None:
                total += window * _UNLIMITED_QUEUE_WINDOWS
            else:
                total += max(window, int(tps * self.config.in_flight_timeout_s / 4))
        return min(total, self.config.max_in_flight)

    # --- claiming ---

    def _schedule_round(self, delay_s: float) -> None:
        if not self._running:
            return
        call = self._round_call
        if call is not None and call.active():
            if call.getTime() <= self.reactor.seconds() + delay_s:
                return
            call.cancel()
        self._round_call = self.reactor.callLater(delay_s, self._round)

    def _round(self) -> None:
        self._round_call = None
        if not self._running or self._claiming:
            return
        limit = min(self.config.batch_size, self.capacity() - self._held)
        if limit <= 0:
            self._schedule_round(self.config.poll_interval_s)
            return
        self._claiming = True
        self._woken_while_claiming = False
        claim = self.db.run_interaction(
            "sender.claim", claim_outbox_txn, limit, now_ns(self.reactor)
        )
        claim.addCallbacks(self._claimed, self._claim_failed, callbackArgs=(limit,))

    def _claimed(self, rows: list[ClaimedSms], limit: int) -> None:
        self._claiming = False
        self._backlog = len(rows) >= limit
        self.counters["claimed"] += len(rows)
        for sms in rows:
            self._submit(sms)
        soon = self._backlog or self._woken_while_claiming
        self._schedule_round(0 if soon else self.config.poll_interval_s)

    def claim_limit(self) -> int:
        """How many rows another transaction may claim for this sender now (the TranProc does, for
        the replies it has just written: a commit and a pipeline turn fewer per reply)."""
        if not self._running:
            return 0
        return max(0, min(self.config.batch_size, self.capacity() - self._held))

    def take_claimed(self, rows: list[ClaimedSms]) -> None:
        """Submit rows another transaction claimed (and committed) for this sender."""
        self.counters["claimed"] += len(rows)
        for sms in rows:
            self._submit(sms)

    def _claim_failed(self, failure: Failure) -> None:
        self._claiming = False
        log.failure("claiming outbox rows failed", failure)
        self._schedule_round(self.config.poll_interval_s)

    # --- submitting ---

    def _split_settings(self, bind_name: str | None) -> _SplitSettings | BindConfig:
        if bind_name in self.bind_settings:
            return self.bind_settings[bind_name]  # type: ignore[index]
        return next(iter(self.bind_settings.values()), _SplitSettings())

    def _take_reference(self) -> int:
        reference, self._next_reference = self._next_reference, (self._next_reference + 1) & 0xFFFF
        return reference

    def _submit(self, sms: ClaimedSms) -> None:
        settings = self._split_settings(sms.bind_name)
        reference = sms.concat_reference
        if reference is None:
            reference = self._take_reference()
        source = sms.source_addr or self.config.source_addr
        problem = address_problem(source, "source address") or address_problem(
            sms.destination_addr, "destination address"
        )
        parts: list[MessagePart] = []
        if problem is None:
            try:
                parts = split_message(
                    sms.text,
                    settings.concat_method,
                    reference_for(settings.concat_method, reference),
                    default_alphabet=settings.default_alphabet,
                )
            except ValueError as exc:  # ConcatError, TextEncodingError: too long, cannot encode
                problem = f"cannot split the text: {exc}"
        to_send = [(no, part) for no, part in enumerate(parts, 1) if no not in sms.parts_done]
        held = max(1, len(to_send))
        submission = _Submission(sms, reference, len(parts), sms.bind_name or "", held)
        self._held += held
        self._unresolved += 1
        if problem is not None:
            submission.fail(Disposition.UNDELIVERABLE, problem)
        for part_no, part in to_send if problem is None else ():
            pdu = build_submit(source, sms.destination_addr, part, self.config.request_receipts)
            if not self._submit_part(submission, part_no, pdu):
                break
        self._part_done(submission)  # releases the guard

    def _submit_part(self, submission: _Submission, part_no: int, pdu: PDU) -> bool:
        try:
            answer = self.pool.submit(pdu, prefer=submission.sms.bind_name)
        except Exception as exc:  # NoBindAvailable, QueueFull: nothing was sent
            submission.fail(classify_error(exc), type(exc).__name__)
            return False
        submission.pending += 1
        self.counters["submitted_parts"] += 1
        answer.addCallbacks(
            self._part_answered,
            self._part_failed,
            callbackArgs=(submission, part_no),
            errbackArgs=(submission,),
        )
        return True

    def _part_answered(self, response: PDU, submission: _Submission, part_no: int) -> None:
        status = response.command_status
        if status == CommandStatus.ESME_ROK:
            message_id = response.message_id  # type: ignore[attr-defined]
            if isinstance(message_id, bytes):
                message_id = message_id.decode("latin-1")
            submission.accepted.append(AcceptedPart(part_no, (message_id or "").strip()))
        else:
            submission.fail(classify_status(status), status_name(status))
        self._part_done(submission)

    def _part_failed(self, failure: Failure, submission: _Submission) -> None:
        submission.fail(classify_error(failure.value), type(failure.value).__name__)
        self._part_done(submission)

    def _part_done(self, submission: _Submission) -> None:
        submission.pending -= 1
        if submission.pending:
            return
        self._unresolved -= 1
        self._resolved.append(submission)
        if self._running:
            wait_s = 0 if self._unresolved == 0 else self.config.record_max_wait_ms / 1000
            self._schedule_flush(wait_s)

    # --- recording ---

    def _schedule_flush(self, delay_s: float) -> None:
        call = self._flush_call
        if call is not None and call.active():
            if call.getTime() <= self.reactor.seconds() + delay_s:
                return
            call.cancel()
        self._flush_call = self.reactor.callLater(delay_s, self._flush)

    def _flush(self, final: bool = False) -> Deferred:
        self._flush_call = None
        if self._writing is not None or not self._resolved:
            return succeed(None)
        batch, self._resolved = self._resolved, []
        write = self.db.run_interaction(
            "sender.record",
            record_outcomes_txn,
            [submission.outcome() for submission in batch],
            now_ns(self.reactor),
            self.config,
        )
        self._writing = write
        write.addCallbacks(self._recorded, self._record_failed, (batch,), None, (batch,))
        return self._chain(write) if final else succeed(None)

    def _chain(self, write: Deferred) -> Deferred:
        done: Deferred = Deferred()
        write.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def _recorded(self, result: RecordResult, batch: list[_Submission]) -> None:
        self._writing = None
        self._record_failures = 0
        self._held -= sum(submission.held for submission in batch)
        self.counters["recorded"] += result.recorded
        self.counters["stale"] += result.stale
        if not self._running:
            return
        if self._resolved:
            self._schedule_flush(
                0 if self._unresolved == 0 else self.config.record_max_wait_ms / 1000
            )
        self._schedule_round(0 if self._backlog else self.config.poll_interval_s)

    def _record_failed(self, failure: Failure, batch: list[_Submission]) -> None:
        self._writing = None
        self._record_failures += 1
        log.failure("recording {count} send outcomes failed", failure, count=len(batch))
        if not self._running or self._record_failures > _MAX_RECORD_RETRIES:
            # The rows stay in_flight; the sweeper re-queues them (at-least-once).
            log.error(
                "giving up on {count} send outcomes; the sweeper re-queues them", count=len(batch)
            )
            self._held -= sum(submission.held for submission in batch)
            self._record_failures = 0
            return
        self._resolved[:0] = batch
        self._schedule_flush(_RECORD_RETRY_S)
