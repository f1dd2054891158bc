"""Report 3, `smscore recon float --day YYYY-MM-DD`: each agent store's float for one day.

Per float wallet (ledger code AGENT_FLOAT; a store's assistants work on the store's float): the
opening balance at the start of the day (service time zone), what came in (e-float from the trust
account, cash-out withdrawals, commission, vouchers collected), what went out (cash-in deposits),
the closing balance, and how much of the day's "in" was e-float issued by staff. Posted transfers
only: money reserved for a confirmation is not in the float until it posts.

It balances when, for every store, the opening balance plus everything posted since equals the
balance the ledger keeps on the account (its running totals), and no closing balance is below
zero (a float cannot go negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, and_, case, func, select

from daemon.chart import SystemAccount
from daemon.recon.report import Report, day_bounds_ns
from daemon.schema import subscribers
from ledger import AccountCode
from ledger.model import TransferKind
from ledger.schema import accounts, transfers

COLUMNS = ("store", "agent_number", "name", "opening_minor", "in_minor", "out_minor",
           "closing_minor", "float_issued_minor", "transfers", "stored_balance_minor")  # fmt: skip
_POSTED = (int(TransferKind.PLAIN), int(TransferKind.POST))


@dataclass(slots=True)
class _Side:
    before: int = 0
    day: int = 0
    after: int = 0
    count: int = 0
    issued: int = 0


def _sums(conn: Connection, side, from_ns: int, to_ns: int) -> dict[int, _Side]:
    """Per float account, amounts on one side (credits or debits) before, during, after the day."""
    at = transfers.c.timestamp_ns
    during = and_(at >= from_ns, at < to_ns)
    trust = transfers.c.debit_account_id == int(SystemAccount.TRUST)
    amount = transfers.c.amount
    query = (
        select(
            side,
            func.sum(case((at < from_ns, amount), else_=0)),
            func.sum(case((during, amount), else_=0)),
            func.sum(case((at >= to_ns, amount), else_=0)),
            func.sum(case((during, 1), else_=0)),
            func.sum(case((and_(during, trust), amount), else_=0)),
        )
        .select_from(transfers.join(accounts, accounts.c.id == side))
        .where(accounts.c.code == int(AccountCode.AGENT_FLOAT), transfers.c.kind.in_(_POSTED))
        .group_by(side)
    )
    return {
        int(row[0]): _Side(*(int(value or 0) for value in row[1:])) for row in conn.execute(query)
    }


def float_report_txn(conn: Connection, day: date, timezone: str) -> Report:
    report = Report("float", f"Agent float on {day.isoformat()} ({timezone})", COLUMNS)
    from_ns, to_ns = day_bounds_ns(day, timezone)
    credits = _sums(conn, transfers.c.credit_account_id, from_ns, to_ns)
    debits = _sums(conn, transfers.c.debit_account_id, from_ns, to_ns)
    query = (
        select(
            accounts.c.id,
            accounts.c.credits_posted,
            accounts.c.debits_posted,
            subscribers.c.msisdn,
            subscribers.c.agent_number,
            subscribers.c.name,
        )
        .select_from(accounts.outerjoin(subscribers, subscribers.c.account_id == accounts.c.id))
        .where(accounts.c.code == int(AccountCode.AGENT_FLOAT))
        .order_by(accounts.c.id)
    )
    for account_id, credited, debited, msisdn, number, name in conn.execute(query):
        cr, dr = credits.get(account_id, _Side()), debits.get(account_id, _Side())
        opening = cr.before - dr.before
        closing = opening + cr.day - dr.day
        stored = int(credited) - int(debited)
        store = msisdn or f"account {account_id}"
        report.rows.append((store, number, name, opening, cr.day, dr.day, closing, cr.issued,
                            cr.count + dr.count, stored))  # fmt: skip
        from_transfers = closing + cr.after - dr.after
        if from_transfers != stored:
            report.problems.append(
                f"{store}: the ledger keeps a balance of {stored}, its transfers add up to "
                f"{from_transfers} (minor units)"
            )
        if closing < 0:
            report.problems.append(f"{store}: the float closed the day at {closing}, below zero")
    report.summary += [
        ("stores", len(report.rows)),
        ("opening_minor", sum(row[3] for row in report.rows)),
        ("in_minor", sum(row[4] for row in report.rows)),
        ("out_minor", sum(row[5] for row in report.rows)),
        ("closing_minor", sum(row[6] for row in report.rows)),
    ]
    return report
