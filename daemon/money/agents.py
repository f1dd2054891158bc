"""Cash in and out at an agent store: DEPOSIT (the store's float to a customer's wallet), WITHDRAW
(a customer's wallet to the store's float, with the customer's fee) and COLLECT (a voucher paid out as
cash: the voucher suspense account to the store's float). The store earns commission on each, paid
from SystemAccount.AGENT_COMMISSION in the same linked chain: all or nothing.

An assistant acts on its store's float with its own PIN (DEPOSIT, COLLECT); it cannot move float
out. Each move is posted at once or held pending until the sender's confirmation is delivered
(money.post_on_delivery); the other party is told once it is posted.

A WITHDRAW is the customer's own command (at the counter, from the customer's phone): above
[security] otp_amount_above_minor it waits HELD for YES <one-time password>
(daemon.security.amount_otp), and a fraud rule's hit holds it for staff review; either is
committed by `_recommit_withdrawal` (daemon.money.held), the store found again from the move and
the withdrawal quoted again. The store hears nothing of a withdrawal waiting for its OTP (the cash
is given on the usual "give cash" SMS, sent once it is posted); of one held for review it is told
at once not to give cash, and again if the hold ends unpaid. A DEPOSIT is not held (see
daemon.security.fraud_holds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select

from daemon.chart import SystemAccount, TransferCode, wallet_account_id
from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import Role
from daemon.money import common, held
from daemon.money.arg_types import AgentRef
from daemon.money.limits import check_amount, check_balance_max, record_usage_txn
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, MoveState, open_move_txn
from daemon.money.notices import Notifier, posted_notices
from daemon.money.one_time import (
    COLLECT_GUARD,
    count_guard_failure_txn,
    delete_code_txn,
    guard_locked_until_txn,
)
from daemon.money.tariff import NoBand
from daemon.money.vouchers import (
    Voucher,
    VoucherState,
    close_voucher_txn,
    code_matches,
    open_vouchers_for_txn,
)
from daemon.outbox import OutgoingSms
from daemon.schema import subscribers
from daemon.security import amount_otp
from daemon.security.fraud_holds import screen_move
from daemon.subscribers import PinPolicy, Subscriber, get_subscriber_txn, load_subscribers_txn

DEPOSIT, WITHDRAW, COLLECT = "DEPOSIT", "WITHDRAW", "COLLECT"
STORE_NAME_SHOWN_CHARS = 20  # of a store's name in an SMS: enough to recognise the shop


def notifier(ctx: CommandContext) -> Notifier:
    return Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id, ctx.hasher)


def store_label(store: Subscriber) -> str:
    """`123456 MAMA MBOGA SHOP`: the short agent number a customer sees at the counter, and name."""
    name = store.name.upper()[:STORE_NAME_SHOWN_CHARS].strip()
    return " ".join(part for part in (store.agent_number or store.msisdn, name) if part)


def float_reply_fields(ctx: CommandContext, move: Move, store_msisdn: str) -> dict[str, str]:
    """What every reply to an agent shows: the store's float after the move."""
    return {
        "ref": move.ref,
        "amount": ctx.money(move.amount_minor),
        "commission": ctx.money(move.commission_minor),
        "when": common.when(ctx.now_ns, ctx.config.money.timezone),
        "balance": ctx.money(common.available_minor(ctx.conn, wallet_account_id(store_msisdn))),
    }


def acting_store(ctx: CommandContext) -> Subscriber | Reply:
    """The store whose float the sender (a store or its assistant) acts on; a frozen one refused."""
    actor = ctx.subscriber
    assert actor is not None and actor.role in (Role.AGENT, Role.ASSISTANT)
    store = actor if actor.role is Role.AGENT else get_subscriber_txn(ctx.conn, actor.float_owner)
    if store is None or store.role is not Role.AGENT:
        raise common.MoneyRefused(f"assistant {actor.msisdn} has no agent store")
    if actor.frozen or store.frozen:
        return common.frozen_reply(ctx)
    return store


def _actor(ctx: CommandContext, payer_msisdn: str) -> str | None:
    return ctx.sender if ctx.sender != payer_msisdn else None


