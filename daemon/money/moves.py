"""Moves: one row per money movement and the linked chain of ledger transfers behind it.

A move's legs (principal, fee, commission) post as one linked chain: all or nothing. Its transfer ids
are derived from the move id (`transfer_id_base` + leg), so a posting is traceable to its move and
the move to the inbox message or staff action that caused it. A move is either posted at once or
held *pending* (the money reserved, the recipient not yet credited) until its confirmation SMS is
delivered; then it is posted, or voided if the confirmation never arrives (the M-Pesa rollback).

States: held (nothing reserved: a repeat SEND waiting for YES) → confirming (reserved, waiting for
YES) → pending (reserved, waiting for the confirmation's receipt) → posted; or voided / declined /
expired, with nothing moved.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import Connection, Row, Select, String, and_, bindparam, insert, or_, select, update

from daemon.chart import TransferCode
from daemon.money.move_observers import (  # noqa: F401  (the registry, re-exported)
    OBSERVERS,
    add_move_observer,
    remove_move_observer,
)
from daemon.money.move_observers import observe as _observe
from daemon.money.prepared import PreparedWrite
from daemon.schema import moves
from ledger import CreateTransferResult, Transfer, TransferFlags, create_transfers
from ledger.fastpath import PreparedSelect, in_parameter, in_parameter_value

# Move transfer ids: above the admin's random ids' usual range is not needed (those are random 62-bit
# values and a collision is a refusal, never a double post); each move gets MAX_LEGS ids for its legs
# and as many for the posts or voids of its pending legs.
TRANSFER_ID_BASE = 1 << 40
MAX_LEGS = 4
_IDS_PER_MOVE = 2 * MAX_LEGS
_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed back
REF_CHARS = 10


class MoveKind(StrEnum):
    SEND = "send"  # wallet to wallet
    VOUCHER = "voucher"  # wallet to the voucher suspense account (recipient unregistered)
    DEPOSIT = "deposit"  # cash in: agent float to customer wallet
    WITHDRAW = "withdraw"  # cash out: customer wallet to agent float
    COLLECT = "collect"  # a voucher paid out as cash: suspense to agent float
    VOUCHER_CLAIM = "voucher_claim"  # suspense to the recipient's new wallet at registration
    VOUCHER_RETURN = "voucher_return"  # an expired voucher back to its sender
    FLOAT = "float"  # e-float issued from the trust account to an agent store (staff)
    ISSUE = "issue"  # e-money issued into any wallet by staff (smscore subscriber add --balance)
    BILL = "bill"  # PAY: wallet to a biller's settlement account
    TILL = "till"  # TILL (Buy Goods): wallet to a merchant's wallet, less the merchant's fee
    AIRTIME = (
        "airtime"  # BUY: wallet to the airtime settlement account, posted on the provider's yes
    )
    REVERSAL_HOLD = "reversal_hold"  # REVERSE: the recipient's amount held in the reversal suspense
    REVERSAL = "reversal"  # staff approved: the held amount back to the original payer


class MoveState(StrEnum):
    HELD = "held"
    CONFIRMING = "confirming"
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"  # the confirmation was not delivered: nothing happened
    DECLINED = "declined"  # the sender answered NO, or did not confirm a held repeat
    EXPIRED = "expired"  # not confirmed in time

    @property
    def open(self) -> bool:
        return self in (MoveState.HELD, MoveState.CONFIRMING, MoveState.PENDING)


RESERVED = (MoveState.CONFIRMING, MoveState.PENDING)  # money held in pending transfers


@dataclass(frozen=True, slots=True)
class Leg:
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    code: TransferCode


@dataclass(frozen=True, slots=True)
class Move:
    id: int
    ref: str
    kind: MoveKind
    state: MoveState
    payer_msisdn: str | None
    payee_msisdn: str | None
    actor_msisdn: str | None
    amount_minor: int
    fee_minor: int
    commission_minor: int
    transfer_id_base: int | None
    legs: int
    inbox_id: int | None
    audit_id: int | None
    code_hmac: bytes | None
    created_at_ns: int
    decided_at_ns: int | None
    expires_at_ns: int | None
    detail: str | None = None  # the payee when not a wallet: "KPLC 12345678", a till, a ref

    def leg_id(self, leg: int) -> int:
        assert self.transfer_id_base is not None
        return self.transfer_id_base + leg

    def involves(self, msisdn: str) -> bool:
        return msisdn in (self.payer_msisdn, self.payee_msisdn, self.actor_msisdn)

    def __repr__(self) -> str:  # the confirmation code digest stays out of logs
        return f"Move({self.id} {self.ref} {self.kind.value} {self.state.value})"


@dataclass(frozen=True, slots=True)
class MoveRequest:
    """A move to record: who pays whom, how much, and its legs (principal first)."""

    kind: MoveKind
    payer_msisdn: str | None
    payee_msisdn: str | None
    amount_minor: int
    legs: Sequence[Leg]
    fee_minor: int = 0
    commission_minor: int = 0
    actor_msisdn: str | None = None
    inbox_id: int | None = None
    audit_id: int | None = None
    detail: str | None = None  # see Move.detail


class MoveError(Exception):
    """A move cannot change state as asked (a programming or data error, not a subscriber's)."""


@dataclass(frozen=True, slots=True)
class LedgerRefusal:
    """The ledger refused a leg: `result` says why (e.g. EXCEEDS_CREDITS: too little money)."""

    leg: int
    result: CreateTransferResult

    @property
    def insufficient_funds(self) -> bool:
        return self.result is CreateTransferResult.EXCEEDS_CREDITS


def new_ref() -> str:
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(REF_CHARS))


