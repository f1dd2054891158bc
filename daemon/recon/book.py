"""The trust account's side of the bank reconciliation: its posted transfers over a period, each
with the references a bank line may quote, and its balance at any instant.

A transfer that debits the trust account issued e-money: the bank should have received that much
(a credit on the bank statement, positive here); one that credits it took e-money back out of
circulation (a debit on the statement, negative). A transfer's references are its move's ref (what
staff are shown: `issued ..., ref ABCD234567`) and the bank reference staff gave with
`smscore admin business deposit --reference` (kept in the move's audit entry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, or_, select

from daemon.chart import SystemAccount
from daemon.schema import audit_log, moves
from ledger.model import TransferKind
from ledger.schema import transfers

_POSTED = (int(TransferKind.PLAIN), int(TransferKind.POST))
_BANK_REFERENCE = re.compile(r"bank reference (?P<ref>.+)$")
_MOVE_PREFIX = "move:"


@dataclass(frozen=True, slots=True)
class BookLine:
    transfer_id: int
    seq: int
    at_ns: int
    amount_minor: int  # + e-money issued (the bank should have received it), - taken back
    move_ref: str | None
    move_kind: str | None
    bank_reference: str | None  # as staff typed it
    source: str  # who caused it, for people: "float 254712000100 by alice"

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(ref for ref in (self.bank_reference, self.move_ref) if ref)


def _touches_trust():
    trust = int(SystemAccount.TRUST)
    return or_(transfers.c.debit_account_id == trust, transfers.c.credit_account_id == trust)


def _signed_amount():
    trust = int(SystemAccount.TRUST)
    return case(
        (transfers.c.debit_account_id == trust, transfers.c.amount), else_=-transfers.c.amount
    )


def trust_balance_txn(conn: Connection, before_ns: int) -> int:
    """The trust account's posted (debit) balance from every transfer before `before_ns`."""
    query = select(func.coalesce(func.sum(_signed_amount()), 0)).where(
        _touches_trust(), transfers.c.kind.in_(_POSTED), transfers.c.timestamp_ns < before_ns
    )
    return int(conn.execute(query).scalar_one())


def book_lines_txn(conn: Connection, from_ns: int, to_ns: int) -> list[BookLine]:
    """The trust account's posted transfers in [from_ns, to_ns), in ledger order."""
    move_ref = func.substr(transfers.c.user_data, len(_MOVE_PREFIX) + 1)
    query = (
        select(
            transfers.c.id, transfers.c.seq, transfers.c.timestamp_ns, _signed_amount(),
            moves.c.ref, moves.c.kind, audit_log.c.actor, audit_log.c.action,
            audit_log.c.target, audit_log.c.detail,
        )
        .select_from(
            transfers.outerjoin(moves, moves.c.ref == move_ref).outerjoin(
                audit_log, audit_log.c.id == moves.c.audit_id
            )
        )
        .where(
            _touches_trust(), transfers.c.kind.in_(_POSTED),
            transfers.c.timestamp_ns >= from_ns, transfers.c.timestamp_ns < to_ns,
        )
        .order_by(transfers.c.seq)
    )  # fmt: skip
    return [_book_line(row) for row in conn.execute(query)]


def _book_line(row) -> BookLine:
    transfer_id, seq, at_ns, amount, ref, kind, actor, action, target, detail = row
    found = _BANK_REFERENCE.search(detail or "")
    source = f"{action} {target} by {actor}" if action else (kind or "no move")
    return BookLine(
        transfer_id=int(transfer_id), seq=int(seq), at_ns=int(at_ns), amount_minor=int(amount),
        move_ref=ref, move_kind=kind, bank_reference=found["ref"].strip() if found else None,
        source=source,
    )  # fmt: skip