def _commit(
    ctx: CommandContext, request: MoveRequest, command: str, payer_account_id: int, needed: int
) -> tuple[Move, bool] | Reply:
    """Post the move, or hold it pending until the confirmation is delivered; (move, pending)."""
    on_delivery = common.money_env(ctx.config).posts_on_delivery(command)
    state = MoveState.PENDING if on_delivery else MoveState.POSTED
    currency = ctx.config.service.currency
    move = open_move_txn(ctx.conn, request, currency=currency, now_ns=ctx.now_ns, state=state)
    if not isinstance(move, Move):
        return common.ledger_reply(ctx, move, payer_account_id, needed)
    return move, on_delivery


def _tell_now(ctx: CommandContext, move: Move, on_delivery: bool) -> None:
    if not on_delivery:
        ctx.notifications.extend(posted_notices(notifier(ctx), move))


def commission_leg(store: Subscriber, commission_minor: int) -> list[Leg]:
    if not commission_minor:
        return []
    expense = int(SystemAccount.AGENT_COMMISSION)
    return [Leg(expense, store.account_id, commission_minor, TransferCode.COMMISSION)]


def fee_leg(payer_account_id: int, fee_minor: int) -> list[Leg]:
    if not fee_minor:
        return []
    return [Leg(payer_account_id, int(SystemAccount.FEE_INCOME), fee_minor, TransferCode.FEE)]


# --- DEPOSIT: cash in


def deposit(ctx: CommandContext, customer_msisdn: str, amount_minor: int) -> Reply:
    store = acting_store(ctx)
    if isinstance(store, Reply):
        return store
    # Held like the sender's row: the customer's limits are read and their balance checked.
    customer = load_subscribers_txn(ctx.conn, [customer_msisdn], lock=True).get(customer_msisdn)
    phone = common.display(ctx, customer_msisdn)
    if customer is None:
        return ctx.reply("deposit_not_registered", phone=phone)
    if customer.role is not Role.CUSTOMER or customer.frozen:
        return ctx.reply("recipient_cannot_receive", phone=phone)
    priced = _price_deposit(ctx, customer, amount_minor)
    if isinstance(priced, Reply):
        return priced
    fee, commission = priced
    legs = [
        Leg(store.account_id, customer.account_id, amount_minor, TransferCode.DEPOSIT),
        *fee_leg(customer.account_id, fee),
        *commission_leg(store, commission),
    ]
    request = MoveRequest(
        MoveKind.DEPOSIT, store.msisdn, customer.msisdn, amount_minor, legs, fee, commission,
        _actor(ctx, store.msisdn), ctx.inbox_id,
    )  # fmt: skip
    if (screened := screen_move(ctx, request)) is not None:
        return screened
    committed = _commit(ctx, request, DEPOSIT, store.account_id, amount_minor)
    if isinstance(committed, Reply):
        return committed
    move, on_delivery = committed
    _tell_now(ctx, move, on_delivery)
    fields = float_reply_fields(ctx, move, store.msisdn)
    text = ctx.text("deposit_done", name=common.short_name(customer), phone=phone, **fields)
    return common.confirmation(ctx, move, text, on_delivery)


def _price_deposit(
    ctx: CommandContext, customer: Subscriber, amount_minor: int
) -> tuple[int, int] | Reply:
    """(fee, commission) of a deposit within the customer's tier, or the refusal. Cash coming in
    counts against no daily limit: those are for money moved out."""
    tariff = common.money_env(ctx.config).tariff
    limits = tariff.limits(customer.kyc_tier)
    phone = common.display(ctx, customer.msisdn)
    refusal = check_amount(amount_minor, limits, tariff.minimum_minor(DEPOSIT))
    if refusal is not None and refusal.limit == "minimum":
        return common.limit_reply(ctx, refusal)
    if refusal is not None:
        allowed = ctx.money(refusal.allowed_minor)
        return ctx.reply("deposit_over_limit", phone=phone, allowed=allowed)
    balance_minor = common.available_minor(ctx.conn, customer.account_id)
    if check_balance_max(balance_minor, amount_minor, limits) is not None:
        # Not by how much: that would tell the agent the customer's balance.
        return ctx.reply("recipient_cannot_receive", phone=phone)
    try:
        return tariff.fee_minor(DEPOSIT, amount_minor), tariff.commission_minor(
            DEPOSIT, amount_minor
        )
    except NoBand:
        allowed = ctx.money(limits.per_transaction_max_minor)
        return ctx.reply("deposit_over_limit", phone=phone, allowed=allowed)


# --- WITHDRAW: cash out


