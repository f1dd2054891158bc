"""The sender's SQL: claim due outbox rows, record what the SMSC answered (a few statements per batch).

`claim_outbox_txn` marks up to `limit` due rows in_flight, claimed by the caller's lease owner
(daemon.outbox.leases; PostgreSQL skips rows another sender has locked); the TranProc also calls it
inside its batch transaction for the replies it has just written. `record_outcomes_txn` stores the accepted parts and the new status of every row in one
transaction; rows the sweeper re-queued meanwhile keep the sweeper's decision. The rules for what an
answer does to a row are in daemon.sender's docstring. A claimed USSD screen carries its UssdScreen
(the row's ussd_session / ussd_op / ussd_end); its outcome is final at once (`_ussd_status`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, bindparam, or_, select, update
from twisted.logger import Logger

from daemon.clock import NS_PER_S
from daemon.config import SenderConfig
from daemon.outbox import FINAL_STATUSES, OutboxStatus, PartStatus, UssdScreen
from daemon.outbox.disposition import Disposition
from daemon.outbox.rollup import rollup_txn
from daemon.receipts import apply_early_receipts_txn, message_keys
from daemon.schema import outbox, outbox_parts
from ledger.fastpath import (
    BulkStatement,
    PreparedSelect,
    bulk_insert,
    bulk_update,
    id_filter,
    in_parameter_value,
)

log = Logger()


@dataclass(frozen=True, slots=True)
class ClaimedSms:
    id: int  # the fields up to concat_reference are the row's columns (_CLAIM_COLUMNS)
    source_addr: str
    destination_addr: str
    text: str
    bind_name: str | None
    attempts: int
    concat_reference: int | None
    claimed_at_ns: int
    parts_done: frozenset[int]  # part numbers accepted by an earlier attempt
    ussd: UssdScreen | None = None  # a USSD screen: one submit_sm in its session, on its bind
    inbox_id: int | None = None  # the MO it answers (its log lines' correlation id, daemon.logs)


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
    refused: bool = False  # the SMSC answered with an error status (a USSD screen then failed)


@dataclass(slots=True)
class RecordResult:
    recorded: int = 0
    stale: int = 0  # rows the sweeper had already re-queued: their outcome is dropped


# --- claiming ----------------------------------------------------------------------------------


_ROW_FIELDS = 7  # the ClaimedSms fields that are columns
_CLAIM_COLUMNS = (
    *(outbox.c[name] for name in list(ClaimedSms.__dataclass_fields__)[:_ROW_FIELDS]),
    outbox.c.ussd_session,
    outbox.c.ussd_op,
    outbox.c.ussd_end,
    outbox.c.inbox_id,
)


def _select_due(dialect_name: str) -> Select:
    return (
        select(*_CLAIM_COLUMNS)
        .where(
            outbox.c.status == bindparam("queued"),
            outbox.c.next_attempt_at_ns <= bindparam("now_ns"),
            or_(outbox.c.deliver_by_ns.is_(None), outbox.c.deliver_by_ns > bindparam("now_ns")),
        )
        .order_by(outbox.c.next_attempt_at_ns, outbox.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


# Compiled once, run on the driver's cursor: SQLAlchemy's per-call statement work cost more
# than SQLite's own (see BENCHMARKS.md, End to end).
_select_due_rows = PreparedSelect(_select_due)
_MARK_IN_FLIGHT_NAMES = ("ids", "b_status", "b_claimed_at_ns", "b_claimed_by")
_mark_in_flight = {
    dialect_name: BulkStatement(
        update(outbox)
        .where(id_filter(dialect_name)(outbox.c.id))
        .values(
            status=bindparam("b_status"),
            claimed_at_ns=bindparam("b_claimed_at_ns"),
            claimed_by=bindparam("b_claimed_by"),
        ),
        _MARK_IN_FLIGHT_NAMES,
    )
    for dialect_name in ("sqlite", "postgresql")
}
_select_parts_done = PreparedSelect(
    lambda dialect_name: select(outbox_parts.c.outbox_id, outbox_parts.c.part_no).where(
        id_filter(dialect_name)(outbox_parts.c.outbox_id)
    )
)


def claim_outbox_txn(
    conn: Connection, limit: int, now_ns: int, owner: str | None
) -> list[ClaimedSms]:
    """Mark up to `limit` due rows in_flight, claimed by `owner` (the claiming process's lease owner;
    None: no lease, only the in_flight_timeout_s rule frees them), and return them. Rows past
    deliver_by are left to the sweeper: a late confirmation must not reach a subscriber whose
    transfer was voided."""
    params = {"queued": OutboxStatus.QUEUED.value, "now_ns": now_ns, "limit": limit}
    rows = _select_due_rows.all(conn, params)
    if not rows:
        return []
    dialect_name = conn.dialect.name
    ids = in_parameter_value(dialect_name, [row.id for row in rows])
    marks = [(ids, OutboxStatus.IN_FLIGHT.value, now_ns, owner)]
    _mark_in_flight[dialect_name].executemany(conn, marks)
    done = _parts_done(conn, [row.id for row in rows if row.concat_reference is not None])
    return [
        ClaimedSms(
            *row[:_ROW_FIELDS], now_ns, frozenset(done.get(row.id, ())), _screen(row), row.inbox_id
        )
        for row in rows
    ]


def _screen(row: Any) -> UssdScreen | None:
    if row.ussd_op is None:
        return None
    return UssdScreen(row.ussd_session or "", row.ussd_op, bool(row.ussd_end))


def _parts_done(conn: Connection, outbox_ids: list[int]) -> dict[int, list[int]]:
    if not outbox_ids:
        return {}
    done: dict[int, list[int]] = {}
    wanted = {"ids": in_parameter_value(conn.dialect.name, outbox_ids)}
    for row in _select_parts_done.all(conn, wanted):
        done.setdefault(row.outbox_id, []).append(row.part_no)
    return done


# --- recording ---------------------------------------------------------------------------------


class _PartRow(NamedTuple):
    """One accepted part, as inserted into outbox_parts."""

    outbox_id: int
    part_no: int
    bind_name: str
    message_id: str
    message_key: str
    message_key_alt: str | None
    status: str
    submitted_at_ns: int


class _OutcomeRow(NamedTuple):
    """The new state of one outbox row (the SET columns, then the row's id)."""

    status: str
    attempts: int
    next_attempt_at_ns: int
    claimed_at_ns: int | None
    claimed_by: str | None
    parts_total: int
    last_error: str | None
    final_at_ns: int | None
    concat_reference: int
    id: int


_insert_parts = bulk_insert(outbox_parts, _PartRow._fields)
_set_outcome = bulk_update(outbox, _OutcomeRow._fields[:-1])
_select_claims = PreparedSelect(
    lambda dialect_name: (
        select(outbox.c.id, outbox.c.status, outbox.c.claimed_at_ns, outbox.c.attempts)
        .where(id_filter(dialect_name)(outbox.c.id))
        .order_by(outbox.c.id)  # rows locked in one order: two senders never deadlock
        .with_for_update()
    )
)


def record_outcomes_txn(
    conn: Connection, outcomes: Sequence[SmsOutcome], now_ns: int, config: SenderConfig
) -> RecordResult:
    """Store the parts and the new status of every row in one transaction (a few statements)."""
    fresh = _still_claimed(conn, outcomes)
    result = RecordResult(recorded=len(fresh), stale=len(outcomes) - len(fresh))
    if not fresh:
        return result
    parts = [_part_row(outcome, part, now_ns) for outcome in fresh for part in outcome.accepted]
    if parts:
        _insert_parts.executemany(conn, parts)
    _set_outcome.executemany(conn, [_outcome_row(outcome, now_ns, config) for outcome in fresh])
    keys = [(part.message_key, part.message_key_alt) for part in parts]
    touched = apply_early_receipts_txn(conn, keys, now_ns) if keys else set()
    # Parts accepted by an earlier attempt may already have their receipts.
    touched |= {outcome.sms.id for outcome in fresh if outcome.sms.parts_done}
    rollup_txn(conn, touched, now_ns)
    return result


def _still_claimed(conn: Connection, outcomes: Sequence[SmsOutcome]) -> list[SmsOutcome]:
    ids = [outcome.sms.id for outcome in outcomes]
    rows = _select_claims.all(conn, {"ids": in_parameter_value(conn.dialect.name, ids)})
    current = {row.id: row for row in rows}
    fresh = []
    for outcome in outcomes:
        row = current.get(outcome.sms.id)
        if (
            row is not None
            and row.status == OutboxStatus.IN_FLIGHT
            and (row.claimed_at_ns, row.attempts)
            == (outcome.sms.claimed_at_ns, outcome.sms.attempts)
        ):
            fresh.append(outcome)
        else:
            log.warn("outbox {id}: claim taken over (sweeper?); outcome dropped", id=outcome.sms.id)
    return fresh


def _part_row(outcome: SmsOutcome, part: AcceptedPart, now_ns: int) -> _PartRow:
    key, key_alt = message_keys(part.message_id)
    return _PartRow(
        outbox_id=outcome.sms.id,
        part_no=part.part_no,
        bind_name=outcome.bind_name,
        message_id=part.message_id,
        message_key=key,
        message_key_alt=key_alt,
        # A USSD screen's part is final at once: no receipt will come for it.
        status=(PartStatus.DELIVERED if outcome.sms.ussd else PartStatus.SUBMITTED).value,
        submitted_at_ns=now_ns,
    )


def _outcome_row(outcome: SmsOutcome, now_ns: int, config: SenderConfig) -> _OutcomeRow:
    disposition = outcome.disposition
    attempts = outcome.sms.attempts + (disposition is not Disposition.RETRY_FREE)
    status, error = OutboxStatus.QUEUED, outcome.error or None
    if disposition is Disposition.SUBMITTED:
        status = OutboxStatus.SUBMITTED
    elif disposition is Disposition.UNDELIVERABLE:
        status = OutboxStatus.UNDELIVERABLE
    elif disposition is Disposition.RETRY_COUNTED and attempts >= config.max_attempts:
        status, error = OutboxStatus.UNDELIVERABLE, f"gave up after {attempts} attempts: {error}"
    if outcome.sms.ussd is not None:
        status = _ussd_status(status, outcome.refused)
    return _OutcomeRow(
        status=status.value,
        attempts=attempts,
        next_attempt_at_ns=now_ns + int(config.retry_delay_s * NS_PER_S),
        claimed_at_ns=None,
        claimed_by=None,
        parts_total=outcome.parts_total,
        last_error=error,
        final_at_ns=now_ns if status in FINAL_STATUSES else None,
        concat_reference=outcome.reference,
        id=outcome.sms.id,
    )


def _ussd_status(status: OutboxStatus, refused: bool) -> OutboxStatus:
    # USSD has no receipts: the submit_sm_resp is the screen's fate. OK: delivered (final, which
    # lets daemon.money.settle post a money action waiting on it); an error status: failed.
    if status is OutboxStatus.SUBMITTED:
        return OutboxStatus.DELIVERED
    if status is OutboxStatus.UNDELIVERABLE and refused:
        return OutboxStatus.FAILED
    return status