# Every column a new move row is written with; the INSERT is compiled once (daemon.money.prepared).
_COLUMNS = tuple(moves.c.keys())
_INSERTED = tuple(column for column in _COLUMNS if column not in ("id", "transfer_id_base"))
_insert = PreparedWrite(
    lambda _: (
        insert(moves)
        .values({column: bindparam(f"v_{column}") for column in _INSERTED})
        .returning(moves.c.id)
    )
)
_set_base = PreparedWrite(
    lambda _: (
        update(moves)
        .where(moves.c.id == bindparam("move_id"))
        .values(transfer_id_base=bindparam("base"))
        .returning(moves.c.id)
    )
)


def _insert_move(
    conn: Connection,
    request: MoveRequest,
    state: MoveState,
    now_ns: int,
    *,
    expires_at_ns: int | None = None,
    code_hmac: bytes | None = None,
    decided_at_ns: int | None = None,
) -> Move:
    values = {
        "ref": new_ref(),
        "kind": request.kind,
        "state": state,
        "payer_msisdn": request.payer_msisdn,
        "payee_msisdn": request.payee_msisdn,
        "actor_msisdn": request.actor_msisdn,
        "amount_minor": request.amount_minor,
        "fee_minor": request.fee_minor,
        "commission_minor": request.commission_minor,
        "legs": len(request.legs),
        "inbox_id": request.inbox_id,
        "audit_id": request.audit_id,
        "code_hmac": code_hmac,
        "created_at_ns": now_ns,
        "decided_at_ns": decided_at_ns,
        "expires_at_ns": expires_at_ns,
        "detail": request.detail,
    }
    params = {f"v_{column}": values[column] for column in _INSERTED}
    params["v_kind"], params["v_state"] = (
        request.kind.value,
        state.value,
    )  # plain str for the driver
    [(move_id,)] = _insert.run(conn, params)
    base = TRANSFER_ID_BASE + move_id * _IDS_PER_MOVE
    _set_base.run(conn, {"move_id": move_id, "base": base})
    return Move(id=move_id, transfer_id_base=base, **values)  # as get_move_txn would read it


def _transfers(move: Move, legs: Sequence[Leg], currency: str, pending: bool) -> list[Transfer]:
    flags = TransferFlags.PENDING if pending else TransferFlags.NONE
    return [
        Transfer(
            id=move.leg_id(index),
            debit_account_id=leg.debit_account_id,
            credit_account_id=leg.credit_account_id,
            amount=leg.amount_minor,
            currency=currency,
            code=int(leg.code),
            flags=flags | (TransferFlags.LINKED if index < len(legs) - 1 else TransferFlags.NONE),
            user_data=f"move:{move.ref}",
        )
        for index, leg in enumerate(legs)
    ]


def _first_refusal(results: Sequence[CreateTransferResult]) -> LedgerRefusal | None:
    # In a failed chain the failing leg has its own reason; the others say linked_event_failed.
    failed = [(i, r) for i, r in enumerate(results) if r is not CreateTransferResult.OK]
    if not failed:
        return None
    cause = [(i, r) for i, r in failed if r is not CreateTransferResult.LINKED_EVENT_FAILED]
    leg, result = (cause or failed)[0]
    return LedgerRefusal(leg, result)


