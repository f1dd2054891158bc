"""TILL <till> <amount>: Buy Goods, wallet to a merchant's wallet (Lipa na M-Pesa).

A till is a merchant's short number (the `tills` table, set up by staff: daemon.admin.tills); the
merchant is a subscriber with Role.BILLER whose wallet is a merchant wallet. A payment is quoted
(the customer's fee, the merchant's fee, the payer's limits), then posted at once or held pending
until the payer's confirmation is delivered ("TILL" in money.post_on_delivery), like a SEND. The
merchant hears of each payment once it is posted; the payer, if it is voided instead.

The move's legs, one linked chain: payer -> merchant the amount (MERCHANT_PAYMENT), payer ->
FEE_INCOME the customer's fee if any, merchant -> FEE_INCOME the merchant's fee if any. A pending
leg cannot spend money that is itself only pending, so a move held pending takes the merchant's fee
out of the principal instead (payer -> merchant the amount less the fee, payer -> FEE_INCOME the
merchant's fee): the same money ends in the same accounts. The move records the customer's fee in
fee_minor and the merchant's in commission_minor (what the operator earns from the merchant side).

Above [security] otp_amount_above_minor the payment waits HELD for YES <one-time password>
(daemon.security.amount_otp); a fraud rule's hit holds it for staff (daemon.security.fraud_holds).
Either is committed by `_recommit` (daemon.money.held): the till found again from the move's
merchant, the payment quoted and checked again, then opened like any.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, select

from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import Role
from daemon.money import common, held
from daemon.money.account import payee_label
from daemon.money.limits import record_usage_txn
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, MoveState, open_move_txn
from daemon.money.notices import Notifier, on_posted, on_released, posted_notices
from daemon.money.request_rows import request_of_move_txn
from daemon.money.tariff import NoBand
from daemon.outbox import OutgoingSms
from daemon.schema import tills
from daemon.security import amount_otp
from daemon.security.fraud_holds import screen_move
from daemon.subscribers import Subscriber, get_subscriber_txn

COMMAND = "TILL"
NAME_MAX_CHARS = 20  # a till's name is in every payment SMS: long names would not fit


class TillState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # by staff: takes no payments until resumed


@dataclass(frozen=True, slots=True)
class Till:
    till_number: str
    msisdn: str  # the merchant
    name: str
    state: TillState
    created_at_ns: int
    created_by: str

    @property
    def label(self) -> str:
        """How replies and VERIFY name it: `MAMA MBOGA 123456`."""
        return f"{self.name.upper()} {self.till_number}"


def _till(row) -> Till:
    values = row._mapping
    return Till(
        values["till_number"], values["msisdn"], values["name"], TillState(values["state"]),
        values["created_at_ns"], values["created_by"],
    )  # fmt: skip


def get_till_txn(conn: Connection, till_number: str) -> Till | None:
    row = conn.execute(select(tills).where(tills.c.till_number == till_number)).first()
    return _till(row) if row is not None else None


def till_of_merchant_txn(conn: Connection, msisdn: str) -> Till | None:
    row = conn.execute(select(tills).where(tills.c.msisdn == msisdn)).first()
    return _till(row) if row is not None else None


def list_tills_txn(conn: Connection) -> list[Till]:
    return [_till(row) for row in conn.execute(select(tills).order_by(tills.c.till_number))]


@dataclass(frozen=True, slots=True)
class TillQuote:
    payer: Subscriber
    merchant: Subscriber
    till: Till
    amount_minor: int
    fee_minor: int  # the customer's
    merchant_fee_minor: int

    @property
    def total_minor(self) -> int:
        return self.amount_minor + self.fee_minor

    def legs(self, pending: bool) -> list[Leg]:
        payer, merchant = self.payer.account_id, self.merchant.account_id
        fee_income = int(SystemAccount.FEE_INCOME)
        to_merchant = self.amount_minor - (self.merchant_fee_minor if pending else 0)
        legs = [Leg(payer, merchant, to_merchant, TransferCode.MERCHANT_PAYMENT)]
        if self.fee_minor:
            legs.append(Leg(payer, fee_income, self.fee_minor, TransferCode.FEE))
        if self.merchant_fee_minor:
            fee_payer = payer if pending else merchant
            legs.append(Leg(fee_payer, fee_income, self.merchant_fee_minor, TransferCode.FEE))
        return legs

    def request(self, inbox_id: int | None, pending: bool) -> MoveRequest:
        return MoveRequest(
            MoveKind.TILL, self.payer.msisdn, self.merchant.msisdn, self.amount_minor,
            self.legs(pending), fee_minor=self.fee_minor,
            commission_minor=self.merchant_fee_minor, inbox_id=inbox_id,
            detail=f"till {self.till.till_number} {self.till.name}"[:64],
        )  # fmt: skip


def pay_till(ctx: CommandContext, till: str, amount_minor: int) -> Reply:
    found = get_till_txn(ctx.conn, till)
    if found is None:
        return ctx.reply("till_unknown", till=till)
    priced = quote(ctx, found, amount_minor)
    if isinstance(priced, Reply):
        return priced
    pending = common.money_env(ctx.config).posts_on_delivery(COMMAND)
    request = priced.request(ctx.inbox_id, pending)
    if (screened := screen_move(ctx, request)) is not None:
        return screened
    if amount_otp.applies(ctx, amount_minor):
        return amount_otp.hold_txn(
            ctx, request, lambda code, minutes: ask(ctx, priced, code, minutes)
        )
    opened = open_till_txn(ctx, priced)
    if isinstance(opened, Reply):
        return opened
    return committed(ctx, opened)


def ask(ctx: CommandContext, priced: TillQuote, code: str, minutes: int) -> Reply:
    """The question of a payment held for its one-time password."""
    return amount_otp.ask(
        ctx, "otp_pay_confirm", code, minutes, amount=ctx.money(priced.amount_minor),
        payee=priced.till.label, fee=ctx.money(priced.fee_minor),
    )  # fmt: skip


def _held_payee(conn: Connection, config, move: Move) -> str:
    return _till_of_move(conn, move).label


@held.recommit(MoveKind.TILL, payee=_held_payee)
def _recommit(ctx: CommandContext, move: Move) -> Reply:
    """A held TILL payment quoted again and paid now, or the refusal (left held)."""
    priced = quote(ctx, _till_of_move(ctx.conn, move), move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = held.paid_state(ctx, COMMAND)
    requoted = priced.request(None, state is MoveState.PENDING)
    reserved = held.reserve_txn(ctx, move, requoted, state, priced.payer.account_id)
    return reserved if isinstance(reserved, Reply) else committed(ctx, reserved)


def quote(ctx: CommandContext, till: Till, amount_minor: int) -> TillQuote | Reply:
    """The payment priced and checked against every rule, or the reply refusing it."""
    payer = ctx.subscriber
    assert payer is not None
    if payer.frozen:
        return common.frozen_reply(ctx)
    merchant = get_subscriber_txn(ctx.conn, till.msisdn)
    if till.msisdn == payer.msisdn:
        return ctx.reply("till_own")
    if till.state is not TillState.ACTIVE or merchant is None or merchant.frozen:
        return ctx.reply("till_suspended", till=till.till_number, name=till.name.upper())
    if merchant.role is not Role.BILLER:  # corrupt data: the till names a customer's number
        return ctx.reply("till_suspended", till=till.till_number, name=till.name.upper())
    if (limited := common.payer_limits_reply(ctx, payer, COMMAND, amount_minor)) is not None:
        return limited
    tariff = common.money_env(ctx.config).tariff
    try:
        fee = tariff.fee_minor(COMMAND, amount_minor)
        merchant_fee = tariff.merchant_fee_minor(COMMAND, amount_minor)
    except NoBand as exc:  # the bands end below the tier's limit: theirs is the lower one
        return ctx.reply("limit_per_transaction", allowed=ctx.money(exc.highest_minor))
    return TillQuote(payer, merchant, till, amount_minor, fee, merchant_fee)


def open_till_txn(ctx: CommandContext, priced: TillQuote) -> Move | Reply:
    """The payment's move: posted, or pending until the payer's confirmation is delivered."""
    pending = common.money_env(ctx.config).posts_on_delivery(COMMAND)
    move = open_move_txn(
        ctx.conn,
        priced.request(ctx.inbox_id, pending),
        currency=ctx.config.service.currency,
        now_ns=ctx.now_ns,
        state=MoveState.PENDING if pending else MoveState.POSTED,
    )
    if not isinstance(move, Move):
        return common.ledger_reply(ctx, move, priced.payer.account_id, priced.total_minor)
    record_usage_txn(ctx.conn, priced.payer.msisdn, common.today(ctx), priced.amount_minor)
    return move


def committed(ctx: CommandContext, move: Move) -> Reply:
    """The payer's confirmation; a payment posted at once tells the merchant now."""
    on_delivery = move.state is MoveState.PENDING
    if not on_delivery:
        notifier = Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id)
        ctx.notifications.extend(posted_notices(notifier, move))
    till = _till_of_move(ctx.conn, move)
    assert move.payer_msisdn is not None
    text = ctx.text(
        "till_paid",
        ref=move.ref,
        amount=ctx.money(move.amount_minor),
        name=till.name.upper(),
        till=till.till_number,
        when=common.when(ctx.now_ns, ctx.config.money.timezone),
        fee=ctx.money(move.fee_minor),
        balance=ctx.money(common.available_minor(ctx.conn, wallet_account_id(move.payer_msisdn))),
    )
    return common.confirmation(ctx, move, text, on_delivery)


