"""The one-time password a money command above `[security] otp_amount_above_minor` waits for.

A SEND is held CONFIRMING like one above `[money] confirm_above_minor` (daemon.money.send, the
money reserved). PAY (a bill or a request), TILL, BUY and WITHDRAW are held HELD, nothing reserved
(`hold_txn`): at YES they are re-quoted and committed by their kind's re-commit
(daemon.money.held), the one path that also commits a move staff release from fraud review, so
every rule of the flow (the bill still due, the till active, the request open, the funds) is
checked when the money moves, and nothing is reserved against a bill or a request the payer may
yet decline. Either way the YES code is an OTP from daemon.security.otp_codes (purpose "amount",
`otp_digits` long, expiring after `otp_ttl_s`, and the move with it): a spoofed sender never sees
it, and guessing it is counted and locked.

DEPOSIT asks for no OTP: its payer is the agent's own float, given for cash the agent already holds
at the counter, from the store's own phone with the store's PIN; the spoofed-sender risk the OTP
answers is a customer's wallet emptied from afar, and a deposit's own risk (splitting cash to farm
commission) is the deposit_splitting rule's. The move's code digest is the OTP row's own digest, so the move waiting for the
live OTP is found without the code (to release it when wrong codes lock the purpose), and a code
replaced by a newer one confirms nothing. One such SEND waits at a time: a second is refused until
the first is answered or expires (a new OTP would silently void the first one's code).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, update

from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.money import common, held
from daemon.money.moves import (
    Move,
    MoveKind,
    MoveRequest,
    MoveState,
    open_move_txn,
    open_moves_of_txn,
)
from daemon.money.one_time import get_code_txn
from daemon.schema import one_time_codes
from daemon.security.otp_codes import (
    OtpLocked,
    OtpOutcome,
    OtpPolicy,
    OtpPurpose,
    check_otp_txn,
    issue_otp_txn,
    needs_amount_otp,
    stored_purpose,
)

PURPOSE = stored_purpose(OtpPurpose.AMOUNT)  # the move's digest is bound to it, as the OTP row's


def applies(ctx: CommandContext, amount_minor: int) -> bool:
    return needs_amount_otp(amount_minor, ctx.config.security)


def policy(ctx: CommandContext) -> OtpPolicy:
    return OtpPolicy.from_config(ctx.config.security)


def minutes(ctx: CommandContext) -> int:
    return max(1, round(ctx.config.security.otp_ttl_s / 60))


def minutes_until(ns: int, now_ns: int) -> int:
    """Whole minutes, at least 1, until `ns`: how a lockout's end is told."""
    return max(1, -(-(ns - now_ns) // (60 * NS_PER_S)))


def window_ns(ctx: CommandContext) -> int:
    """How far back a move waiting for YES may have been made: the longer of the two waits."""
    longest_s = max(ctx.config.money.confirm_timeout_s, ctx.config.security.otp_ttl_s)
    return int(longest_s * NS_PER_S)


def issue_txn(ctx: CommandContext, msisdn: str) -> str | Reply:
    """A new OTP for a SEND from `msisdn`, or the reply refusing to ask for one now."""
    assert ctx.hasher is not None
    if waiting_move_txn(ctx, msisdn) is not None:
        return ctx.reply("otp_waiting", minutes=minutes(ctx))
    try:
        return issue_otp_txn(
            ctx.conn, ctx.hasher, msisdn, OtpPurpose.AMOUNT, policy(ctx), ctx.now_ns
        )
    except OtpLocked as exc:
        return ctx.reply("otp_locked", minutes=minutes_until(exc.locked_until_ns, ctx.now_ns))


def withdraw_txn(conn: Connection, msisdn: str, digest: bytes) -> None:
    """The OTP with this digest is good no more (its SEND was refused or declined); the count of
    wrong codes stays (a refused SEND must not be a way to reset it)."""
    c = one_time_codes.c
    conn.execute(
        update(one_time_codes)
        .where(c.msisdn == msisdn, c.purpose == PURPOSE, c.code_hmac == digest)
        .values(code_hmac=b"")
    )


def waiting_move_txn(ctx: CommandContext, msisdn: str) -> Move | None:
    """The sender's move (CONFIRMING, or HELD) waiting for the live OTP, if any."""
    row = get_code_txn(ctx.conn, msisdn, PURPOSE)
    if row is None or not row.code_hmac or row.expires_at_ns <= ctx.now_ns:
        return None
    since_ns = ctx.now_ns - window_ns(ctx)
    states = (MoveState.CONFIRMING, MoveState.HELD)
    moves = open_moves_of_txn(ctx.conn, msisdn, states, since_ns)
    return next((move for move in moves if move.code_hmac == row.code_hmac), None)


def check_txn(ctx: CommandContext, code: str, move: Move | None) -> Reply | None:
    """YES `code`, for `move` (one whose digest it matched under PURPOSE) or for none: None if the
    OTP was right (the caller posts the move), or if no OTP is in play and no move matched (the
    caller says so); otherwise the reply: wrong (counted), locked (the waiting SEND released and
    the sender told), or a code no longer good."""
    assert ctx.subscriber is not None and ctx.hasher is not None
    msisdn = ctx.subscriber.msisdn
    waiting = move or waiting_move_txn(ctx, msisdn)  # before the check: a lock empties the row
    if waiting is None:
        return None
    check = check_otp_txn(
        ctx.conn, ctx.hasher, msisdn, OtpPurpose.AMOUNT, code, policy(ctx), ctx.now_ns
    )
    if check.outcome is OtpOutcome.OK:
        return None if move is not None else ctx.reply("no_such_code")
    if check.outcome is OtpOutcome.WRONG:
        return ctx.reply("otp_wrong", remaining=check.remaining)
    if check.outcome is OtpOutcome.LOCKED:
        common.release_txn(ctx.conn, waiting, MoveState.VOIDED, ctx.config, ctx.now_ns)
        return ctx.reply(
            "otp_locked_released",
            ref=waiting.ref,
            amount=ctx.money(waiting.amount_minor),
            phone=_payee(ctx, waiting),
            minutes=minutes_until(check.locked_until_ns, ctx.now_ns),
        )
    return ctx.reply("no_such_code")  # expired, used, replaced


def _payee(ctx: CommandContext, move: Move) -> str:
    if move.kind in (MoveKind.SEND, MoveKind.VOUCHER) and move.payee_msisdn is not None:
        return common.display(ctx, move.payee_msisdn)
    return held.payee_label(ctx.conn, ctx.config, move)


# --- PAY, TILL, BUY, WITHDRAW: held with nothing reserved

Question = Callable[[str, int], Reply]  # (the OTP, minutes it is good for) -> the question


def hold_txn(ctx: CommandContext, request: MoveRequest, question: Question) -> Reply:
    """`request` recorded HELD, nothing reserved, its YES code a new OTP and expiring with it;
    the reply asking for YES <otp> (`question`), or the refusal to ask for one now."""
    assert ctx.hasher is not None and request.payer_msisdn is not None
    code = issue_txn(ctx, request.payer_msisdn)
    if isinstance(code, Reply):
        return code
    ttl_ns = int(ctx.config.security.otp_ttl_s * NS_PER_S)
    move = open_move_txn(
        ctx.conn, request, currency=ctx.config.service.currency, now_ns=ctx.now_ns,
        state=MoveState.HELD, expires_at_ns=ctx.now_ns + ttl_ns,
        code_hmac=common.code_digest(ctx.hasher, PURPOSE, request.payer_msisdn, code),
    )  # fmt: skip
    assert isinstance(move, Move)  # HELD reserves nothing: the ledger is not asked
    return question(code, minutes(ctx))


def ask(ctx: CommandContext, key: str, code: str, minutes: int, **fields: object) -> Reply:
    """The question of a held move: `key` with the OTP and its minutes, and `fields`."""
    return Reply(ctx.text(key, code=code, minutes=minutes, **fields), holds_code=True)
