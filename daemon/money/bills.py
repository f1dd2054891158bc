"""PAY <biller> <account> <amount>: a bill paid from the wallet to the biller's settlement account.

Checked in the order a customer can act on: the biller (known, not suspended), the account number
(the biller's rule: the reply says what it should look like), the listed bill (a bills-only biller
takes listed accounts only; no listed bill is paid beyond what is still due, counting payments that
wait for their confirmation, and a listed bill paid in full takes nothing more), then the payer's limits, the fee (the biller's own bands if it has
them) and the balance. The move (MoveKind.BILL, detail "KPLC 12345678") is posted at once, or held
pending until the confirmation is delivered when PAY is in money.post_on_delivery; the bill's
paid amount grows when the move is posted, never while it waits.

Above [security] otp_amount_above_minor the payment waits HELD for YES <one-time password>
(daemon.security.amount_otp); a fraud rule's hit holds it for staff. Either is committed by
`_recommit` (daemon.money.held): biller and account read back from the move's detail, and every
check above made again (a held payment reserved nothing, so the bill's due amount is as of now).
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.commands.context import CommandContext, Reply
from daemon.config import Config
from daemon.money import common, held
from daemon.money.billers import (
    Bill,
    Biller,
    BillState,
    get_bill_txn,
    get_biller_txn,
    move_detail,
    parse_detail,
    pending_minor_txn,
    record_payment_txn,
)
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, MoveState
from daemon.money.notices import Notifier, on_posted, on_released, posted_notices
from daemon.money.tariff import NoBand
from daemon.outbox import OutgoingSms
from daemon.security import amount_otp
from daemon.security.fraud_holds import screen_move
from daemon.subscribers import Subscriber

COMMAND = "PAY"
BILLER_NAME_SHOWN_CHARS = 20  # of a biller's name in an SMS: enough to recognise it


def biller_label(biller: Biller) -> str:
    return biller.name.upper()[:BILLER_NAME_SHOWN_CHARS].strip()


@dataclass(frozen=True, slots=True)
class BillQuote:
    payer: Subscriber
    biller: Biller
    account: str
    amount_minor: int
    fee_minor: int
    due_minor: int | None  # what the listed bill still wanted before this payment; None: no bill

    @property
    def total_minor(self) -> int:
        return self.amount_minor + self.fee_minor

    def request(self, inbox_id: int | None) -> MoveRequest:
        wallet = self.payer.account_id
        legs = [Leg(wallet, self.biller.account_id, self.amount_minor, TransferCode.BILL_PAYMENT)]
        if self.fee_minor:
            fee_account = int(SystemAccount.FEE_INCOME)
            legs.append(Leg(wallet, fee_account, self.fee_minor, TransferCode.FEE))
        return MoveRequest(
            MoveKind.BILL, self.payer.msisdn, None, self.amount_minor, legs,
            fee_minor=self.fee_minor, inbox_id=inbox_id,
            detail=move_detail(self.biller.code, self.account),
        )  # fmt: skip


def pay_bill(ctx: CommandContext, biller: str, account: str, amount_minor: int) -> Reply:
    priced = quote(ctx, biller, account, amount_minor)
    if isinstance(priced, Reply):
        return priced
    if (screened := screen_move(ctx, priced.request(ctx.inbox_id))) is not None:
        return screened
    if amount_otp.applies(ctx, amount_minor):
        return amount_otp.hold_txn(
            ctx,
            priced.request(ctx.inbox_id),
            lambda code, minutes: _ask(ctx, priced, code, minutes),
        )
    opened = common.open_paid_move_txn(
        ctx, COMMAND, priced.request(ctx.inbox_id), priced.payer, priced.total_minor
    )
    if isinstance(opened, Reply):
        return opened
    move, on_delivery = opened
    return _paid(ctx, priced, move, on_delivery)


def _paid(ctx: CommandContext, priced: BillQuote, move: Move, on_delivery: bool) -> Reply:
    if not on_delivery:  # posted now: the bill is counted as paid now
        ctx.notifications.extend(posted_notices(_notifier(ctx), move))
    return common.confirmation(ctx, move, _paid_text(ctx, priced, move), on_delivery)


def _ask(ctx: CommandContext, priced: BillQuote, code: str, minutes: int) -> Reply:
    payee = f"{biller_label(priced.biller)} {priced.account}"
    return amount_otp.ask(ctx, "otp_pay_confirm", code, minutes, amount=ctx.money(priced.amount_minor),
                          payee=payee, fee=ctx.money(priced.fee_minor))  # fmt: skip


def _held_payee(conn, config: Config, move: Move) -> str:
    assert move.detail is not None
    return move.detail  # "KPLC 12345678", as VERIFY shows it


@held.recommit(MoveKind.BILL, payee=_held_payee)
def _recommit(ctx: CommandContext, move: Move) -> Reply:
    """A held bill payment quoted again and paid now, or the refusal (left held)."""
    assert move.detail is not None
    code, account = parse_detail(move.detail)
    priced = quote(ctx, code, account, move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = held.paid_state(ctx, COMMAND)
    reserved = held.reserve_txn(ctx, move, priced.request(None), state, priced.payer.account_id)
    if isinstance(reserved, Reply):
        return reserved
    return _paid(ctx, priced, reserved, state is MoveState.PENDING)


def quote(ctx: CommandContext, code: str, account: str, amount_minor: int) -> BillQuote | Reply:
    """The payment priced and checked against every rule, or the reply refusing it."""
    payer = ctx.subscriber
    assert payer is not None
    if payer.frozen:
        return common.frozen_reply(ctx)
    biller = get_biller_txn(ctx.conn, code)
    if biller is None:
        return ctx.reply("bill_unknown_biller", biller=code[:16])
    label = biller_label(biller)
    if not biller.active:
        return ctx.reply("bill_biller_suspended", biller=label)
    if biller.rule.only_check_digit_wrong(account):
        return ctx.reply("bill_check_digit", biller=label, account=account)
    if not biller.rule.accepts(account):
        key, fields = biller.rule.description()
        rule = ctx.text(key, **fields)
        return ctx.reply("bill_bad_account", biller=label, account=account, rule=rule)
    due = _due_minor(ctx, biller, account)
    if isinstance(due, Reply):
        return due
    if due is not None and amount_minor > due:
        return ctx.reply("bill_over_due", biller=label, account=account, due=ctx.money(due))
    if (limited := common.payer_limits_reply(ctx, payer, COMMAND, amount_minor)) is not None:
        return limited
    env = common.money_env(ctx.config)
    try:
        fee = env.tariff.fee_minor(COMMAND, amount_minor, biller=biller.code)
    except NoBand as exc:  # the bands end below the tier's limit: theirs is the lower one
        return ctx.reply("limit_per_transaction", allowed=ctx.money(exc.highest_minor))
    return BillQuote(payer, biller, account, amount_minor, fee, due)


def _due_minor(ctx: CommandContext, biller: Biller, account: str) -> int | Reply | None:
    """What the account's open bill still wants (None: no open bill), or the refusal."""
    bill: Bill | None = get_bill_txn(ctx.conn, biller.code, account, lock=True)
    if bill is None or bill.state is BillState.CLOSED:
        if biller.bills_only:
            return ctx.reply("bill_not_found", biller=biller_label(biller), account=account)
        return None
    due = bill.remaining_minor - pending_minor_txn(ctx.conn, biller.code, account)
    if due <= 0:
        return ctx.reply("bill_nothing_due", biller=biller_label(biller), account=account)
    return due