def _till_of_move(conn: Connection, move: Move) -> Till:
    assert move.payee_msisdn is not None
    found = till_of_merchant_txn(conn, move.payee_msisdn)
    assert found is not None, f"move {move.ref}: no till for its merchant"
    return found


@on_posted(MoveKind.TILL)
def _tell_merchant(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn and move.payee_msisdn
    payer = get_subscriber_txn(notifier.conn, move.payer_msisdn)
    paid = request_of_move_txn(notifier.conn, move.id)  # a request to pay it answered
    code = paid.code if paid is not None else None
    fields = {
        "name": common.short_name(payer),
        "phone": notifier.display(move.payer_msisdn),
        "when": notifier.when(),
        "fee": notifier.money(move.commission_minor),
        "balance": notifier.balance(wallet_account_id(move.payee_msisdn)),
    }
    if code is not None:
        return [
            notifier.about(move.payee_msisdn, "till_received_request", move, code=code, **fields)
        ]
    return [notifier.about(move.payee_msisdn, "till_received", move, **fields)]


@on_released(MoveKind.TILL)
def _tell_payer_nothing_happened(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None
    till = _till_of_move(notifier.conn, move)
    return [
        notifier.about(
            move.payer_msisdn,
            "till_voided",
            move,
            name=till.name.upper(),
            till=till.till_number,
            balance=notifier.balance(wallet_account_id(move.payer_msisdn)),
        )
    ]


@payee_label(MoveKind.TILL.value)
def _verify_label(ctx: CommandContext, move: Move) -> str:
    return _till_of_move(ctx.conn, move).label
