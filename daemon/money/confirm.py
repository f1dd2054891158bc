"""YES <code> and NO <code>: the answer to a held SEND (a repeat of a recent one, or one above the
confirmation threshold). Only the sender's own held moves are searched, by their code's digest."""

from __future__ import annotations

from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.money import common, pay_requests, send
from daemon.money.limits import record_usage_txn
from daemon.money.moves import (
    Move,
    MoveState,
    mark_pending_txn,
    open_moves_of_txn,
    post_move_txn,
    reserve_held_txn,
)
from daemon.money.payment_types import RequestTarget

_PURPOSE = {MoveState.HELD: send.DOUBLE_PURPOSE, MoveState.CONFIRMING: send.CONFIRM_PURPOSE}


def find_held(ctx: CommandContext, code: str) -> Move | None:
    """The sender's held or confirming move with this code, still in time."""
    assert ctx.subscriber is not None and ctx.hasher is not None
    timeout_ns = int(ctx.config.money.confirm_timeout_s * NS_PER_S)
    candidates = open_moves_of_txn(
        ctx.conn, ctx.subscriber.msisdn, tuple(_PURPOSE), ctx.now_ns - timeout_ns
    )
    for move in candidates:
        in_time = move.expires_at_ns is None or move.expires_at_ns >= ctx.now_ns
        purpose = _PURPOSE[move.state]
        if (
            in_time
            and move.code_hmac
            and common.code_matches(
                ctx.hasher, purpose, ctx.subscriber.msisdn, code, move.code_hmac
            )
        ):
            return move
    return None


def yes(ctx: CommandContext, code: str) -> Reply:
    move = find_held(ctx, code)
    if move is None:
        return ctx.reply("no_such_code")
    on_delivery = common.money_env(ctx.config).posts_on_delivery(send.COMMAND)
    currency = ctx.config.service.currency
    if move.state is MoveState.CONFIRMING:  # the money is reserved already
        if on_delivery:
            move = mark_pending_txn(ctx.conn, move, ctx.now_ns)
        else:
            move = post_move_txn(ctx.conn, move, currency, ctx.now_ns)
        return send.committed(ctx, move, on_delivery)
    return commit_held(ctx, move)


def commit_held(ctx: CommandContext, move: Move) -> Reply:
    """A HELD SEND (nothing reserved: a repeat confirmed by YES, or one staff released from
    fraud review) committed now, every rule checked again; or the reply refusing it, the move
    left HELD."""
    assert move.payee_msisdn is not None
    on_delivery = common.money_env(ctx.config).posts_on_delivery(send.COMMAND)
    currency = ctx.config.service.currency
    priced = send.quote(ctx, move.payee_msisdn, move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = MoveState.PENDING if on_delivery else MoveState.POSTED
    reserved = reserve_held_txn(ctx.conn, move, priced.legs(), currency, ctx.now_ns, state)
    if not isinstance(reserved, Move):
        return common.ledger_reply(ctx, reserved, priced.payer.account_id, priced.total_minor)
    record_usage_txn(ctx.conn, priced.payer.msisdn, common.today(ctx), priced.amount_minor)
    return send.committed(ctx, reserved, on_delivery)


def no(ctx: CommandContext, code: str | RequestTarget) -> Reply:
    """NO to a held SEND (its digits), or to a request to pay (its code, R4821)."""
    if isinstance(code, RequestTarget):
        return pay_requests.refuse(ctx, code.code)
    move = find_held(ctx, code)
    if move is None:
        return ctx.reply("no_such_code")
    common.release_txn(ctx.conn, move, MoveState.DECLINED, ctx.config, ctx.now_ns)
    return ctx.reply("send_declined", amount=ctx.money(move.amount_minor), ref=move.ref)