def find_agent_txn(ctx: CommandContext, agent: AgentRef) -> Subscriber | None:
    """The agent store the customer named, by its phone number or its short agent number."""
    if agent.msisdn is not None:
        found = get_subscriber_txn(ctx.conn, agent.msisdn)
    else:
        query = select(subscribers.c.msisdn).where(subscribers.c.agent_number == agent.agent_number)
        msisdn = ctx.conn.execute(query).scalar()
        found = get_subscriber_txn(ctx.conn, msisdn) if msisdn is not None else None
    return found if found is not None and found.role is Role.AGENT else None


@dataclass(frozen=True, slots=True)
class _Withdrawal:
    customer: Subscriber
    store: Subscriber
    amount_minor: int
    fee_minor: int
    commission_minor: int

    def request(self, inbox_id: int | None) -> MoveRequest:
        payer = self.customer.account_id
        legs = [
            Leg(payer, self.store.account_id, self.amount_minor, TransferCode.WITHDRAWAL),
            *fee_leg(payer, self.fee_minor),
            *commission_leg(self.store, self.commission_minor),
        ]
        return MoveRequest(
            MoveKind.WITHDRAW, self.customer.msisdn, self.store.msisdn, self.amount_minor, legs,
            self.fee_minor, self.commission_minor, None, inbox_id,
        )  # fmt: skip


def _price_withdrawal(
    ctx: CommandContext, agent: AgentRef, amount_minor: int
) -> _Withdrawal | Reply:
    customer = ctx.subscriber
    assert customer is not None
    if customer.frozen:
        return common.frozen_reply(ctx)
    store = find_agent_txn(ctx, agent)
    if store is None:
        shown = agent.agent_number or common.display(ctx, agent.msisdn or "")
        return ctx.reply("agent_unknown", agent=shown)
    if store.frozen:
        return ctx.reply("agent_unavailable", agent=store_label(store))
    if (limited := common.payer_limits_reply(ctx, customer, WITHDRAW, amount_minor)) is not None:
        return limited
    tariff = common.money_env(ctx.config).tariff
    limits = tariff.limits(customer.kyc_tier)
    try:
        fee = tariff.fee_minor(WITHDRAW, amount_minor)
        commission = tariff.commission_minor(WITHDRAW, amount_minor)
    except NoBand:
        return ctx.reply(
            "limit_per_transaction", allowed=ctx.money(limits.per_transaction_max_minor)
        )
    return _Withdrawal(customer, store, amount_minor, fee, commission)


def withdraw(ctx: CommandContext, agent: AgentRef, amount_minor: int) -> Reply:
    priced = _price_withdrawal(ctx, agent, amount_minor)
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
    needed = priced.amount_minor + priced.fee_minor
    committed = _commit(
        ctx, priced.request(ctx.inbox_id), WITHDRAW, priced.customer.account_id, needed
    )
    if isinstance(committed, Reply):
        return committed
    move, on_delivery = committed
    record_usage_txn(ctx.conn, priced.customer.msisdn, common.today(ctx), amount_minor)
    return _withdrawn(ctx, priced, move, on_delivery)


def _withdrawn(ctx: CommandContext, priced: _Withdrawal, move: Move, on_delivery: bool) -> Reply:
    _tell_now(ctx, move, on_delivery)
    balance = common.available_minor(ctx.conn, priced.customer.account_id)
    text = ctx.text(
        "withdraw_done",
        ref=move.ref,
        amount=ctx.money(move.amount_minor),
        agent=store_label(priced.store),
        when=common.when(ctx.now_ns, ctx.config.money.timezone),
        fee=ctx.money(priced.fee_minor),
        balance=ctx.money(balance),
    )
    return common.confirmation(ctx, move, text, on_delivery)


def _ask(ctx: CommandContext, priced: _Withdrawal, code: str, minutes: int) -> Reply:
    return amount_otp.ask(
        ctx, "otp_withdraw_confirm", code, minutes, amount=ctx.money(priced.amount_minor),
        agent=store_label(priced.store), fee=ctx.money(priced.fee_minor),
    )  # fmt: skip


def _held_store(conn, config, move: Move) -> str:
    assert move.payee_msisdn is not None
    store = get_subscriber_txn(conn, move.payee_msisdn)
    return (
        store_label(store)
        if store is not None
        else common.display_number(config, move.payee_msisdn)
    )