def _paid_text(ctx: CommandContext, priced: BillQuote, move: Move) -> str:
    balance = common.available_minor(ctx.conn, wallet_account_id(priced.payer.msisdn))
    fields = {
        "ref": move.ref,
        "amount": ctx.money(move.amount_minor),
        "biller": biller_label(priced.biller),
        "account": priced.account,
        "fee": ctx.money(move.fee_minor),
        "balance": ctx.money(balance),
        "when": common.when(ctx.now_ns, ctx.config.money.timezone),
    }
    if priced.due_minor is not None and priced.due_minor > move.amount_minor:
        still_due = ctx.money(priced.due_minor - move.amount_minor)
        return ctx.text("bill_paid_part", due=still_due, **fields)
    return ctx.text("bill_paid", **fields)


def _notifier(ctx: CommandContext) -> Notifier:
    return Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id, ctx.hasher)


# --- once the money is posted the bill is paid; if it never is the payer hears nothing moved


@on_posted(MoveKind.BILL)
def _count_towards_the_bill(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.detail is not None
    code, account = parse_detail(move.detail)
    record_payment_txn(notifier.conn, code, account, move.amount_minor)
    return []  # the payer has the confirmation; the biller reads its statement


@on_released(MoveKind.BILL)
def _tell_payer_nothing_happened(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn is not None and move.detail is not None
    code, account = parse_detail(move.detail)
    biller = get_biller_txn(notifier.conn, code)
    return [
        notifier.about(
            move.payer_msisdn,
            "bill_voided",
            move,
            biller=biller_label(biller) if biller is not None else code,
            account=account,
            balance=notifier.balance(wallet_account_id(move.payer_msisdn)),
        )
    ]
