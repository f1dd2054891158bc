"""Report 6, `smscore recon sources`: ledger transfers with no source message.

Every posting must be traceable to what caused it (daemon.money.moves): its transfer names its
move (`user_data` `move:REF`), and the move names its cause. A move's recorded sources, any one of
which is enough:
- the inbox message (SMS, USSD or app-channel MO) it answers (`moves.inbox_id`, the row present);
- the staff action's audit entry (`moves.audit_id`, the entry present);
- the business API request that made it (`api_requests.move_id`);
- the record of the system step that made it from an earlier, sourced one: the voucher it paid
  out, claimed or returned (`vouchers.move_id` / `closed_by_move_id`), the airtime order
  (`airtime_orders.move_id` / `resolved_move_id`), the reversal (`reversals.hold_move_id` /
  `reversal_move_id`), the request to pay (`pay_requests.move_id`), the offline transfer
  (`offline_transfers.move_id`).

Listed: transfers whose move does not exist (a posting made outside the move machinery, or a
move row deleted) and transfers whose move has none of these sources. Note: the business API
deletes a finished request after `[api] idempotency_days`; a payment older than that is listed
here as having no source, and the access log and callbacks are the trail left.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, or_, select

from daemon.recon.report import Report, local_time
from daemon.schema import (
    airtime_orders,
    api_requests,
    audit_log,
    inbox,
    moves,
    offline_transfers,
    pay_requests,
    reversals,
    vouchers,
)
from ledger.model import TransferKind
from ledger.schema import transfers

COLUMNS = ("transfer_id", "seq", "time", "kind", "amount_minor", "debit_account",
           "credit_account", "move", "problem")  # fmt: skip
DEFAULT_LIMIT = 1000


def _sourced():
    """The move (moves.c) has at least one recorded source."""
    move_id = moves.c.id
    links = [
        exists().where(inbox.c.id == moves.c.inbox_id),
        exists().where(audit_log.c.id == moves.c.audit_id),
        exists().where(api_requests.c.move_id == move_id),
        exists().where(or_(vouchers.c.move_id == move_id, vouchers.c.closed_by_move_id == move_id)),
        exists().where(
            or_(airtime_orders.c.move_id == move_id, airtime_orders.c.resolved_move_id == move_id)
        ),
        exists().where(
            or_(reversals.c.hold_move_id == move_id, reversals.c.reversal_move_id == move_id)
        ),
        exists().where(pay_requests.c.move_id == move_id),
        exists().where(offline_transfers.c.move_id == move_id),
    ]
    return or_(*links)


def sources_report_txn(conn: Connection, timezone: str, limit: int = DEFAULT_LIMIT) -> Report:
    report = Report("sources", "Ledger transfers with no source message", COLUMNS)
    ref = func.substr(transfers.c.user_data, len("move:") + 1)
    orphan = or_(moves.c.id.is_(None), ~_sourced())
    base = transfers.outerjoin(moves, moves.c.ref == ref)
    columns = (transfers.c.id, transfers.c.seq, transfers.c.timestamp_ns, transfers.c.kind,
               transfers.c.amount, transfers.c.debit_account_id, transfers.c.credit_account_id,
               moves.c.ref, moves.c.kind, transfers.c.user_data)  # fmt: skip
    query = select(*columns).select_from(base).where(orphan).order_by(transfers.c.seq)
    total = conn.execute(select(func.count()).select_from(base).where(orphan)).scalar_one()
    for row in conn.execute(query.limit(limit)):
        tid, seq, at_ns, kind, amount, debit, credit, move_ref, move_kind, user_data = row
        if move_ref is None:
            move, problem = (user_data or "", "no move: posted outside the move records")
        else:
            move, problem = f"{move_ref} ({move_kind})", "the move has no recorded source"
        report.rows.append((int(tid), int(seq), local_time(at_ns, timezone),
                            TransferKind(kind).name.lower(), int(amount), int(debit), int(credit),
                            move, problem))  # fmt: skip
    checked = conn.execute(select(func.count()).select_from(transfers)).scalar_one()
    report.summary += [("transfers_checked", int(checked)), ("without_source", int(total))]
    if total > limit:
        report.summary.append(("listed", f"the first {limit} of {total}"))
    if total:
        report.problems.append(f"{total} ledger transfer(s) with no source message")
    return report
