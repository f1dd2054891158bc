"""The trust account reconciles: the e-money issued (the trust account's debit balance) equals what
every wallet, float, suspense and income account holds, less the commission paid to agents (an
expense, debit-normal, that pays out e-money earned by agents from the service's income). Posted and
pending amounts are checked apart: money reserved must be reserved on both sides as well."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from daemon.chart import SystemAccount
from daemon.commands.money import format_money
from ledger import AccountCode
from ledger.schema import accounts


@dataclass(frozen=True, slots=True)
class Reconciliation:
    issued_minor: int  # the trust account's posted debit balance
    held_by_code: dict[int, int] = field(default_factory=dict)  # credit-normal posted, by code
    commission_minor: int = 0
    pending_debits_minor: int = 0
    pending_credits_minor: int = 0

    @property
    def held_minor(self) -> int:
        return sum(self.held_by_code.values()) - self.commission_minor

    @property
    def ok(self) -> bool:
        return (
            self.issued_minor == self.held_minor
            and self.pending_debits_minor == self.pending_credits_minor
        )

    def describe(self, currency: str) -> str:
        parts = ", ".join(
            f"{_code_name(code)} {format_money(amount, currency)}"
            for code, amount in sorted(self.held_by_code.items())
        )
        verdict = "reconciles" if self.ok else "DOES NOT reconcile"
        return (
            f"trust {verdict}: e-money issued {format_money(self.issued_minor, currency)}; held: "
            f"{parts}; less commission {format_money(self.commission_minor, currency)}"
        )


def _code_name(code: int) -> str:
    try:
        return AccountCode(code).name.lower()
    except ValueError:  # an account another application made in the same ledger
        return f"code {code}"


def reconcile_txn(conn: Connection) -> Reconciliation:
    rows = conn.execute(
        select(
            accounts.c.code,
            func.sum(accounts.c.debits_posted),
            func.sum(accounts.c.credits_posted),
            func.sum(accounts.c.debits_pending),
            func.sum(accounts.c.credits_pending),
        ).group_by(accounts.c.code)
    ).all()
    held: dict[int, int] = {}
    issued = commission = pending_debits = pending_credits = 0
    for code, debits, credits, debits_pending, credits_pending in rows:
        pending_debits += int(debits_pending)
        pending_credits += int(credits_pending)
        if code == AccountCode.TRUST_BANK:
            issued += int(debits) - int(credits)
        elif code == AccountCode.AGENT_COMMISSION:
            commission += int(debits) - int(credits)
        else:
            held[int(code)] = int(credits) - int(debits)
    return Reconciliation(issued, held, commission, pending_debits, pending_credits)


def has_chart_txn(conn: Connection) -> bool:
    query = select(accounts.c.id).where(accounts.c.id == int(SystemAccount.TRUST))
    return conn.execute(query).first() is not None