def open_move_txn(
    conn: Connection,
    request: MoveRequest,
    *,
    currency: str,
    now_ns: int,
    state: MoveState = MoveState.POSTED,
    expires_at_ns: int | None = None,
    code_hmac: bytes | None = None,
) -> Move | LedgerRefusal:
    """Record the move and post its legs (POSTED) or reserve them (CONFIRMING, PENDING); HELD
    reserves nothing. On a ledger refusal nothing is kept and the refusal is returned."""
    if not 0 < len(request.legs) <= MAX_LEGS:
        raise MoveError(f"a move has 1 to {MAX_LEGS} legs, not {len(request.legs)}")
    extra = {"expires_at_ns": expires_at_ns, "code_hmac": code_hmac}
    if state is MoveState.POSTED:
        extra["decided_at_ns"] = now_ns
    move = _insert_move(conn, request, state, now_ns, **extra)
    if state is MoveState.HELD:
        return move
    transfers = _transfers(move, request.legs, currency, pending=state is not MoveState.POSTED)
    refusal = _first_refusal(create_transfers(conn, transfers, now_ns))
    if refusal is not None:
        conn.execute(moves.delete().where(moves.c.id == move.id))
        return refusal
    _observe(conn, move, None, currency, now_ns)
    return move


def reserve_held_txn(
    conn: Connection, move: Move, legs: Sequence[Leg], currency: str, now_ns: int, state: MoveState
) -> Move | LedgerRefusal:
    """A HELD move's legs reserved now (it was confirmed): CONFIRMING, PENDING or POSTED."""
    _require_state(move, (MoveState.HELD,))
    transfers = _transfers(move, legs, currency, pending=state is not MoveState.POSTED)
    refusal = _first_refusal(create_transfers(conn, transfers, now_ns))
    if refusal is not None:
        return refusal
    decided = now_ns if state is MoveState.POSTED else None
    reserved = _set_state(conn, move, state, decided, expires_at_ns=None)
    _observe(conn, reserved, MoveState.HELD, currency, now_ns)
    return reserved


def _finishing(move: Move, flag: TransferFlags, currency: str) -> list[Transfer]:
    """The transfers posting (or voiding) every reserved leg of `move`: one linked chain."""
    return [
        Transfer(
            id=move.leg_id(MAX_LEGS + index),
            pending_id=move.leg_id(index),
            currency=currency,
            flags=flag | (TransferFlags.LINKED if index < move.legs - 1 else TransferFlags.NONE),
            user_data=f"move:{move.ref}",
        )
        for index in range(move.legs)
    ]


def _finish_pending(
    conn: Connection, found: Sequence[Move], flag: TransferFlags, currency: str, now_ns: int
) -> None:
    """Finish the reserved legs of every move in one ledger batch; MoveError naming the first move
    refused (its chain moved nothing; the caller's transaction or savepoint undoes the others)."""
    chains = [_finishing(move, flag, currency) for move in found]
    results = create_transfers(conn, [leg for chain in chains for leg in chain], now_ns)
    start = 0
    for move, chain in zip(found, chains, strict=True):
        refusal = _first_refusal(results[start : start + len(chain)])
        if refusal is not None:
            raise MoveError(f"move {move.ref}: leg {refusal.leg}: {refusal.result.value}")
        start += len(chain)


def post_move_txn(conn: Connection, move: Move, currency: str, now_ns: int) -> Move:
    """A reserved move posted in full (the confirmation was delivered, or the sender said YES)."""
    [posted] = post_moves_txn(conn, [move], currency, now_ns)
    return posted


def post_moves_txn(
    conn: Connection, found: Sequence[Move], currency: str, now_ns: int
) -> list[Move]:
    """Reserved moves posted in full, in one ledger batch (a ledger batch costs about as much for
    one move as for hundreds). All or none: MoveError if any cannot be, with the caller's
    transaction or savepoint to undo the others."""
    for move in found:
        _require_state(move, RESERVED)
    if not found:
        return []
    _finish_pending(conn, found, TransferFlags.POST_PENDING, currency, now_ns)
    posted = [_set_state(conn, move, MoveState.POSTED, now_ns) for move in found]
    if OBSERVERS:
        for was, move in zip(found, posted, strict=True):
            _observe(conn, move, was.state, currency, now_ns)
    return posted


def release_move_txn(
    conn: Connection, move: Move, state: MoveState, currency: str, now_ns: int
) -> Move:
    """An open move ended with nothing moved (VOIDED, DECLINED or EXPIRED); reserved legs voided."""
    if state not in (MoveState.VOIDED, MoveState.DECLINED, MoveState.EXPIRED):
        raise MoveError(f"{state.value} is not an end without money moving")
    _require_state(move, (MoveState.HELD, *RESERVED))
    if move.state in RESERVED:
        _finish_pending(conn, [move], TransferFlags.VOID_PENDING, currency, now_ns)
    released = _set_state(conn, move, state, now_ns)
    if move.state in RESERVED:
        _observe(conn, released, move.state, currency, now_ns)
    return released


def mark_pending_txn(conn: Connection, move: Move, now_ns: int) -> Move:
    """A CONFIRMING move confirmed by YES, now waiting for its confirmation SMS to be delivered."""
    _require_state(move, (MoveState.CONFIRMING,))
    return _set_state(conn, move, MoveState.PENDING, None, expires_at_ns=None)


