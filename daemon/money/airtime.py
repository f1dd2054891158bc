"""BUY <amount> [phone]: airtime bought from a provider, for the buyer's own number or any other.

The BUY reserves the amount (and the fee, free by default) as a pending AIRTIME move to the airtime
settlement account and records an order in the same transaction; the reply says it is being bought.
The provider decides the rest, not the SMS receipt: the reply has no settle hook (daemon.money.settle
never touches the move), and the worker (daemon.money.airtime_worker) posts or voids it once the
provider has answered, and tells the buyer (and the recipient, when another number). From a USSD
menu the order first waits for the final screen (daemon.money.airtime_screen): no debit without
the last screen; the reply carries the hook that sends or cancels it.

Above [security] otp_amount_above_minor the purchase waits HELD for YES <one-time password>
(daemon.security.amount_otp); a fraud rule's hit holds it for staff. Either is committed by
`_recommit` (daemon.money.held): the recipient read back from the move's detail, the purchase
quoted again, then reserved and ordered exactly as BUY orders it.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from daemon.chart import SystemAccount, TransferCode
from daemon.commands.context import CommandContext, Reply
from daemon.commands.msisdn import normalize_msisdn
from daemon.config import Config
from daemon.money import common, held
from daemon.money.account import other_parties
from daemon.money.airtime_orders import create_order_txn
from daemon.money.airtime_screen import HOOK as SCREEN_HOOK
from daemon.money.limits import record_usage_txn
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, MoveState, open_move_txn
from daemon.money.notices import numbering
from daemon.money.tariff import NoBand
from daemon.schema import airtime_orders
from daemon.security import amount_otp
from daemon.security.fraud import Channel
from daemon.security.fraud_holds import screen_move

COMMAND = "BUY"
_DETAIL_PREFIX = "airtime "


def buy(ctx: CommandContext, amount_minor: int, msisdn: str | None) -> Reply:
    assert ctx.subscriber is not None
    recipient = msisdn or ctx.subscriber.msisdn
    request = quote(ctx, amount_minor, recipient)
    if isinstance(request, Reply):
        return request
    if (screened := screen_move(ctx, request)) is not None:
        return screened
    if amount_otp.applies(ctx, amount_minor):
        return amount_otp.hold_txn(
            ctx, request, lambda code, minutes: _ask(ctx, request, recipient, code, minutes)
        )
    move = open_move_txn(
        ctx.conn,
        request,
        currency=ctx.config.service.currency,
        now_ns=ctx.now_ns,
        state=MoveState.PENDING,
    )
    if not isinstance(move, Move):
        total = amount_minor + request.fee_minor
        return common.ledger_reply(ctx, move, ctx.subscriber.account_id, total)
    record_usage_txn(ctx.conn, ctx.subscriber.msisdn, common.today(ctx), amount_minor)
    return _ordered(ctx, move, recipient, ctx.inbox_id)


def quote(ctx: CommandContext, amount_minor: int, recipient: str) -> MoveRequest | Reply:
    """The purchase priced and checked against every rule, or the reply refusing it."""
    payer = ctx.subscriber
    assert payer is not None
    if not ctx.config.airtime.enabled:
        return ctx.reply("airtime_unavailable")
    if payer.frozen:
        return common.frozen_reply(ctx)
    if (limited := common.payer_limits_reply(ctx, payer, COMMAND, amount_minor)) is not None:
        return limited
    env = common.money_env(ctx.config)
    try:
        fee_minor = env.tariff.fee_minor(COMMAND, amount_minor)
    except NoBand as exc:
        return ctx.reply("limit_per_transaction", allowed=ctx.money(exc.highest_minor))
    return _request(ctx, payer.account_id, recipient, amount_minor, fee_minor)


def _ordered(ctx: CommandContext, move: Move, recipient: str, inbox_id: int | None) -> Reply:
    """The pending move's order recorded (the worker asks the provider; from USSD, once the reply
    reached the network); the buyer's reply."""
    assert move.payer_msisdn is not None
    on_screen = ctx.channel == Channel.USSD
    create_order_txn(
        ctx.conn, move.id, move.ref, move.payer_msisdn, recipient, move.amount_minor, inbox_id,
        ctx.now_ns, awaiting_screen=on_screen,
    )  # fmt: skip
    phone = common.display(ctx, recipient)
    text = ctx.text(
        "airtime_buying", amount=ctx.money(move.amount_minor), phone=phone, ref=move.ref
    )
    if not on_screen:
        return Reply(text)
    deadline_ns = ctx.now_ns + common.money_env(ctx.config).rollback_timeout_ns
    return Reply(text, on_failure=SCREEN_HOOK, on_failure_ref=move.id, deliver_by_ns=deadline_ns)


def _ask(
    ctx: CommandContext, request: MoveRequest, recipient: str, code: str, minutes: int
) -> Reply:
    return amount_otp.ask(ctx, "otp_buy_confirm", code, minutes, amount=ctx.money(request.amount_minor),
                          phone=common.display(ctx, recipient), fee=ctx.money(request.fee_minor))  # fmt: skip


def recipient_of(config: Config, move: Move) -> str:
    """The number a held purchase is for, read back from its detail ("airtime 0712 345678")."""
    assert move.detail is not None
    shown = move.detail.removeprefix(_DETAIL_PREFIX)
    return normalize_msisdn(shown, numbering(config.service.region))


@held.recommit(MoveKind.AIRTIME, payee=lambda conn, config, move: move.detail or "")
def _recommit(ctx: CommandContext, move: Move) -> Reply:
    """A held purchase quoted again and ordered now (as BUY orders it), or the refusal (left held)."""
    recipient = recipient_of(ctx.config, move)
    request = quote(ctx, move.amount_minor, recipient)
    if isinstance(request, Reply):
        return request
    assert ctx.subscriber is not None
    reserved = held.reserve_txn(ctx, move, request, MoveState.PENDING, ctx.subscriber.account_id)
    if isinstance(reserved, Reply):
        return reserved
    return _ordered(ctx, reserved, recipient, move.inbox_id)


def _request(
    ctx: CommandContext, payer_account: int, recipient: str, amount_minor: int, fee_minor: int
) -> MoveRequest:
    assert ctx.subscriber is not None
    settlement = int(SystemAccount.AIRTIME_SETTLEMENT)
    legs = [Leg(payer_account, settlement, amount_minor, TransferCode.AIRTIME)]
    if fee_minor:
        legs.append(Leg(payer_account, int(SystemAccount.FEE_INCOME), fee_minor, TransferCode.FEE))
    return MoveRequest(
        MoveKind.AIRTIME,
        ctx.subscriber.msisdn,
        None,  # the payee is the provider: VERIFY and MINI show `detail`
        amount_minor,
        legs,
        fee_minor=fee_minor,
        inbox_id=ctx.inbox_id,
        detail=f"{_DETAIL_PREFIX}{common.display(ctx, recipient)}",
    )


@other_parties(MoveKind.AIRTIME.value)
def _recipient(conn: Connection, move: Move) -> set[str]:
    """The number the airtime was for: told of it, so VERIFY answers it too."""
    found = conn.execute(
        select(airtime_orders.c.recipient_msisdn).where(airtime_orders.c.move_id == move.id)
    ).scalar()
    return {found} if found else set()
