"""SEND: wallet to wallet, or to a voucher when the recipient has no wallet; with the double-send
guard and confirm-before-commit (both end in YES/NO, daemon.money.confirm).

A SEND is quoted (fee from the tariff, limits of the sender's tier, the recipient's maximum balance),
then either committed at once, or held: a repeat of a recent SEND (same recipient and amount) waits
for YES with nothing reserved; one above money.confirm_above_minor waits for YES with the money
reserved. Committed, it is posted at once or held pending until the sender's confirmation is
delivered (money.post_on_delivery), and the recipient is told only once it is posted.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import AGENTS, Role
from daemon.money import common
from daemon.money.limits import check_balance_max, record_usage_txn
from daemon.money.moves import (
    Leg,
    Move,
    MoveKind,
    MoveRequest,
    MoveState,
    open_move_txn,
    open_moves_of_txn,
)
from daemon.money.notices import Notifier, on_posted, on_released, posted_notices
from daemon.money.tariff import NoBand, RecipientKind
from daemon.money.voucher_moves import claim_vouchers_txn
from daemon.money.vouchers import (
    VoucherState,
    close_voucher_txn,
    create_voucher_txn,
    issue_code_txn,
    voucher_of_move_txn,
)
from daemon.outbox import OutgoingSms
from daemon.security import amount_otp, otp_lock
from daemon.security.fraud_holds import screen_move
from daemon.subscribers import Subscriber, get_subscriber_txn

COMMAND = "SEND"
_RECEIVERS = frozenset({Role.CUSTOMER})  # agents take cash (WITHDRAW), billers payments (PAY)
DOUBLE_PURPOSE = "again"
CONFIRM_PURPOSE = "confirm"


@dataclass(frozen=True, slots=True)
class Quote:
    payer: Subscriber
    payee: Subscriber | None  # None: unregistered, the money goes to a voucher
    payee_msisdn: str
    amount_minor: int
    fee_minor: int

    @property
    def kind(self) -> MoveKind:
        return MoveKind.SEND if self.payee is not None else MoveKind.VOUCHER

    @property
    def total_minor(self) -> int:
        return self.amount_minor + self.fee_minor

    def legs(self) -> list[Leg]:
        credit = self.payee.account_id if self.payee else int(SystemAccount.VOUCHER_SUSPENSE)
        legs = [Leg(self.payer.account_id, credit, self.amount_minor, TransferCode.P2P)]
        if self.fee_minor:
            fee_account = int(SystemAccount.FEE_INCOME)
            legs.append(Leg(self.payer.account_id, fee_account, self.fee_minor, TransferCode.FEE))
        return legs

    def request(self, inbox_id: int | None) -> MoveRequest:
        return MoveRequest(
            self.kind,
            self.payer.msisdn,
            self.payee_msisdn,
            self.amount_minor,
            self.legs(),
            fee_minor=self.fee_minor,
            inbox_id=inbox_id,
        )


def quote(ctx: CommandContext, payee_msisdn: str, amount_minor: int) -> Quote | Reply:
    """The SEND priced and checked against every rule, or the reply refusing it."""
    payer = ctx.subscriber
    assert payer is not None
    if payer.frozen:
        return common.frozen_reply(ctx)
    if payee_msisdn == payer.msisdn:
        return ctx.reply("send_to_self")
    payee = get_subscriber_txn(ctx.conn, payee_msisdn)
    if payee is not None and payee.role in AGENTS:
        return ctx.reply("send_to_agent", phone=common.display(ctx, payee_msisdn))
    if payee is not None and (payee.role not in _RECEIVERS or payee.frozen):
        return ctx.reply("recipient_cannot_receive", phone=common.display(ctx, payee_msisdn))
    if (limited := common.payer_limits_reply(ctx, payer, COMMAND, amount_minor)) is not None:
        return limited
    env = common.money_env(ctx.config)
    kind = RecipientKind.REGISTERED if payee else RecipientKind.UNREGISTERED
    try:
        fee = env.tariff.fee_minor(COMMAND, amount_minor, kind)
    except NoBand as exc:  # the bands end below the tier's limit: theirs is the lower one
        return ctx.reply("limit_per_transaction", allowed=ctx.money(exc.highest_minor))
    if payee is not None and _over_balance_max(ctx, payee, amount_minor):
        return ctx.reply("recipient_cannot_receive", phone=common.display(ctx, payee_msisdn))
    return Quote(payer, payee, payee_msisdn, amount_minor, fee)


def _over_balance_max(ctx: CommandContext, payee: Subscriber, amount_minor: int) -> bool:
    # The refusal does not say by how much: that would tell the sender the recipient's balance.
    limits = common.money_env(ctx.config).tariff.limits(payee.kyc_tier)
    balance = common.available_minor(ctx.conn, payee.account_id)
    return check_balance_max(balance, amount_minor, limits) is not None


def send_money(ctx: CommandContext, payee_msisdn: str, amount_minor: int) -> Reply:
    priced = quote(ctx, payee_msisdn, amount_minor)
    if isinstance(priced, Reply):
        return priced
    needs_otp = amount_otp.applies(ctx, amount_minor)
    if needs_otp and (locked := otp_lock.locked_reply(ctx, priced.payer.msisdn)) is not None:
        return locked  # the lock answers, not a review hold (daemon.security.otp_lock)
    if (screened := screen_move(ctx, priced.request(ctx.inbox_id))) is not None:
        return screened
    if needs_otp:  # first: a repeat's YES would post it without one
        return _hold_for_otp(ctx, priced)
    env = common.money_env(ctx.config)
    if (earlier := _recent_same_send(ctx, priced)) is not None:
        return _hold_repeat(ctx, priced, earlier)
    # On USSD the PIN screen, naming recipient, amount and fee, is that confirmation already.
    if 0 < env.config.confirm_above_minor < amount_minor and ctx.channel != "ussd":
        return _hold_for_confirmation(ctx, priced)
    return commit(ctx, priced)


def _recent_same_send(ctx: CommandContext, priced: Quote) -> Move | None:
    window_ns = int(common.money_env(ctx.config).config.double_send_window_s * NS_PER_S)
    states = (MoveState.PENDING, MoveState.POSTED, MoveState.CONFIRMING)
    recent = open_moves_of_txn(ctx.conn, priced.payer.msisdn, states, ctx.now_ns - window_ns)
    return next(
        (
            move
            for move in recent
            if move.kind is priced.kind
            and move.payee_msisdn == priced.payee_msisdn
            and move.amount_minor == priced.amount_minor
        ),
        None,
    )


def _hold(
    ctx: CommandContext,
    priced: Quote,
    state: MoveState,
    purpose: str,
    code: str | None = None,
    timeout_s: float | None = None,
) -> tuple[Move, str] | Reply:
    """The SEND recorded as HELD or CONFIRMING with a YES code (a new one unless given): the move
    and the code (for the reply)."""
    assert ctx.hasher is not None
    code = code or common.new_code()
    timeout_s = timeout_s or common.money_env(ctx.config).config.confirm_timeout_s
    timeout_ns = int(timeout_s * NS_PER_S)
    move = open_move_txn(
        ctx.conn,
        priced.request(ctx.inbox_id),
        currency=ctx.config.service.currency,
        now_ns=ctx.now_ns,
        state=state,
        expires_at_ns=ctx.now_ns + timeout_ns,
        code_hmac=common.code_digest(ctx.hasher, purpose, priced.payer.msisdn, code),
    )
    if not isinstance(move, Move):
        return common.ledger_reply(ctx, move, priced.payer.account_id, priced.total_minor)
    if state is MoveState.CONFIRMING:
        record_usage_txn(ctx.conn, priced.payer.msisdn, common.today(ctx), priced.amount_minor)
    return move, code


def _minutes(ctx: CommandContext) -> int:
    return max(1, round(common.money_env(ctx.config).config.confirm_timeout_s / 60))


def _hold_repeat(ctx: CommandContext, priced: Quote, earlier: Move) -> Reply:
    held = _hold(ctx, priced, MoveState.HELD, DOUBLE_PURPOSE)
    if isinstance(held, Reply):
        return held
    _, code = held
    text = ctx.text(
        "send_again",
        amount=ctx.money(priced.amount_minor),
        phone=common.display(ctx, priced.payee_msisdn),
        ref=earlier.ref,
        code=code,
        minutes=_minutes(ctx),
    )
    return Reply(text, holds_code=True)


def _hold_for_confirmation(ctx: CommandContext, priced: Quote) -> Reply:
    held = _hold(ctx, priced, MoveState.CONFIRMING, CONFIRM_PURPOSE)
    if isinstance(held, Reply):
        return held
    _, code = held
    return _confirm_reply(ctx, priced, "send_confirm", code, _minutes(ctx))


def _confirm_reply(ctx: CommandContext, priced: Quote, key: str, code: str, minutes: int) -> Reply:
    """The question of a SEND held for YES <code>: what, to whom, the fee, the code."""
    name = common.short_name(priced.payee) or ctx.text("unregistered_number")
    text = ctx.text(
        key,
        amount=ctx.money(priced.amount_minor),
        name=name,
        phone=common.display(ctx, priced.payee_msisdn),
        fee=ctx.money(priced.fee_minor),
        code=code,
        minutes=minutes,
    )
    return Reply(text, holds_code=True)


def _hold_for_otp(ctx: CommandContext, priced: Quote) -> Reply:
    """Above security.otp_amount_above_minor: held like _hold_for_confirmation, its YES code an
    OTP (daemon.security.amount_otp) that expires with the move."""
    code = amount_otp.issue_txn(ctx, priced.payer.msisdn)
    if isinstance(code, Reply):
        return code
    ttl_s = ctx.config.security.otp_ttl_s
    held = _hold(ctx, priced, MoveState.CONFIRMING, amount_otp.PURPOSE, code, ttl_s)
    if isinstance(held, Reply):
        assert ctx.hasher is not None
        digest = common.code_digest(ctx.hasher, amount_otp.PURPOSE, priced.payer.msisdn, code)
        amount_otp.withdraw_txn(ctx.conn, priced.payer.msisdn, digest)
        return held
    return _confirm_reply(ctx, priced, "otp_send_confirm", code, amount_otp.minutes(ctx))


def commit(ctx: CommandContext, priced: Quote) -> Reply:
    """Post the SEND, or hold it pending until the confirmation is delivered."""
    move = open_send_txn(ctx, priced)
    if not isinstance(move, Move):
        return move
    return committed(ctx, move, move.state is MoveState.PENDING)


def open_send_txn(ctx: CommandContext, priced: Quote) -> Move | Reply:
    """The SEND's move, posted or pending (money.post_on_delivery), its use of the limits recorded;
    or the reply refusing it. A caller that links the move to something (a request to pay) uses
    this, then `committed`."""
    opened = common.open_paid_move_txn(
        ctx, COMMAND, priced.request(ctx.inbox_id), priced.payer, priced.total_minor
    )
    return opened if isinstance(opened, Reply) else opened[0]


def committed(ctx: CommandContext, move: Move, on_delivery: bool) -> Reply:
    """The sender's confirmation of a SEND now pending or posted; a posted one tells the recipient."""
    if move.kind is MoveKind.VOUCHER:
        days_ns = int(ctx.config.money.voucher_expiry_days * 86_400 * NS_PER_S)
        state = VoucherState.PENDING if on_delivery else VoucherState.OPEN
        create_voucher_txn(ctx.conn, move, state, ctx.now_ns + days_ns, ctx.now_ns)
    if not on_delivery:
        ctx.notifications.extend(posted_notices(_notifier(ctx), move))
    return common.confirmation(ctx, move, _sender_text(ctx, move), on_delivery)


