"""Billers and their open bills: who customers pay with PAY <code> <account> <amount>.

A biller has a number (1, 2, ... in order of adding) and its own settlement account in the chart,
BILLER_ID_BASE + number, created in the transaction that adds it. Its account rule says what its
account numbers look like (daemon.money.account_rules). It may list open bills (imported from CSV,
daemon.money.bill_import): PAY then names the amount due and refuses more; a bills-only biller takes
payments for listed accounts only. A bill's `paid_minor` grows when a payment to it is posted (not
while it waits for its confirmation's delivery).

Every change staff make here is written to the audit log in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Row, func, insert, select, update

from daemon.audit import record_txn
from daemon.chart import open_biller_account_txn
from daemon.money.account_rules import AccountRule, parse_rule
from daemon.money.moves import MoveKind, MoveState
from daemon.schema import billers, bills, moves

CODE = re.compile(r"[A-Z0-9]{2,16}")  # as PAY accepts it (daemon.money.payment_types)
NAME_MAX_CHARS = 64


class BillerError(ValueError):
    """A staff change to billers that cannot be made; one line for the operator."""


class BillerState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # PAY refuses it; nothing else changes


class BillState(StrEnum):
    OPEN = "open"
    PAID = "paid"  # paid in full
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Biller:
    code: str
    name: str
    number: int
    account_id: int
    rule: AccountRule
    bills_only: bool
    state: BillerState
    created_at_ns: int
    created_by: str

    @property
    def active(self) -> bool:
        return self.state is BillerState.ACTIVE


@dataclass(frozen=True, slots=True)
class Bill:
    biller_code: str
    account: str
    customer_name: str
    amount_due_minor: int
    paid_minor: int
    state: BillState
    due_day: str | None
    imported_at_ns: int

    @property
    def remaining_minor(self) -> int:
        return max(0, self.amount_due_minor - self.paid_minor)


@dataclass(frozen=True, slots=True)
class BillRow:
    """One bill as imported: the account (upper case), the amount due, and what else is known."""

    account: str
    amount_minor: int
    customer_name: str = ""
    due_day: str | None = None


def move_detail(code: str, account: str) -> str:
    """moves.detail of a bill payment: "KPLC 12345678" (VERIFY shows it as the payee)."""
    return f"{code} {account}"


def parse_detail(detail: str) -> tuple[str, str]:
    code, _, account = detail.partition(" ")
    return code, account


def normal_code(written: str) -> str:
    code = written.strip().upper()
    if not CODE.fullmatch(code):
        raise BillerError(f"biller code {written!r}: 2 to 16 letters or digits, e.g. KPLC")
    return code


# --- billers


def _biller(row: Row) -> Biller:
    return Biller(
        code=row.code,
        name=row.name,
        number=row.number,
        account_id=row.account_id,
        rule=parse_rule(row.account_rule),
        bills_only=bool(row.bills_only),
        state=BillerState(row.state),
        created_at_ns=row.created_at_ns,
        created_by=row.created_by,
    )


def get_biller_txn(conn: Connection, code: str) -> Biller | None:
    row = conn.execute(select(billers).where(billers.c.code == code.upper())).first()
    return _biller(row) if row is not None else None


def require_biller_txn(conn: Connection, code: str) -> Biller:
    found = get_biller_txn(conn, normal_code(code))
    if found is None:
        raise BillerError(f"biller {code.upper()!r}: no such biller (smscore admin biller list)")
    return found


def list_billers_txn(conn: Connection) -> list[Biller]:
    return [_biller(row) for row in conn.execute(select(billers).order_by(billers.c.number))]


def add_biller_txn(
    conn: Connection,
    code: str,
    name: str,
    rule: AccountRule,
    *,
    bills_only: bool,
    currency: str,
    actor: str,
    now_ns: int,
) -> Biller:
    """A new biller with the next number and its settlement account; audited."""
    code = normal_code(code)
    name = name.strip()
    if not name or len(name) > NAME_MAX_CHARS or not name.isprintable():
        raise BillerError(f"--name {name!r}: 1 to {NAME_MAX_CHARS} printable characters")
    if get_biller_txn(conn, code) is not None:
        raise BillerError(f"biller {code!r} exists already (smscore admin biller show {code})")
    number = (conn.execute(select(func.max(billers.c.number))).scalar() or 0) + 1
    account_id = open_biller_account_txn(conn, number, code, currency, now_ns)
    values = {
        "code": code, "name": name, "number": number, "account_id": account_id,
        "account_rule": rule.text, "bills_only": bills_only, "state": BillerState.ACTIVE.value,
        "created_at_ns": now_ns, "created_by": actor,
    }  # fmt: skip
    conn.execute(insert(billers).values(values))
    only = ", listed bills only" if bills_only else ""
    detail = f"{name}; account rule {rule.text}{only}; settlement account {account_id}"
    record_txn(conn, actor, "biller_add", code, detail, now_ns)
    found = get_biller_txn(conn, code)
    assert found is not None
    return found


def set_biller_state_txn(
    conn: Connection, code: str, state: BillerState, actor: str, now_ns: int
) -> Biller:
    """Suspend or resume a biller; audited. BillerError if it is in that state already."""
    biller = require_biller_txn(conn, code)
    if biller.state is state:
        raise BillerError(f"biller {biller.code} is {state.value} already")
    conn.execute(update(billers).where(billers.c.code == biller.code).values(state=state.value))
    action = "biller_resume" if state is BillerState.ACTIVE else "biller_suspend"
    record_txn(conn, actor, action, biller.code, f"was {biller.state}", now_ns)
    found = get_biller_txn(conn, biller.code)
    assert found is not None
    return found


# --- bills


def _bill(row: Row) -> Bill:
    return Bill(
        biller_code=row.biller_code,
        account=row.account,
        customer_name=row.customer_name,
        amount_due_minor=row.amount_due_minor,
        paid_minor=row.paid_minor,
        state=BillState(row.state),
        due_day=row.due_day,
        imported_at_ns=row.imported_at_ns,
    )


def get_bill_txn(conn: Connection, code: str, account: str, lock: bool = False) -> Bill | None:
    query = select(bills).where(bills.c.biller_code == code, bills.c.account == account)
    if lock and conn.dialect.name == "postgresql":  # two payments of one bill: one at a time
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _bill(row) if row is not None else None


def bills_of_txn(conn: Connection, code: str) -> list[Bill]:
    query = select(bills).where(bills.c.biller_code == code).order_by(bills.c.account)
    return [_bill(row) for row in conn.execute(query)]


def pending_minor_txn(conn: Connection, code: str, account: str) -> int:
    """What payments to this account still waiting for their confirmation's delivery hold: they
    count against the amount due, so that two of them cannot pay a bill twice over."""
    query = select(func.coalesce(func.sum(moves.c.amount_minor), 0)).where(
        moves.c.state == MoveState.PENDING.value,
        moves.c.kind == MoveKind.BILL.value,
        moves.c.detail == move_detail(code, account),
    )
    return int(conn.execute(query).scalar_one())


def import_bills_txn(
    conn: Connection, biller: Biller, rows: Sequence[BillRow], actor: str, now_ns: int
) -> tuple[int, int]:
    """The biller's bills as listed: (added, updated); audited. An open bill gets the new amount due
    (what was paid towards it stays paid); a paid or closed one is opened again as a new bill."""
    added = updated = 0
    for row in rows:
        found = get_bill_txn(conn, biller.code, row.account, lock=True)
        paid = found.paid_minor if found is not None and found.state is BillState.OPEN else 0
        values = {
            "customer_name": row.customer_name,
            "amount_due_minor": row.amount_minor,
            "paid_minor": paid,
            "state": (BillState.OPEN if paid < row.amount_minor else BillState.PAID).value,
            "due_day": row.due_day,
            "imported_at_ns": now_ns,
        }
        if found is None:
            conn.execute(
                insert(bills).values(biller_code=biller.code, account=row.account, **values)
            )
            added += 1
        else:
            key = (bills.c.biller_code == biller.code, bills.c.account == row.account)
            conn.execute(update(bills).where(*key).values(values))
            updated += 1
    record_txn(
        conn, actor, "biller_bills_import", biller.code, f"{added} added, {updated} updated", now_ns
    )
    return added, updated


def record_payment_txn(conn: Connection, code: str, account: str, amount_minor: int) -> Bill | None:
    """A posted payment counted towards the account's open bill, if it has one; the bill after."""
    found = get_bill_txn(conn, code, account, lock=True)
    if found is None or found.state is not BillState.OPEN:
        return None
    paid = found.paid_minor + amount_minor
    state = BillState.PAID if paid >= found.amount_due_minor else BillState.OPEN
    key = (bills.c.biller_code == code, bills.c.account == account)
    conn.execute(update(bills).where(*key).values(paid_minor=paid, state=state.value))
    return get_bill_txn(conn, code, account)
