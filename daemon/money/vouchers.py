"""Vouchers: money sent to a number with no wallet, held in the voucher suspense account.

The voucher is created with its move; its code is made when the recipient is told (when the move
is posted), and only its digest is kept. It is then paid out as cash by an agent (COLLECT), moved
into the recipient's wallet when the number registers, or returned to the sender when it expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from daemon.money.moves import Move
from daemon.schema import vouchers
from daemon.subscribers import PinHasher

CODE_DIGITS = 8  # read out at an agent's counter; with the recipient's number it names one voucher
_PURPOSE = "voucher"


class VoucherState(StrEnum):
    PENDING = "pending"  # its move waits for the sender's confirmation to be delivered
    OPEN = "open"  # the recipient has been told the code
    COLLECTED = "collected"  # paid out as cash by an agent
    CLAIMED = "claimed"  # moved into the recipient's wallet at registration
    RETURNED = "returned"  # expired, back to the sender
    VOIDED = "voided"  # its move was voided: there was never any money


@dataclass(frozen=True, slots=True)
class Voucher:
    id: int
    move_id: int
    sender_msisdn: str
    recipient_msisdn: str
    amount_minor: int
    code_hmac: bytes
    state: VoucherState
    created_at_ns: int
    expires_at_ns: int
    closed_at_ns: int | None
    closed_by_move_id: int | None

    def __repr__(self) -> str:
        return f"Voucher({self.id} for {self.recipient_msisdn} {self.state.value})"


def _digest(hasher: PinHasher, recipient: str, code: str) -> bytes:
    return hasher.digest(f"{_PURPOSE}:{recipient}", code)


def create_voucher_txn(
    conn: Connection, move: Move, state: VoucherState, expires_at_ns: int, now_ns: int
) -> None:
    """The voucher of a move to an unregistered number (no code yet: see issue_code_txn)."""
    assert move.payer_msisdn and move.payee_msisdn
    conn.execute(
        insert(vouchers).values(
            move_id=move.id,
            sender_msisdn=move.payer_msisdn,
            recipient_msisdn=move.payee_msisdn,
            amount_minor=move.amount_minor,
            code_hmac=b"",
            state=state.value,
            created_at_ns=now_ns,
            expires_at_ns=expires_at_ns,
        )
    )


def issue_code_txn(conn: Connection, move: Move, hasher: PinHasher) -> tuple[Voucher, str]:
    """Open the move's voucher with a new code; the code, to tell the recipient once."""
    voucher = voucher_of_move_txn(conn, move.id)
    code = f"{secrets.randbelow(9 * 10 ** (CODE_DIGITS - 1)) + 10 ** (CODE_DIGITS - 1)}"
    conn.execute(
        update(vouchers)
        .where(vouchers.c.id == voucher.id)
        .values(code_hmac=_digest(hasher, voucher.recipient_msisdn, code), state=VoucherState.OPEN)
    )
    return voucher_of_move_txn(conn, move.id), code


def code_matches(hasher: PinHasher, voucher: Voucher, code: str) -> bool:
    return bool(voucher.code_hmac) and hasher.matches(
        f"{_PURPOSE}:{voucher.recipient_msisdn}", code, voucher.code_hmac
    )


def voucher_of_move_txn(conn: Connection, move_id: int) -> Voucher:
    row = conn.execute(select(vouchers).where(vouchers.c.move_id == move_id)).one()
    return _voucher(row)


def open_vouchers_for_txn(conn: Connection, recipient_msisdn: str) -> list[Voucher]:
    query = (
        select(vouchers)
        .where(
            vouchers.c.recipient_msisdn == recipient_msisdn, vouchers.c.state == VoucherState.OPEN
        )
        .order_by(vouchers.c.id)
    )
    return [_voucher(row) for row in conn.execute(query)]


def expired_vouchers_txn(conn: Connection, now_ns: int, limit: int) -> list[Voucher]:
    query = (
        select(vouchers)
        .where(vouchers.c.state == VoucherState.OPEN, vouchers.c.expires_at_ns < now_ns)
        .order_by(vouchers.c.expires_at_ns)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_voucher(row) for row in conn.execute(query)]


def close_voucher_txn(
    conn: Connection, voucher: Voucher, state: VoucherState, now_ns: int, by_move_id: int | None
) -> None:
    """End an open (or pending) voucher; raises VoucherGone if someone else ended it first."""
    result = conn.execute(
        update(vouchers)
        .where(vouchers.c.id == voucher.id, vouchers.c.state == voucher.state.value)
        .values(state=state.value, closed_at_ns=now_ns, closed_by_move_id=by_move_id)
    )
    if result.rowcount != 1:
        raise VoucherGone(f"voucher {voucher.id} changed under us (was {voucher.state.value})")


class VoucherGone(Exception):
    pass


def _voucher(row) -> Voucher:
    values = row._asdict()
    values["state"] = VoucherState(values["state"])
    values["code_hmac"] = bytes(values["code_hmac"])
    return Voucher(**values)
