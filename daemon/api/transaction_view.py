"""A move as the business API shows it: the specification's transaction object (responseTransaction)
and statement entry. transactionReference is the move's ref (the one in every SMS about it), so a
business and its customer name a payment the same way.

A move not made through the API (a TILL payment a customer sent by SMS) is shown too, from the
move alone; one made through it also carries what the client sent (its own reference, the
description, subType and metadata), from the request that made it, but only to the business that
sent it: the other party of a transfer (a merchant paid by another business) sees the move alone,
never another business's reference, description or metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from daemon.api import lifecycle
from daemon.api.amounts import format_amount
from daemon.api.errors import iso_time
from daemon.api.parties import biller_parties, wallet_parties
from daemon.config import Config
from daemon.money.billers import parse_detail
from daemon.money.moves import Move, MoveKind, MoveState
from daemon.money.reversal_records import ReversalState, reversal_of_move_txn

# The specification's harmonised type of each kind of move.
KIND_TYPE = {
    MoveKind.SEND: "transfer",
    MoveKind.VOUCHER: "transfer",
    MoveKind.VOUCHER_CLAIM: "transfer",
    MoveKind.VOUCHER_RETURN: "reversal",
    MoveKind.DEPOSIT: "deposit",
    MoveKind.WITHDRAW: "withdrawal",
    MoveKind.COLLECT: "withdrawal",
    MoveKind.FLOAT: "adjustment",
    MoveKind.ISSUE: "deposit",
    MoveKind.BILL: "billpay",
    MoveKind.TILL: "merchantpay",
    MoveKind.AIRTIME: "merchantpay",
    MoveKind.REVERSAL_HOLD: "reversal",
    MoveKind.REVERSAL: "reversal",
    MoveKind.DISBURSEMENT: "disbursement",
    MoveKind.TRANSFER: "transfer",
    MoveKind.REFUND: "reversal",
}
REVERSING_KINDS = (MoveKind.REVERSAL_HOLD, MoveKind.REVERSAL, MoveKind.REFUND)
_FAILED = (MoveState.VOIDED, MoveState.DECLINED, MoveState.EXPIRED)
# What the client sent that the transaction object gives back.
_ECHOED = ("requestingOrganisationTransactionReference", "descriptionText", "subType",
           "requestDate", "metadata")  # fmt: skip


def transaction_status(conn: Connection, move: Move) -> str:
    """completed, pending, failed (nothing moved) or reversed (given back since)."""
    if move.state in _FAILED:
        return "failed"
    if move.state is not MoveState.POSTED:
        return "pending"
    reversal = reversal_of_move_txn(conn, move.id)
    if reversal is not None and reversal.state is ReversalState.APPROVED:
        return "reversed"
    return "completed"


@dataclass(frozen=True, slots=True)
class View:
    """What showing a move needs beside the move: the currency, and the operator's name (the
    party of the trust and suspense accounts)."""

    currency: str
    operator: str

    @classmethod
    def of(cls, config: Config) -> View:
        return cls(config.service.currency, config.service.name)

    def operator_party(self) -> list[dict[str, str]]:
        return [{"key": "serviceprovider", "value": self.operator}]


def debit_party(move: Move, view: View) -> list[dict[str, str]]:
    if move.payer_msisdn is not None:
        return wallet_parties(move.payer_msisdn)
    return view.operator_party()  # the trust or a suspense account: the operator itself


def credit_party(move: Move, view: View) -> list[dict[str, str]]:
    if move.payee_msisdn is not None:
        return wallet_parties(move.payee_msisdn)
    if move.kind is MoveKind.BILL and move.detail:
        return biller_parties(*parse_detail(move.detail))
    return view.operator_party()


def transaction_object(
    conn: Connection,
    move: Move,
    view: View,
    request: lifecycle.ApiRequest | None = None,
    *,
    viewer_id: int | None = None,
) -> dict[str, Any]:
    """The responseTransaction of `move`; `request` is the caller's own API request that made it.
    When not given, the request that made it is looked up, and what it sent is shown only if the
    business asking (`viewer_id`) sent it."""
    if request is None and viewer_id is not None:
        request = lifecycle.by_column_txn(conn, "move_id", move.id)
        if request is not None and request.business_id != viewer_id:
            request = None  # another business's request: its own fields are not ours to show
    currency = view.currency
    found: dict[str, Any] = {
        "transactionReference": move.ref,
        "transactionStatus": transaction_status(conn, move),
        "type": KIND_TYPE.get(move.kind, "adjustment"),
        "amount": format_amount(move.amount_minor, currency),
        "currency": currency,
        "debitParty": debit_party(move, view),
        "creditParty": credit_party(move, view),
        "transactionReceipt": move.ref,
        "creationDate": iso_time(move.created_at_ns),
        "modificationDate": iso_time(move.decided_at_ns or move.created_at_ns),
    }
    if move.fee_minor:
        fee = format_amount(move.fee_minor, currency)
        found["fees"] = [{"feeType": "transaction", "feeAmount": fee, "feeCurrency": currency}]
    if move.kind in REVERSING_KINDS and move.detail:
        found["originalTransactionReference"] = move.detail
    if request is not None:
        for name in _ECHOED:
            if request.body.get(name) is not None:
                found[name] = request.body[name]
    return found


def reversal_object(
    conn: Connection, refund: Move, original: Move, view: View, request: lifecycle.ApiRequest
) -> dict[str, Any]:
    """The responseReversal of a reversal request: the move that gave the money back."""
    found = transaction_object(conn, refund, view, request)
    found["type"] = request.body.get("type", "reversal")
    found["originalTransactionReference"] = original.ref
    kept = ("transactionReference", "originalTransactionReference", "transactionStatus", "type",
            "amount", "currency", "creditParty", "debitParty", "transactionReceipt",
            "creationDate", "modificationDate", "requestingOrganisationTransactionReference")  # fmt: skip
    return {name: found[name] for name in kept if name in found}


def statement_entry(
    conn: Connection, move: Move, view: View, owner: str, viewer_id: int
) -> dict[str, Any]:
    """One responseStatementEntries item of `owner`'s statement, as business `viewer_id` sees it."""
    found = transaction_object(conn, move, view, viewer_id=viewer_id)
    kept = ("transactionReference", "creditParty", "debitParty", "transactionStatus", "amount",
            "currency", "descriptionText", "transactionReceipt", "creationDate",
            "modificationDate", "requestDate")  # fmt: skip
    entry = {name: found[name] for name in kept if name in found}
    entry["displayType"] = found["type"] + (" out" if move.payer_msisdn == owner else " in")
    return entry
