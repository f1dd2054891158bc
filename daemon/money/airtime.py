"""BUY <amount> [phone]: airtime bought from a provider, for the buyer's own number or any other.

The BUY reserves the amount (and the fee, free by default) as a pending AIRTIME move to the airtime
settlement account and records an order in the same transaction; the reply says it is being bought.
The provider decides the rest, not the SMS receipt: the reply has no settle hook (daemon.money.settle
never touches the move), and the worker (daemon.money.airtime_worker) posts or voids it once the
provider has answered, and tells the buyer (and the recipient, when another number).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from daemon.chart import SystemAccount, TransferCode
from daemon.commands.context import CommandContext, Reply
from daemon.money import common
from daemon.money.account import other_parties
from daemon.money.airtime_orders import create_order_txn
from daemon.money.limits import record_usage_txn
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, MoveState, open_move_txn
from daemon.money.tariff import NoBand
from daemon.schema import airtime_orders
from daemon.security.fraud_holds import screen_move

COMMAND = "BUY"


def buy(ctx: CommandContext, amount_minor: int, msisdn: str | None) -> Reply:
    payer = ctx.subscriber
    assert payer is not None
    if not ctx.config.airtime.enabled:
        return ctx.reply("airtime_unavailable")
    if payer.frozen:
        return common.frozen_reply(ctx)
    recipient = msisdn or payer.msisdn
    if (limited := common.payer_limits_reply(ctx, payer, COMMAND, amount_minor)) is not None:
        return limited
    env = common.money_env(ctx.config)
    try:
        fee_minor = env.tariff.fee_minor(COMMAND, amount_minor)
    except NoBand as exc:
        return ctx.reply("limit_per_transaction", allowed=ctx.money(exc.highest_minor))
    request = _request(ctx, payer.account_id, recipient, amount_minor, fee_minor)
    if (screened := screen_move(ctx, request)) is not None:
        return screened
    move = open_move_txn(
        ctx.conn,
        request,
        currency=ctx.config.service.currency,
        now_ns=ctx.now_ns,
        state=MoveState.PENDING,
    )
    if not isinstance(move, Move):
        return common.ledger_reply(ctx, move, payer.account_id, amount_minor + fee_minor)
    record_usage_txn(ctx.conn, payer.msisdn, common.today(ctx), amount_minor)
    create_order_txn(
        ctx.conn, move.id, move.ref, payer.msisdn, recipient, amount_minor, ctx.inbox_id, ctx.now_ns
    )
    phone = common.display(ctx, recipient)
    return ctx.reply("airtime_buying", amount=ctx.money(amount_minor), phone=phone, ref=move.ref)


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
        detail=f"airtime {common.display(ctx, recipient)}",
    )


@other_parties(MoveKind.AIRTIME.value)
def _recipient(conn: Connection, move: Move) -> set[str]:
    """The number the airtime was for: told of it, so VERIFY answers it too."""
    found = conn.execute(
        select(airtime_orders.c.recipient_msisdn).where(airtime_orders.c.move_id == move.id)
    ).scalar()
    return {found} if found else set()
