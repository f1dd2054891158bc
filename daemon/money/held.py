"""Held moves committed later: the per-kind re-commit registry.

A move is HELD (nothing reserved) while it waits for someone: the payer's YES <one-time password>
(a PAY, TILL, BUY or WITHDRAW above [security] otp_amount_above_minor: daemon.security.amount_otp),
or staff (a fraud rule's hit: daemon.security.fraud_holds, daemon.security.review). When the answer
comes, the move is committed by its kind's re-commit, declared here with `@recommit(MoveKind.X)`: it
re-quotes the move from what the move stored (payer, payee, amount, detail), checks every rule of
its flow again as of now, and commits it as the flow's own path does (posted, or pending its
confirmation's delivery; an airtime order made; a request to pay linked), returning the payer's
reply. If a rule refuses it now (the money was spent meanwhile, the till was suspended), the
refusal is returned and the move is left HELD: the caller decides (YES ends it, its code being
used; staff keep the hold and hear why).

A kind with no re-commit cannot be held: a fraud hit refuses it at once (DEPOSIT, whose reason is
in daemon.security.fraud_holds). Several re-commits may serve one kind, told apart by `when` (a
SEND or TILL paying a request to pay, daemon.money.pay_requests); the one without `when` is the
kind's default and names the payee.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from daemon.commands.context import CommandContext, Reply
from daemon.config import Config
from daemon.money import common
from daemon.money.limits import record_usage_txn
from daemon.money.moves import (
    Move,
    MoveError,
    MoveKind,
    MoveRequest,
    MoveState,
    get_move_txn,
    reserve_held_txn,
)
from daemon.money.notices import Notifier
from daemon.outbox import OutgoingSms

Commit = Callable[[CommandContext, Move], Reply]
PayeeLabel = Callable[[Connection, Config, Move], str]
# Who else hears of a held move (the agent of a held WITHDRAW): (notifier, move, ended) -> SMS;
# `ended` False when it is held, True when it ends unpaid (rejected, expired).
Others = Callable[[Notifier, Move, bool], list[OutgoingSms]]
# Only a SEND makes HELD moves of its own that wait for a YES code (a repeat, which has no detail):
# any other HELD move with an expiry waits for its one-time password (a SEND paying a request names
# the request in its detail).
_REPEATS = frozenset({MoveKind.SEND, MoveKind.VOUCHER})


@dataclass(frozen=True, slots=True)
class Recommit:
    commit: Commit
    payee: PayeeLabel | None = None
    when: Callable[[Move], bool] | None = None
    others: Others | None = None


_RECOMMITS: dict[MoveKind, list[Recommit]] = {}


def recommit(
    *kinds: MoveKind,
    payee: PayeeLabel | None = None,
    when: Callable[[Move], bool] | None = None,
    others: Others | None = None,
) -> Callable[[Commit], Commit]:
    """Declare `commit` the re-commit of a held move of `kinds` (see the module docstring)."""

    def add(commit: Commit) -> Commit:
        for kind in kinds:
            entries = _RECOMMITS.setdefault(kind, [])
            if when is None and any(entry.when is None for entry in entries):
                raise ValueError(f"a default re-commit of {kind.value} is already declared")
            entry = Recommit(commit, payee, when, others)
            entries.insert(len(entries) if when is None else 0, entry)  # conditional ones first
        return commit

    return add


def _load() -> None:
    # The flows declare their re-commits on import; imported here, as they import this module.
    from daemon.money import agents, airtime, bills, confirm, pay_requests, tills  # noqa: F401


def _entries(kind: MoveKind) -> list[Recommit]:
    _load()
    return _RECOMMITS.get(kind, [])


def _default(kind: MoveKind) -> Recommit | None:
    return next((entry for entry in _entries(kind) if entry.when is None), None)


def holdable(kind: MoveKind) -> bool:
    """Whether a move of `kind` can wait HELD (it has a re-commit)."""
    return _default(kind) is not None


def commit_held(ctx: CommandContext, move: Move) -> Reply:
    """The HELD `move` committed now by its kind's re-commit, or the refusal (the move left HELD)."""
    for entry in _entries(move.kind):
        if entry.when is None or entry.when(move):
            return entry.commit(ctx, move)
    raise MoveError(f"move {move.ref}: no re-commit for {move.kind.value}")


def payee_label(conn: Connection, config: Config, move: Move) -> str:
    """Who or what the held move pays, as the payer's SMS name it: `JANE W. 0712 345678`,
    `KPLC 12345678`, `MAMA MBOGA 123456`, `airtime 0712 345678`, `123456 MAMA MBOGA SHOP`."""
    entry = _default(move.kind)
    if entry is not None and entry.payee is not None:
        return entry.payee(conn, config, move)
    if move.payee_msisdn is not None:
        return common.display_number(config, move.payee_msisdn)
    return move.detail or ""


def other_notices(notifier: Notifier, move: Move, ended: bool) -> list[OutgoingSms]:
    entry = _default(move.kind)
    if entry is None or entry.others is None:
        return []
    return entry.others(notifier, move, ended)


def still_held(conn: Connection, move: Move) -> bool:
    return get_move_txn(conn, move.id).state is MoveState.HELD


def waits_for_otp(move: Move) -> bool:
    """A HELD move waiting for its one-time password (see _REPEATS)."""
    return (
        move.state is MoveState.HELD
        and move.expires_at_ns is not None
        and (move.kind not in _REPEATS or move.detail is not None)
    )


def reserve_txn(
    ctx: CommandContext, move: Move, requoted: MoveRequest, state: MoveState, payer_account_id: int
) -> Move | Reply:
    """The HELD move's legs as re-quoted, reserved now (PENDING) or posted (POSTED), its use of the
    payer's daily limits recorded; or the refusal, the move left HELD. A re-quote whose price
    differs from the move's (the tariff changed meanwhile) is refused: the payer agreed to the
    old one, and the move's legs are counted by the old one."""
    same = (
        len(requoted.legs) == move.legs
        and requoted.amount_minor == move.amount_minor
        and requoted.fee_minor == move.fee_minor
        and requoted.commission_minor == move.commission_minor
    )
    if not same:
        return ctx.refuse("held_price_changed", ref=move.ref, amount=ctx.money(move.amount_minor))
    currency = ctx.config.service.currency
    reserved = reserve_held_txn(ctx.conn, move, requoted.legs, currency, ctx.now_ns, state)
    if not isinstance(reserved, Move):
        needed = move.amount_minor + move.fee_minor
        return common.ledger_reply(ctx, reserved, payer_account_id, needed)
    assert move.payer_msisdn is not None
    record_usage_txn(ctx.conn, move.payer_msisdn, common.today(ctx), move.amount_minor)
    return reserved


def paid_state(ctx: CommandContext, command: str) -> MoveState:
    """POSTED, or PENDING when `command` posts on its confirmation's delivery."""
    on_delivery = common.money_env(ctx.config).posts_on_delivery(command)
    return MoveState.PENDING if on_delivery else MoveState.POSTED
