"""The reversals table and the two moves behind a reversal, shared by REVERSE (daemon.money.reversals)
and the staff's decisions (daemon.money.reversal_decisions).

A reversal is asked for one posted move (its *original*) once: `reversals.move_id` is unique. What is
held is what the original's principal leg (leg 0) gave its credit account (the recipient's wallet, a
merchant's wallet, a biller's settlement account), less what that account paid in the same move (a
merchant's fee); the principal's debit account (the payer's wallet) gets it back. Fees stay where they
went, as with M-Pesa: the payer's fee, and a merchant's, are not refunded.

- the hold: a REVERSAL_HOLD move, pending, from the recipient's account to REVERSAL_SUSPENSE. Its payer
  is the recipient (MINI shows the amount leaving them), its actor the asker (who may VERIFY it);
  no confirmation SMS waits on it, so no receipt settles it: only staff post or void it.
- the refund: a REVERSAL move, posted, from REVERSAL_SUSPENSE to the payer (a new transfer, never an
  edit of the original); its payee is the payer, its actor the recipient.
Both carry the original's ref in `detail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, or_, select, update

from daemon.chart import SystemAccount, TransferCode
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, find_move_by_ref_txn
from daemon.schema import reversals
from ledger import get_transfers

REASON_MAX_CHARS = 200  # reversals.reason: the staff's reason (reject) or note (approve)


class ReversalState(StrEnum):
    HELD = "held"  # the amount is held in suspense, waiting for staff
    UNFUNDED = "unfunded"  # the recipient had spent it: a dispute for staff, nothing held
    APPROVED = "approved"  # the amount went back to the payer
    REJECTED = "rejected"  # the hold (if any) released: the recipient keeps the money

    @property
    def open(self) -> bool:
        return self in (ReversalState.HELD, ReversalState.UNFUNDED)


OPEN_STATES = (ReversalState.HELD, ReversalState.UNFUNDED)


@dataclass(frozen=True, slots=True)
class Reversal:
    id: int
    move_id: int  # the original: the payment asked back
    requester_msisdn: str
    state: ReversalState
    hold_move_id: int | None
    reversal_move_id: int | None
    inbox_id: int | None
    created_at_ns: int
    decided_at_ns: int | None
    decided_by: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Principal:
    """The original's principal leg as posted: who paid it, who got it, how much."""

    payer_account_id: int
    recipient_account_id: int
    amount_minor: int


def principal_txn(conn: Connection, original: Move) -> Principal:
    """The principal leg, less what the recipient paid in the same move (a merchant's fee on a till
    payment): what the recipient's account got from it, and all that can be asked back."""
    ids = [original.leg_id(leg) for leg in range(original.legs)]
    found = get_transfers(conn, ids)
    principal, *others = (found[leg_id] for leg_id in ids)
    recipient = principal.credit_account_id
    paid_minor = sum(leg.amount for leg in others if leg.debit_account_id == recipient)
    return Principal(principal.debit_account_id, recipient, principal.amount - paid_minor)


def hold_request(original: Move, principal: Principal, inbox_id: int | None) -> MoveRequest:
    leg = Leg(
        principal.recipient_account_id,
        int(SystemAccount.REVERSAL_SUSPENSE),
        principal.amount_minor,
        TransferCode.REVERSAL,
    )
    return MoveRequest(
        MoveKind.REVERSAL_HOLD,
        payer_msisdn=original.payee_msisdn,  # None for a biller: its settlement account gives
        payee_msisdn=None,
        amount_minor=principal.amount_minor,
        legs=(leg,),
        actor_msisdn=original.payer_msisdn,
        inbox_id=inbox_id,
        detail=original.ref,
    )


def refund_request(original: Move, principal: Principal, audit_id: int) -> MoveRequest:
    leg = Leg(
        int(SystemAccount.REVERSAL_SUSPENSE),
        principal.payer_account_id,
        principal.amount_minor,
        TransferCode.REVERSAL,
    )
    return MoveRequest(
        MoveKind.REVERSAL,
        payer_msisdn=None,  # the suspense account; MINI shows the recipient's side on the hold
        payee_msisdn=original.payer_msisdn,
        amount_minor=principal.amount_minor,
        legs=(leg,),
        actor_msisdn=original.payee_msisdn,
        audit_id=audit_id,
        detail=original.ref,
    )


# --- the table


def _reversal(row) -> Reversal:
    values = dict(row._mapping)
    values["state"] = ReversalState(values["state"])
    return Reversal(**values)


def create_reversal_txn(
    conn: Connection,
    original: Move,
    requester_msisdn: str,
    state: ReversalState,
    hold: Move | None,
    inbox_id: int | None,
    now_ns: int,
) -> Reversal:
    values = {
        "move_id": original.id,
        "requester_msisdn": requester_msisdn,
        "state": state.value,
        "hold_move_id": hold.id if hold is not None else None,
        "reversal_move_id": None,
        "inbox_id": inbox_id,
        "created_at_ns": now_ns,
        "decided_at_ns": None,
        "decided_by": None,
        "reason": "",
    }
    row_id = conn.execute(insert(reversals).values(values)).inserted_primary_key[0]
    return _reversal_by_id_txn(conn, row_id)


def _reversal_by_id_txn(conn: Connection, reversal_id: int) -> Reversal:
    row = conn.execute(select(reversals).where(reversals.c.id == reversal_id)).one()
    return _reversal(row)


def reversal_of_move_txn(conn: Connection, move_id: int, lock: bool = False) -> Reversal | None:
    query = select(reversals).where(reversals.c.move_id == move_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _reversal(row) if row is not None else None


def reversal_by_ref_txn(conn: Connection, ref: str, lock: bool = False) -> Reversal | None:
    """The reversal of the move `ref`, or whose hold or refund is `ref`."""
    move = find_move_by_ref_txn(conn, ref)
    if move is None:
        return None
    query = select(reversals).where(
        or_(
            reversals.c.move_id == move.id,
            reversals.c.hold_move_id == move.id,
            reversals.c.reversal_move_id == move.id,
        )
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _reversal(row) if row is not None else None


def decide_txn(
    conn: Connection,
    reversal: Reversal,
    state: ReversalState,
    *,
    actor: str,
    reason: str,
    now_ns: int,
    hold: Move | None = None,
    refund: Move | None = None,
) -> None:
    """Record the staff's decision; only from the state the caller read (never decided twice)."""
    values = {
        "state": state.value,
        "decided_at_ns": now_ns,
        "decided_by": actor,
        "reason": reason[:REASON_MAX_CHARS],
    }
    if hold is not None:
        values["hold_move_id"] = hold.id
    if refund is not None:
        values["reversal_move_id"] = refund.id
    changed = conn.execute(
        update(reversals)
        .where(reversals.c.id == reversal.id, reversals.c.state == reversal.state.value)
        .values(values)
    )
    if changed.rowcount != 1:
        raise ReversalChanged(f"reversal {reversal.id} changed under us (was {reversal.state})")


def reversals_txn(
    conn: Connection, states: Sequence[ReversalState], limit: int = 200
) -> list[Reversal]:
    """Reversals in `states`, oldest first (the staff's queue)."""
    query = (
        select(reversals)
        .where(reversals.c.state.in_([state.value for state in states]))
        .order_by(reversals.c.created_at_ns, reversals.c.id)
        .limit(limit)
    )
    return [_reversal(row) for row in conn.execute(query)]


class ReversalRefused(Exception):
    """A reversal cannot be decided as asked; the message is one line for the operator."""


class ReversalChanged(ReversalRefused):
    """Someone else decided the reversal since it was read (a concurrent staff command)."""
