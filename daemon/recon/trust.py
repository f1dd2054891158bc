"""Report 1, `smscore recon trust`: the e-money issued against the trust account.

The trust account (chart account 1, debit-normal) is debited for every unit of e-money issued, so
its balance is what the bank trust account must hold. The e-money issued is what every wallet,
float, suspense, settlement and income account holds, less the commission paid to agents (an
expense). The two must be equal, posted and pending apart (daemon.money.reconcile computes both);
the report shows both, each account class, and the difference.
"""

from __future__ import annotations

from sqlalchemy import Connection

from daemon.money.reconcile import has_chart_txn, reconcile_txn
from daemon.recon.report import Report
from ledger import AccountCode

COLUMNS = ("line", "accounts", "amount_minor")


def account_class(code: int) -> str:
    try:
        return AccountCode(code).name.lower()
    except ValueError:  # an account another application made in the same ledger
        return f"code {code}"


def trust_report_txn(conn: Connection) -> Report:
    report = Report("trust", "E-money issued against the trust account", COLUMNS)
    if not has_chart_txn(conn):
        report.problems.append("no trust account: this database has no chart of accounts")
        return report
    found = reconcile_txn(conn)
    report.rows.append(("trust account (what the bank must hold)", "trust", found.issued_minor))
    for code, amount in sorted(found.held_by_code.items()):
        report.rows.append(("e-money held", account_class(code), amount))
    report.rows.append(("less commission paid", "agent_commission", -found.commission_minor))
    report.rows.append(("e-money issued", "all", found.held_minor))
    difference = found.issued_minor - found.held_minor
    report.summary += [
        ("trust_account_minor", found.issued_minor),
        ("emoney_issued_minor", found.held_minor),
        ("difference_minor", difference),
        ("pending_debits_minor", found.pending_debits_minor),
        ("pending_credits_minor", found.pending_credits_minor),
    ]
    if difference:
        report.problems.append(
            f"the trust account and the e-money issued differ by {difference} minor units"
        )
    if found.pending_debits_minor != found.pending_credits_minor:
        gap = found.pending_debits_minor - found.pending_credits_minor
        report.problems.append(f"reserved (pending) debits and credits differ by {gap}")
    return report
