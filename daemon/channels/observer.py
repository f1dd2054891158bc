"""The posting events: a move that reserves, posts or is released from a reservation tells the
channels of its payer (a debit) and payee (a credit), in the move's own transaction, with the
wallet's balances after the change. Most subscribers have no channel: one indexed SELECT finds
that out and nothing more is done."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, String, select

from daemon.channels.events import event_master, write_event_txn
from daemon.chart import wallet_account_id
from daemon.money.moves import Move, MoveKind, MoveState, add_move_observer, remove_move_observer
from daemon.schema_api import channels
from ledger import get_balance
from ledger.fastpath import PreparedSelect, in_parameter, in_parameter_value

_EVENT_STATE = {
    MoveState.CONFIRMING: "pending",
    MoveState.PENDING: "pending",
    MoveState.POSTED: "posted",
    MoveState.VOIDED: "voided",
    MoveState.DECLINED: "voided",
    MoveState.EXPIRED: "voided",
}

_with_channel = PreparedSelect(
    lambda dialect_name: select(channels.c.msisdn).where(
        in_parameter(channels.c.msisdn, "parties", dialect_name, String)
    )
)


def register_observer() -> None:
    add_move_observer(observe_move)


def unregister_observer() -> None:
    remove_move_observer(observe_move)


def parties_with_channels_txn(conn: Connection, move: Move) -> set[str]:
    parties = [p for p in (move.payer_msisdn, move.payee_msisdn) if p is not None]
    if not parties:
        return set()
    wanted = in_parameter_value(conn.dialect.name, parties)
    return {row[0] for row in _with_channel.all(conn, {"parties": wanted})}


def observe_move(
    conn: Connection, move: Move, previous: MoveState | None, currency: str, now_ns: int
) -> None:
    """The move observer (daemon.money.moves.add_move_observer)."""
    if event_master() is None:
        return
    found = parties_with_channels_txn(conn, move)
    if not found:
        return
    if move.payer_msisdn in found:
        event = posting_event(conn, move, move.payer_msisdn, "debit", currency)
        write_event_txn(conn, move.payer_msisdn, event, now_ns, move_id=move.id)
    if move.payee_msisdn in found and move.payee_msisdn != move.payer_msisdn:
        event = posting_event(conn, move, move.payee_msisdn, "credit", currency)
        write_event_txn(conn, move.payee_msisdn, event, now_ns, move_id=move.id)


def side_of(move: Move, debit: bool) -> tuple[int, str | None]:
    """The fee one side of `move` sees (the payer's fee; a merchant's commission on a TILL) and
    its counterparty (the other number, or the move's detail: a biller, an airtime order)."""
    other = move.payee_msisdn if debit else move.payer_msisdn
    fee = move.fee_minor if debit else move.commission_minor if move.kind is MoveKind.TILL else 0
    return fee, other if other is not None else move.detail


def posting_event(
    conn: Connection, move: Move, msisdn: str, direction: str, currency: str
) -> dict[str, Any]:
    """The plaintext of a posting event for `msisdn`'s side of `move` (seq and at added later)."""
    balance = get_balance(conn, wallet_account_id(msisdn))
    fee, counterparty = side_of(move, direction == "debit")
    return {
        "type": "posting",
        "state": _EVENT_STATE[move.state],
        "ref": move.ref,
        "kind": move.kind.value,
        "direction": direction,
        "amountMinor": move.amount_minor,
        "feeMinor": fee,
        "currency": currency,
        "counterparty": counterparty,
        "balanceMinor": balance.posted if balance is not None else 0,
        "availableMinor": balance.available if balance is not None else 0,
    }
