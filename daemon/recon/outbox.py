"""Report 4, `smscore recon outbox`: the outbox against the delivery receipts.

Every SMS the outbox holds (created in the period, when one is given), by outcome: not sent yet
(queued, in flight), sent and awaiting its receipt, delivered, failed (a receipt said so),
undeliverable (the SMSC refused it, or attempts ran out), and **unknown**: submitted, but no
receipt came within `[sweeper] receipt_timeout_s` of its last part's submission. A USSD screen has
no receipt (its submit_sm_resp is its delivery), so it is never unknown; with `[sender]
request_receipts = false` nothing is (none was asked for).

Discrepancies: unknown messages; a message whose status disagrees with its parts' receipts
(delivered with a part not delivered, or still submitted with every part final: the roll-up did not
run); receipts that matched no message for longer than the timeout (the sweeper deletes those).
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, case, func, select

from daemon.outbox import OutboxStatus, PartStatus
from daemon.recon.report import Report, local_time
from daemon.schema import early_receipts, outbox, outbox_parts

COLUMNS = ("outcome", "messages", "oldest_created")
LISTED = 10  # message ids named in a problem line
_OUTCOMES = {
    OutboxStatus.QUEUED: "not sent yet (queued)",
    OutboxStatus.IN_FLIGHT: "being sent (in flight)",
    OutboxStatus.SUBMITTED: "sent, receipt awaited",
    OutboxStatus.DELIVERED: "delivered",
    OutboxStatus.FAILED: "failed (receipt)",
    OutboxStatus.UNDELIVERABLE: "undeliverable",
}


def _period(query, from_ns: int | None, to_ns: int | None):
    if from_ns is not None:
        query = query.where(outbox.c.created_at_ns >= from_ns)
    if to_ns is not None:
        query = query.where(outbox.c.created_at_ns < to_ns)
    return query


def _unknown_ids(conn: Connection, cutoff_ns: int, from_ns, to_ns) -> list[int]:
    last = select(outbox_parts.c.outbox_id, func.max(outbox_parts.c.submitted_at_ns).label("at"))
    last = last.group_by(outbox_parts.c.outbox_id).subquery()
    query = (
        select(outbox.c.id)
        .select_from(outbox.outerjoin(last, last.c.outbox_id == outbox.c.id))
        .where(
            outbox.c.status == OutboxStatus.SUBMITTED.value, outbox.c.ussd_op.is_(None),
            func.coalesce(last.c.at, outbox.c.created_at_ns) < cutoff_ns,
        )
        .order_by(outbox.c.id)
    )  # fmt: skip
    return [int(row[0]) for row in conn.execute(_period(query, from_ns, to_ns))]


def _inconsistent_ids(conn: Connection, from_ns, to_ns) -> list[int]:
    """Messages whose status disagrees with their parts' receipts."""
    not_delivered = func.sum(
        case((outbox_parts.c.status != PartStatus.DELIVERED.value, 1), else_=0)
    )
    awaiting = func.sum(case((outbox_parts.c.status == PartStatus.SUBMITTED.value, 1), else_=0))
    parts = (
        select(
            outbox_parts.c.outbox_id,
            not_delivered.label("not_delivered"),
            awaiting.label("awaiting"),
        )
        .group_by(outbox_parts.c.outbox_id)
        .subquery()
    )
    delivered_short = and_(
        outbox.c.status == OutboxStatus.DELIVERED.value, parts.c.not_delivered > 0
    )
    submitted_done = and_(outbox.c.status == OutboxStatus.SUBMITTED.value, parts.c.awaiting == 0)
    query = (
        select(outbox.c.id)
        .select_from(outbox.join(parts, parts.c.outbox_id == outbox.c.id))
        .where(outbox.c.ussd_op.is_(None), delivered_short | submitted_done)
        .order_by(outbox.c.id)
    )
    return [int(row[0]) for row in conn.execute(_period(query, from_ns, to_ns))]


def outbox_report_txn(
    conn: Connection, now_ns: int, receipt_timeout_ns: int, timezone: str, *,
    receipts_requested: bool = True, from_ns: int | None = None, to_ns: int | None = None,
) -> Report:  # fmt: skip
    report = Report("outbox", "Outbox against delivery receipts", COLUMNS)
    query = select(outbox.c.status, func.count(), func.min(outbox.c.created_at_ns))
    counts = {
        status: (int(count), oldest)
        for status, count, oldest in conn.execute(
            _period(query, from_ns, to_ns).group_by(outbox.c.status)
        )
    }
    cutoff_ns = now_ns - receipt_timeout_ns
    unknown = _unknown_ids(conn, cutoff_ns, from_ns, to_ns) if receipts_requested else []
    for status, label in _OUTCOMES.items():
        count, oldest = counts.pop(status.value, (0, None))
        if status is OutboxStatus.SUBMITTED:
            count -= len(unknown)
            if not receipts_requested:
                label = "sent (no receipts requested)"
        report.rows.append((label, count, local_time(oldest, timezone)))
    report.rows.append(("unknown: no receipt after the timeout", len(unknown), None))
    report.rows += [(f"status {status!r}", count, local_time(oldest, timezone))
                    for status, (count, oldest) in sorted(counts.items())]  # fmt: skip
    stale = conn.execute(
        select(func.count()).where(early_receipts.c.received_at_ns < cutoff_ns)
    ).scalar_one()
    report.summary += [
        ("messages", sum(int(row[1]) for row in report.rows)),
        ("receipt_timeout_s", receipt_timeout_ns // 1_000_000_000),
        ("receipts_matching_nothing", int(stale)),
    ]
    if unknown:
        report.problems.append(f"{len(unknown)} message(s) sent with no receipt after the "
                               f"timeout: outbox ids {_listed(unknown)}")  # fmt: skip
    inconsistent = _inconsistent_ids(conn, from_ns, to_ns)
    if inconsistent:
        report.problems.append(f"{len(inconsistent)} message(s) whose status disagrees with "
                               f"their parts' receipts: outbox ids {_listed(inconsistent)}")  # fmt: skip
    if stale:
        report.problems.append(f"{stale} receipt(s) matched no message for longer than the "
                               "timeout (is the sweeper running?)")  # fmt: skip
    return report


def _listed(ids: list[int]) -> str:
    shown = ", ".join(str(found) for found in ids[:LISTED])
    return shown + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else "")
