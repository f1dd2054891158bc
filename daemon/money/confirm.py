"""YES <code> and NO <code>: the answer to a held SEND (a repeat of a recent one, or one above the
confirmation threshold, or one above the OTP threshold whose code is an OTP: daemon.security.
amount_otp), or to a PAY, TILL, BUY or WITHDRAW above the OTP threshold (held with nothing
reserved, committed at YES by its kind's re-commit: daemon.money.held). Only the sender's own held
moves are searched, by their code's digest.

A held move whose OTP was right but which its flow's rules refuse now (the money was spent
meanwhile) ends there, declined: its code is used, so it could never be confirmed again."""

from __future__ import annotations

from dataclasses import replace

from daemon.commands.context import CommandContext, Reply
from daemon.config import Config
from daemon.money import common, held, pay_requests, send
from daemon.money.moves import (
    Move,
    MoveKind,
    MoveState,
    mark_pending_txn,
    open_moves_of_txn,
    post_move_txn,
)
from daemon.money.payment_types import RequestTarget
from daemon.security import amount_otp
from daemon.subscribers import get_subscriber_txn

_PURPOSES = {
    MoveState.HELD: (send.DOUBLE_PURPOSE, amount_otp.PURPOSE),
    MoveState.CONFIRMING: (send.CONFIRM_PURPOSE, amount_otp.PURPOSE),
}


def find_held(ctx: CommandContext, code: str) -> tuple[Move, str] | None:
    """The sender's held or confirming move with this code, still in time, and the code's purpose."""
    assert ctx.subscriber is not None and ctx.hasher is not None
    msisdn = ctx.subscriber.msisdn
    since_ns = ctx.now_ns - amount_otp.window_ns(ctx)
    for move in open_moves_of_txn(ctx.conn, msisdn, tuple(_PURPOSES), since_ns):
        in_time = move.expires_at_ns is None or move.expires_at_ns >= ctx.now_ns
        if not (in_time and move.code_hmac):
            continue
        for purpose in _PURPOSES[move.state]:
            if common.code_matches(ctx.hasher, purpose, msisdn, code, move.code_hmac):
                return move, purpose
    return None


def yes(ctx: CommandContext, code: str) -> Reply:
    found = find_held(ctx, code)
    if found is None or found[1] == amount_otp.PURPOSE:  # a wrong code counts against an OTP
        refused = amount_otp.check_txn(ctx, code, found[0] if found else None)
        if refused is not None:
            return refused
    if found is None:
        return ctx.reply("no_such_code")
    move = found[0]
    on_delivery = common.money_env(ctx.config).posts_on_delivery(send.COMMAND)
    currency = ctx.config.service.currency
    if move.state is MoveState.CONFIRMING:  # the money is reserved already
        if on_delivery:
            move = mark_pending_txn(ctx.conn, move, ctx.now_ns)
        else:
            move = post_move_txn(ctx.conn, move, currency, ctx.now_ns)
        return send.committed(ctx, move, on_delivery)
    if found[1] == amount_otp.PURPOSE:
        return _commit_otp_held(ctx, move)
    return commit_held(ctx, move)


def _commit_otp_held(ctx: CommandContext, move: Move) -> Reply:
    reply = held.commit_held(ctx, move)
    if not held.still_held(ctx.conn, move):
        return reply
    common.release_txn(ctx.conn, move, MoveState.DECLINED, ctx.config, ctx.now_ns)
    return replace(reply, refused=False)  # something was done: the move ended; a repeat gets this


def _send_payee(conn, config: Config, move: Move) -> str:
    assert move.payee_msisdn is not None
    name = common.short_name(get_subscriber_txn(conn, move.payee_msisdn))
    return f"{name} {common.display_number(config, move.payee_msisdn)}".strip()


@held.recommit(MoveKind.SEND, MoveKind.VOUCHER, payee=_send_payee)
def commit_held(ctx: CommandContext, move: Move) -> Reply:
    """A HELD SEND (nothing reserved: a repeat confirmed by YES, or one staff released from
    fraud review) committed now, every rule checked again; or the reply refusing it, the move
    left HELD."""
    assert move.payee_msisdn is not None
    priced = send.quote(ctx, move.payee_msisdn, move.amount_minor)
    if isinstance(priced, Reply):
        return priced
    state = held.paid_state(ctx, send.COMMAND)
    reserved = held.reserve_txn(ctx, move, priced.request(None), state, priced.payer.account_id)
    if not isinstance(reserved, Move):
        return reserved
    return send.committed(ctx, reserved, state is MoveState.PENDING)


def no(ctx: CommandContext, code: str | RequestTarget) -> Reply:
    """NO to a held SEND (its digits), or to a request to pay (its code, R4821)."""
    if isinstance(code, RequestTarget):
        return pay_requests.refuse(ctx, code.code)
    found = find_held(ctx, code)
    if found is None:
        return ctx.reply("no_such_code")
    move, purpose = found
    if purpose == amount_otp.PURPOSE:
        amount_otp.withdraw_txn(ctx.conn, move.payer_msisdn or "", move.code_hmac or b"")
    common.release_txn(ctx.conn, move, MoveState.DECLINED, ctx.config, ctx.now_ns)
    return ctx.reply("send_declined", amount=ctx.money(move.amount_minor), ref=move.ref)
