"""What the other parties hear of an agent's moves once posted (DEPOSIT: the customer; WITHDRAW: the
store; COLLECT: the voucher's recipient and sender), and what the sender hears if a move that waited
for its confirmation's delivery is voided instead."""

from __future__ import annotations

from daemon.chart import wallet_account_id
from daemon.money import common
from daemon.money.agents import store_label
from daemon.money.moves import Move, MoveKind, get_move_txn
from daemon.money.notices import Notifier, on_posted, on_released
from daemon.money.voucher_moves import closed_by_txn, reopen_voucher_txn
from daemon.outbox import OutgoingSms
from daemon.subscribers import Subscriber, get_subscriber_txn


def _store(notifier: Notifier, msisdn: str | None) -> Subscriber:
    assert msisdn is not None
    found = get_subscriber_txn(notifier.conn, msisdn)
    assert found is not None
    return found


def _fee_clause(notifier: Notifier, msisdn: str, fee_minor: int) -> str:
    return notifier.text(msisdn, "fee_clause", fee=notifier.money(fee_minor)) if fee_minor else ""


def _sender(move: Move) -> str:
    """Who sent the command: the assistant when one acted for the store, else the payer/store."""
    if move.actor_msisdn is not None:
        return move.actor_msisdn
    sender = move.payee_msisdn if move.kind is MoveKind.COLLECT else move.payer_msisdn
    assert sender is not None
    return sender


@on_posted(MoveKind.DEPOSIT)
def _tell_depositor(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payee_msisdn is not None
    store = _store(notifier, move.payer_msisdn)
    return [
        notifier.about(
            move.payee_msisdn,
            "deposit_received",
            move,
            agent=store_label(store),
            when=notifier.when(),
            fee=_fee_clause(notifier, move.payee_msisdn, move.fee_minor),
            balance=notifier.balance(wallet_account_id(move.payee_msisdn)),
        )
    ]


@on_released(MoveKind.DEPOSIT)
def _tell_deposit_voided(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None and move.payee_msisdn is not None
    return [
        notifier.about(
            _sender(move),
            "deposit_voided",
            move,
            phone=notifier.display(move.payee_msisdn),
            balance=notifier.balance(wallet_account_id(move.payer_msisdn)),
        )
    ]


@on_posted(MoveKind.WITHDRAW)
def _tell_store_to_pay(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None and move.payee_msisdn is not None
    customer = get_subscriber_txn(notifier.conn, move.payer_msisdn)
    return [
        notifier.about(
            move.payee_msisdn,
            "withdraw_give_cash",
            move,
            name=common.short_name(customer),
            phone=notifier.display(move.payer_msisdn),
            when=notifier.when(),
            commission=notifier.money(move.commission_minor),
            balance=notifier.balance(wallet_account_id(move.payee_msisdn)),
        )
    ]


@on_released(MoveKind.WITHDRAW)
def _tell_withdrawal_voided(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None
    store = _store(notifier, move.payee_msisdn)
    return [
        notifier.about(
            move.payer_msisdn,
            "withdraw_voided",
            move,
            agent=store_label(store),
            balance=notifier.balance(wallet_account_id(move.payer_msisdn)),
        )
    ]


@on_posted(MoveKind.COLLECT)
def _tell_collected(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None
    voucher = closed_by_txn(notifier.conn, move.id)
    sent = get_move_txn(notifier.conn, voucher.move_id)
    agent = store_label(_store(notifier, move.payee_msisdn))
    sender = get_subscriber_txn(notifier.conn, voucher.sender_msisdn)
    recipient = voucher.recipient_msisdn
    return [
        notifier.about(
            recipient,
            "voucher_collected",
            move,
            name=common.short_name(sender),
            phone=notifier.display(voucher.sender_msisdn),
            agent=agent,
            when=notifier.when(),
            fee=_fee_clause(notifier, recipient, move.fee_minor),
        ),
        notifier.sms(
            voucher.sender_msisdn,
            "voucher_collected_sender",
            ref=sent.ref,
            amount=notifier.money(move.amount_minor),
            phone=notifier.display(recipient),
            agent=agent,
            when=notifier.when(),
        ),
    ]


@on_released(MoveKind.COLLECT)
def _tell_collect_voided(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None and move.payee_msisdn is not None
    reopen_voucher_txn(notifier.conn, move.id)
    return [
        notifier.about(
            _sender(move),
            "collect_voided",
            move,
            phone=notifier.display(move.payer_msisdn),
            balance=notifier.balance(wallet_account_id(move.payee_msisdn)),
        )
    ]
