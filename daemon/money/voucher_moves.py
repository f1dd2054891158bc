"""How a voucher ends other than by its own SEND being voided: claimed into the recipient's new
wallet when the number registers (VOUCHER_CLAIM), or returned to its sender once it expires
(VOUCHER_RETURN, a settle step). Paying one out as cash at an agent is COLLECT (daemon.money.agents).

Each is a move out of the voucher suspense account, posted at once, that closes the voucher in the
same transaction; its notices tell the voucher's sender and, for a claim, the new customer.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.money import common
from daemon.money.limits import check_balance_max
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, get_move_txn, open_move_txn
from daemon.money.notices import Notifier, on_posted, posted_notices
from daemon.money.settle import SettleEnv, _short_code, add_step
from daemon.money.vouchers import (
    Voucher,
    VoucherState,
    _voucher,
    close_voucher_txn,
    expired_vouchers_txn,
    open_vouchers_for_txn,
)
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.schema import vouchers
from daemon.subscribers import Subscriber, get_subscriber_txn


def _out_of_suspense_txn(
    conn: Connection, voucher: Voucher, kind: MoveKind, payee: str, currency: str, now_ns: int,
    inbox_id: int | None,
) -> Move:  # fmt: skip
    leg = Leg(
        int(SystemAccount.VOUCHER_SUSPENSE),
        wallet_account_id(payee),
        voucher.amount_minor,
        TransferCode.VOUCHER,
    )
    request = MoveRequest(kind, None, payee, voucher.amount_minor, [leg], inbox_id=inbox_id)
    move = open_move_txn(conn, request, currency=currency, now_ns=now_ns)
    if not isinstance(move, Move):  # suspense holds every open voucher: this is corrupt data
        raise common.MoneyRefused(f"voucher {voucher.id}: {move.result.value}")
    state = VoucherState.CLAIMED if kind is MoveKind.VOUCHER_CLAIM else VoucherState.RETURNED
    close_voucher_txn(conn, voucher, state, now_ns, move.id)
    return move


def closed_by_txn(conn: Connection, move_id: int) -> Voucher:
    """The voucher a claim, return or collection closed."""
    row = conn.execute(select(vouchers).where(vouchers.c.closed_by_move_id == move_id)).one()
    return _voucher(row)


def reopen_voucher_txn(conn: Connection, move_id: int) -> None:
    """A collection that waited for its confirmation and was voided: its voucher is open again."""
    conn.execute(
        update(vouchers)
        .where(
            vouchers.c.closed_by_move_id == move_id,
            vouchers.c.state == VoucherState.COLLECTED.value,
        )
        .values(state=VoucherState.OPEN.value, closed_at_ns=None, closed_by_move_id=None)
    )


# --- claimed at registration


def claim_vouchers_txn(notifier: Notifier, customer: Subscriber) -> list[OutgoingSms]:
    """Every open voucher for the newly registered `customer` moved into its wallet, as far as the
    tier's maximum balance allows (one that does not fit stays open: collect it or let it return);
    the SMS telling the customer and each sender."""
    conn, config = notifier.conn, notifier.config
    limits = common.money_env(config).tariff.limits(customer.kyc_tier)
    told: list[OutgoingSms] = []
    for voucher in open_vouchers_for_txn(conn, customer.msisdn):
        balance_minor = common.available_minor(conn, customer.account_id)
        if check_balance_max(balance_minor, voucher.amount_minor, limits) is not None:
            continue
        move = _out_of_suspense_txn(
            conn, voucher, MoveKind.VOUCHER_CLAIM, customer.msisdn, config.service.currency,
            notifier.now_ns, notifier.inbox_id,
        )  # fmt: skip
        told.extend(posted_notices(notifier, move))
    return told


@on_posted(MoveKind.VOUCHER_CLAIM)
def _tell_claimed(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payee_msisdn is not None
    voucher = closed_by_txn(notifier.conn, move.id)
    sent = get_move_txn(notifier.conn, voucher.move_id)
    sender = get_subscriber_txn(notifier.conn, voucher.sender_msisdn)
    amount = notifier.money(move.amount_minor)
    return [
        notifier.sms(
            move.payee_msisdn,
            "voucher_claimed",
            ref=move.ref,
            amount=amount,
            name=common.short_name(sender),
            phone=notifier.display(voucher.sender_msisdn),
            balance=notifier.balance(wallet_account_id(move.payee_msisdn)),
        ),
        notifier.sms(
            voucher.sender_msisdn,
            "voucher_claimed_sender",
            ref=sent.ref,
            amount=amount,
            phone=notifier.display(move.payee_msisdn),
        ),
    ]


# --- returned when it expires


@add_step("vouchers_returned")
def return_expired_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """Open vouchers past their expiry, back in their senders' wallets; each sender told."""
    found = expired_vouchers_txn(conn, now_ns, limit)
    for voucher in found:
        sent = get_move_txn(conn, voucher.move_id)
        move = _out_of_suspense_txn(
            conn, voucher, MoveKind.VOUCHER_RETURN, voucher.sender_msisdn,
            env.config.service.currency, now_ns, None,
        )  # fmt: skip
        # Told from the number the SEND was written to, like its other notices.
        short_code = _short_code(conn, sent.inbox_id, env.config)
        notifier = env.notifier(conn, short_code, now_ns, sent.inbox_id)
        queue_sms_txn(conn, posted_notices(notifier, move), now_ns)
    return len(found), len(found) >= limit


@on_posted(MoveKind.VOUCHER_RETURN)
def _tell_returned(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payee_msisdn is not None
    voucher = closed_by_txn(notifier.conn, move.id)
    sent = get_move_txn(notifier.conn, voucher.move_id)
    return [
        notifier.sms(
            move.payee_msisdn,
            "voucher_returned",
            ref=move.ref,
            sent_ref=sent.ref,
            amount=notifier.money(move.amount_minor),
            phone=notifier.display(voucher.recipient_msisdn),
            balance=notifier.balance(wallet_account_id(move.payee_msisdn)),
        )
    ]
