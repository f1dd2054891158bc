"""Report 5, `smscore recon pending`: what is still open, by age: pending ledger transfers (money
reserved), vouchers not yet collected or claimed, and reversals waiting for staff.

Each is counted in an age bucket (under an hour, up to a day, up to a week, older). It is
**overdue**, a discrepancy, when a deadline it has passed more than `grace_s` ago, which means
the expiry, settling or voucher-return step that should have ended it did not run:
- a pending transfer: the ledger's own timeout, its move's confirmation deadline (`expires_at`),
  or the deliver-by of the confirmation SMS whose receipt posts or voids it (outbox hook `move`);
- a voucher: its expiry (`[money] voucher_expiry_days`; it goes back to its sender then).
A reversal has no deadline (staff decide), so it is only counted. A pending transfer whose move is
no longer pending or confirming is a discrepancy too: the move ended but its money stayed
reserved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from daemon.clock import NS_PER_S
from daemon.money.moves import RESERVED
from daemon.money.reversal_records import ReversalState
from daemon.money.settle import HOOK
from daemon.money.vouchers import VoucherState
from daemon.recon.report import Report
from daemon.schema import moves, outbox, reversals, vouchers
from ledger.model import PendingStatus
from ledger.schema import pending_transfers, transfers

COLUMNS = ("item", "age", "count", "amount_minor", "overdue")
BUCKETS = ((3600, "under 1 hour"), (86_400, "1 to 24 hours"), (7 * 86_400, "1 to 7 days"))
OLDEST = "over 7 days"
LISTED = 10
_RESERVED = [state.value for state in RESERVED]


@dataclass(frozen=True, slots=True)
class OpenItem:
    item: str  # pending transfer | voucher | reversal
    name: str  # how a problem line names it
    amount_minor: int
    created_at_ns: int
    deadline_ns: int | None = None
    inconsistent: str | None = None


def bucket(age_s: float) -> str:
    for limit_s, label in BUCKETS:
        if age_s < limit_s:
            return label
    return OLDEST


def _pending_transfers(conn: Connection) -> list[OpenItem]:
    ref = func.substr(transfers.c.user_data, len("move:") + 1)
    deliver_by = (
        select(func.min(outbox.c.deliver_by_ns))
        .where(outbox.c.on_failure == HOOK, outbox.c.on_failure_ref == moves.c.id)
        .scalar_subquery()
    )
    query = (
        select(
            transfers.c.id,
            transfers.c.amount,
            transfers.c.timestamp_ns,
            pending_transfers.c.expires_at_ns,
            moves.c.ref,
            moves.c.state,
            moves.c.expires_at_ns,
            deliver_by,
        )
        .select_from(
            transfers.join(
                pending_transfers, pending_transfers.c.transfer_id == transfers.c.id
            ).outerjoin(moves, moves.c.ref == ref)
        )
        .where(pending_transfers.c.status == int(PendingStatus.PENDING))
        .order_by(transfers.c.seq)
    )
    found = []
    for transfer_id, amount, at_ns, ledger_by, move_ref, state, move_by, sms_by in conn.execute(
        query
    ):
        deadlines = [d for d in (ledger_by, move_by, sms_by) if d is not None]
        name = f"transfer {transfer_id}" + (f" (move {move_ref}, {state})" if move_ref else "")
        wrong = None
        if move_ref is not None and state not in _RESERVED:
            wrong = f"{name}: the move is {state} but its money is still reserved"
        found.append(OpenItem("pending transfer", name, int(amount), int(at_ns),
                              min(deadlines) if deadlines else None, wrong))  # fmt: skip
    return found


def _vouchers(conn: Connection) -> list[OpenItem]:
    open_states = (VoucherState.PENDING.value, VoucherState.OPEN.value)
    query = select(vouchers.c.id, vouchers.c.state, vouchers.c.amount_minor,
                   vouchers.c.created_at_ns, vouchers.c.expires_at_ns)  # fmt: skip
    rows = conn.execute(query.where(vouchers.c.state.in_(open_states)).order_by(vouchers.c.id))
    return [
        OpenItem(
            "voucher",
            f"voucher {voucher_id} ({state})",
            int(amount),
            int(created),
            int(expires) if state == VoucherState.OPEN.value else None,
        )
        for voucher_id, state, amount, created, expires in rows
    ]


def _reversals(conn: Connection) -> list[OpenItem]:
    open_states = [state.value for state in ReversalState if state.open]
    query = (
        select(reversals.c.id, reversals.c.state, moves.c.amount_minor, reversals.c.created_at_ns)
        .select_from(reversals.join(moves, moves.c.id == reversals.c.move_id))
        .where(reversals.c.state.in_(open_states))
        .order_by(reversals.c.id)
    )
    return [
        OpenItem("reversal", f"reversal {rid} ({state})", int(amount), int(created))
        for rid, state, amount, created in conn.execute(query)
    ]


def pending_report_txn(conn: Connection, now_ns: int, grace_s: float = 300.0) -> Report:
    report = Report("pending", "Pending transfers, vouchers and reversals by age", COLUMNS)
    items = _pending_transfers(conn) + _vouchers(conn) + _reversals(conn)
    grace_ns = int(grace_s * NS_PER_S)
    groups: dict[tuple[str, str], list[OpenItem]] = defaultdict(list)
    overdue: list[OpenItem] = []
    for found in items:
        groups[(found.item, bucket((now_ns - found.created_at_ns) / NS_PER_S))].append(found)
        if found.deadline_ns is not None and found.deadline_ns + grace_ns < now_ns:
            overdue.append(found)
    order = [label for _, label in BUCKETS] + [OLDEST]
    late_ids = {id(found) for found in overdue}
    for (item, age), members in sorted(
        groups.items(), key=lambda g: (g[0][0], order.index(g[0][1]))
    ):
        late = sum(1 for member in members if id(member) in late_ids)
        report.rows.append((item, age, len(members), sum(m.amount_minor for m in members), late))
    for item in ("pending transfer", "voucher", "reversal"):
        members = [found for found in items if found.item == item]
        report.summary.append((f"{item.replace(' ', '_')}s", len(members)))
    if overdue:
        names = ", ".join(found.name for found in overdue[:LISTED])
        more = f" and {len(overdue) - LISTED} more" if len(overdue) > LISTED else ""
        report.problems.append(f"{len(overdue)} past their deadline: {names}{more}")
    report.problems += [found.inconsistent for found in items if found.inconsistent]
    return report