def _notifier(ctx: CommandContext) -> Notifier:
    return Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id, ctx.hasher)


def _sender_text(ctx: CommandContext, move: Move) -> str:
    assert ctx.subscriber is not None and move.payee_msisdn is not None
    balance = ctx.money(common.available_minor(ctx.conn, wallet_account_id(move.payer_msisdn)))
    fields = {
        "ref": move.ref,
        "amount": ctx.money(move.amount_minor),
        "phone": common.display(ctx, move.payee_msisdn),
        "fee": ctx.money(move.fee_minor),
        "balance": balance,
        "when": common.when(ctx.now_ns, ctx.config.money.timezone),
    }
    if move.kind is MoveKind.VOUCHER:
        return ctx.text("sent_voucher", **fields)
    payee = get_subscriber_txn(ctx.conn, move.payee_msisdn)
    return ctx.text("sent", name=common.short_name(payee), **fields)


# --- what the other party hears once the money is posted, and the sender if it never is


@on_posted(MoveKind.SEND)
def _tell_recipient(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn and move.payee_msisdn
    payer = get_subscriber_txn(notifier.conn, move.payer_msisdn)
    return [
        notifier.about(
            move.payee_msisdn,
            "received",
            move,
            name=common.short_name(payer),
            phone=notifier.display(move.payer_msisdn),
            when=notifier.when(),
            balance=notifier.balance(wallet_account_id(move.payee_msisdn)),
        )
    ]


@on_posted(MoveKind.VOUCHER)
def _tell_voucher_recipient(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn and move.payee_msisdn and notifier.hasher is not None
    voucher, code = issue_code_txn(notifier.conn, move, notifier.hasher)
    recipient = get_subscriber_txn(notifier.conn, move.payee_msisdn)
    if recipient is not None and recipient.role in _RECEIVERS:
        # The number registered while the SEND waited for its receipt: straight into the wallet.
        return claim_vouchers_txn(notifier, recipient)
    payer = get_subscriber_txn(notifier.conn, move.payer_msisdn)
    return [
        notifier.about(
            move.payee_msisdn,
            "voucher_received",
            move,
            holds_code=True,
            name=common.short_name(payer),
            phone=notifier.display(move.payer_msisdn),
            code=code,
            until=notifier.date(voucher.expires_at_ns),
        )
    ]


@on_released(MoveKind.SEND)
@on_released(MoveKind.VOUCHER)
def _tell_sender_nothing_happened(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    assert move.payer_msisdn and move.payee_msisdn
    if move.kind is MoveKind.VOUCHER:
        voucher_voided_txn(notifier, move)
    return [
        notifier.about(
            move.payer_msisdn,
            "send_voided",
            move,
            phone=notifier.display(move.payee_msisdn),
            balance=notifier.balance(wallet_account_id(move.payer_msisdn)),
        )
    ]


def voucher_voided_txn(notifier: Notifier, move: Move) -> None:
    voucher = voucher_of_move_txn(notifier.conn, move.id)
    close_voucher_txn(notifier.conn, voucher, VoucherState.VOIDED, notifier.now_ns, None)