def _require_state(move: Move, allowed: Sequence[MoveState]) -> None:
    if move.state not in allowed:
        wanted = ", ".join(state.value for state in allowed)
        raise MoveError(f"move {move.ref} is {move.state.value}, not {wanted}")


_SET_STATE: dict[tuple[str, ...], PreparedWrite] = {}


def _set_state_statement(extra: tuple[str, ...]) -> PreparedWrite:
    found = _SET_STATE.get(extra)
    if found is None:
        values = {"state": bindparam("state"), "decided_at_ns": bindparam("decided_at_ns")}
        values.update({column: bindparam(f"v_{column}") for column in extra})
        found = _SET_STATE[extra] = PreparedWrite(
            lambda _: (
                update(moves)
                .where(moves.c.id == bindparam("move_id"), moves.c.state == bindparam("was"))
                .values(values)
                .returning(moves.c.id)
            )
        )
    return found


def _set_state(
    conn: Connection, move: Move, state: MoveState, decided_at_ns: int | None, **extra: object
) -> Move:
    params = {"move_id": move.id, "was": move.state.value, "state": state.value,
              "decided_at_ns": decided_at_ns, **{f"v_{k}": v for k, v in extra.items()}}  # fmt: skip
    changed = _set_state_statement(tuple(sorted(extra))).run(conn, params)
    if len(changed) != 1:  # someone else changed it since we read it: never act twice
        raise MoveError(f"move {move.ref} changed under us (was {move.state.value})")
    return replace(move, state=state, decided_at_ns=decided_at_ns, **extra)  # type: ignore[arg-type]


# --- reading


def _move(row: Row | tuple) -> Move:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["kind"] = MoveKind(values["kind"])
    values["state"] = MoveState(values["state"])
    if values["code_hmac"] is not None:
        values["code_hmac"] = bytes(values["code_hmac"])
    return Move(**values)


def _by_id(dialect_name: str, lock: bool) -> Select:
    query = select(*moves.c).where(moves.c.id == bindparam("move_id"))
    return query.with_for_update() if lock and dialect_name == "postgresql" else query


_get = PreparedSelect(lambda dialect_name: _by_id(dialect_name, lock=False))
_get_for_update = PreparedSelect(lambda dialect_name: _by_id(dialect_name, lock=True))


def get_move_txn(conn: Connection, move_id: int, lock: bool = False) -> Move:
    row = (_get_for_update if lock else _get).first(conn, {"move_id": move_id})
    if row is None:
        raise MoveError(f"no move {move_id}")
    return _move(row)


def find_move_by_ref_txn(conn: Connection, ref: str) -> Move | None:
    row = conn.execute(select(moves).where(moves.c.ref == ref.strip().upper())).first()
    return _move(row) if row is not None else None


def recent_moves_txn(conn: Connection, msisdn: str, limit: int = 5) -> list[Move]:
    """The party's latest posted or pending moves, newest first."""
    party = or_(moves.c.payer_msisdn == msisdn, moves.c.payee_msisdn == msisdn)
    shown = moves.c.state.in_([MoveState.POSTED.value, MoveState.PENDING.value])
    query = select(moves).where(and_(party, shown)).order_by(moves.c.id.desc()).limit(limit)
    return [_move(row) for row in conn.execute(query)]


def _open_moves_of(dialect_name: str) -> Select:
    return (
        select(*moves.c)
        .where(
            moves.c.payer_msisdn == bindparam("payer"),
            in_parameter(moves.c.state, "states", dialect_name, String),
            moves.c.created_at_ns >= bindparam("since_ns"),
        )
        .order_by(moves.c.id.desc())
    )


_open_of = PreparedSelect(_open_moves_of)


def open_moves_of_txn(
    conn: Connection, payer_msisdn: str, states: Sequence[MoveState], since_ns: int
) -> list[Move]:
    """The payer's moves in `states` created since `since_ns`, newest first."""
    wanted = in_parameter_value(conn.dialect.name, [state.value for state in states])
    rows = _open_of.all(conn, {"payer": payer_msisdn, "states": wanted, "since_ns": since_ns})
    return [_move(row) for row in rows]


def expired_moves_txn(conn: Connection, states: Sequence[MoveState], now_ns: int, limit: int):
    """Open moves whose expires_at_ns has passed (held or confirming, not confirmed in time)."""
    query = (
        select(moves)
        .where(
            moves.c.state.in_([state.value for state in states]),
            moves.c.expires_at_ns.is_not(None),
            moves.c.expires_at_ns < now_ns,
        )
        .order_by(moves.c.expires_at_ns)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_move(row) for row in conn.execute(query)]