def _tell_store_of_hold(notifier: Notifier, move: Move, ended: bool) -> list[OutgoingSms]:
    """The store of a withdrawal held for review: not to give cash (held), and that nothing will
    come (ended unpaid). Its usual "give cash" SMS comes if staff release it."""
    assert move.payer_msisdn is not None and move.payee_msisdn is not None
    key = "fraud_ended_agent" if ended else "fraud_held_agent"
    return [notifier.about(move.payee_msisdn, key, move, phone=notifier.display(move.payer_msisdn))]


@held.recommit(MoveKind.WITHDRAW, payee=_held_store, others=_tell_store_of_hold)
def _recommit_withdrawal(ctx: CommandContext, move: Move) -> Reply:
    """A held withdrawal quoted again and made now, or the refusal (left held)."""
    assert move.payee_msisdn is not None
    priced = _price_withdrawal(ctx, AgentRef(msisdn=move.payee_msisdn), move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = held.paid_state(ctx, WITHDRAW)
    requoted = priced.request(move.inbox_id)
    reserved = held.reserve_txn(ctx, move, requoted, state, priced.customer.account_id)
    if isinstance(reserved, Reply):
        return reserved
    return _withdrawn(ctx, priced, reserved, state is MoveState.PENDING)


# --- COLLECT: a voucher paid out as cash


def collect(ctx: CommandContext, code: str, recipient_msisdn: str) -> Reply:
    store = acting_store(ctx)
    if isinstance(store, Reply):
        return store
    assert ctx.hasher is not None
    phone = common.display(ctx, recipient_msisdn)
    policy = PinPolicy.from_config(ctx.config.security)
    locked_until_ns = guard_locked_until_txn(ctx.conn, recipient_msisdn, COLLECT_GUARD, ctx.now_ns)
    if not locked_until_ns:
        found = open_vouchers_for_txn(ctx.conn, recipient_msisdn)
        voucher = next((v for v in found if code_matches(ctx.hasher, v, code)), None)
        if voucher is not None:
            delete_code_txn(ctx.conn, recipient_msisdn, COLLECT_GUARD)
            return _pay_out(ctx, store, voucher)
        # One answer for "no voucher" and "wrong code", each counted: a counter learns nothing.
        guess = count_guard_failure_txn(
            ctx.conn, recipient_msisdn, COLLECT_GUARD, policy, ctx.now_ns
        )
        if not guess.locked_until_ns:
            return ctx.reply("collect_wrong_code", phone=phone, remaining=guess.remaining)
        locked_until_ns = guess.locked_until_ns
    minutes = max(1, math.ceil((locked_until_ns - ctx.now_ns) / (60 * NS_PER_S)))
    return ctx.reply("collect_locked", phone=phone, minutes=minutes)


def _pay_out(ctx: CommandContext, store: Subscriber, voucher: Voucher) -> Reply:
    tariff = common.money_env(ctx.config).tariff
    amount = voucher.amount_minor
    fee = tariff.fee_minor(COLLECT, amount)  # out of the voucher: the cash handed over is less
    commission = tariff.commission_minor(COLLECT, amount)
    suspense = int(SystemAccount.VOUCHER_SUSPENSE)
    legs = [
        Leg(suspense, store.account_id, amount - fee, TransferCode.WITHDRAWAL),
        *fee_leg(suspense, fee),
        *commission_leg(store, commission),
    ]
    request = MoveRequest(
        MoveKind.COLLECT, voucher.recipient_msisdn, store.msisdn, amount, legs, fee, commission,
        _actor(ctx, store.msisdn), ctx.inbox_id,
    )  # fmt: skip
    committed = _commit(ctx, request, COLLECT, suspense, amount)
    if isinstance(committed, Reply):  # suspense holds every open voucher: corrupt data
        raise common.MoneyRefused(f"voucher {voucher.id}: the suspense account refused it")
    move, on_delivery = committed
    close_voucher_txn(ctx.conn, voucher, VoucherState.COLLECTED, ctx.now_ns, move.id)
    _tell_now(ctx, move, on_delivery)
    fields = float_reply_fields(ctx, move, store.msisdn)
    text = ctx.text(
        "collect_done",
        cash=ctx.money(amount - fee),
        phone=common.display(ctx, voucher.recipient_msisdn),
        **fields,
    )
    return common.confirmation(ctx, move, text, on_delivery)
