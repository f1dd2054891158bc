"""MINI (the last transactions), VERIFY (is this confirmation genuine?) and LANG."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, update

from daemon import replies
from daemon.commands.context import CommandContext, Reply
from daemon.commands.money import format_amount
from daemon.money import common
from daemon.money.moves import Move, MoveState, find_move_by_ref_txn, recent_moves_txn
from daemon.schema import subscribers
from daemon.subscribers import get_subscriber_txn

MINI_COUNT = 5
# How VERIFY names a party that is not a wallet (a biller, a till, the airtime provider), by move
# kind; registered by the module of each kind with @payee_label. Default: the payee's number.
PayeeLabel = Callable[[CommandContext, Move], str]
_PAYEE_LABELS: dict[str, PayeeLabel] = {}


# Who else is a party to a move of a kind (the airtime recipient, who paid nothing): registered
# by the kind's module with @other_parties; VERIFY answers them too.
OtherParties = Callable[[Connection, Move], set[str]]
_OTHER_PARTIES: dict[str, OtherParties] = {}


def other_parties(kind: str) -> Callable[[OtherParties], OtherParties]:
    def register(parties: OtherParties) -> OtherParties:
        _OTHER_PARTIES[kind] = parties
        return parties

    return register


def payee_label(*kinds: str) -> Callable[[PayeeLabel], PayeeLabel]:
    def register(label: PayeeLabel) -> PayeeLabel:
        for kind in kinds:
            if kind in _PAYEE_LABELS:
                raise ValueError(f"a payee label for {kind!r} is already registered")
            _PAYEE_LABELS[kind] = label
        return label

    return register


def _line(ctx: CommandContext, move: Move, msisdn: str) -> str:
    outgoing = move.payer_msisdn == msisdn
    amount = move.amount_minor + (move.fee_minor if outgoing else 0)
    sign = "-" if outgoing else "+"
    # Day/month and whole amounts without ".00": five lines must fit in one SMS.
    day = "/".join(common.when(move.created_at_ns, ctx.config.money.timezone).split("/")[:2])
    pending = "*" if move.state is MoveState.PENDING else ""
    return f"{day} {sign}{format_amount(amount).removesuffix('.00')}{pending} {move.ref}"


def mini(ctx: CommandContext) -> Reply:
    assert ctx.subscriber is not None
    msisdn = ctx.subscriber.float_owner
    found = recent_moves_txn(ctx.conn, msisdn, MINI_COUNT)
    if not found:
        return ctx.reply("mini_none")
    lines = ";".join(_line(ctx, move, msisdn) for move in found)
    return ctx.reply("mini", count=len(found), lines=lines)


def verify(ctx: CommandContext, ref: str) -> Reply:
    move = find_move_by_ref_txn(ctx.conn, ref)
    # One answer for "no such reference" and "not yours": a reference says nothing to strangers.
    if move is None or not _is_party(ctx, move):
        return ctx.reply("verify_none", ref=ref.upper()[:12])
    return ctx.reply(
        "verify_found",
        ref=move.ref,
        amount=ctx.money(move.amount_minor),
        payer=_party(ctx, move.payer_msisdn),
        payee=_payee(ctx, move),
        when=common.when(move.created_at_ns, ctx.config.money.timezone),
        state=_state(ctx, move),
    )


def _state(ctx: CommandContext, move: Move) -> str:
    from daemon.money.reversal_records import ReversalState, reversal_of_move_txn

    reversal = reversal_of_move_txn(ctx.conn, move.id)
    if reversal is not None and reversal.state is ReversalState.APPROVED:
        return ctx.text("state_reversed")  # posted, then given back by staff
    return ctx.text(f"state_{move.state.value}")


def _is_party(ctx: CommandContext, move: Move) -> bool:
    mine = {ctx.sender}
    if ctx.subscriber is not None:
        mine.add(ctx.subscriber.float_owner)
    others = _OTHER_PARTIES.get(move.kind.value)
    if others is not None:
        mine_too = others(ctx.conn, move)
        if mine & mine_too:
            return True
    return any(move.involves(msisdn) for msisdn in mine)


def _payee(ctx: CommandContext, move: Move) -> str:
    label = _PAYEE_LABELS.get(move.kind.value)
    if label is not None:
        return label(ctx, move)
    if move.payee_msisdn is None and move.detail:
        return move.detail
    return _party(ctx, move.payee_msisdn)


def _party(ctx: CommandContext, msisdn: str | None) -> str:
    if msisdn is None:
        return ctx.config.service.name
    name = common.short_name(get_subscriber_txn(ctx.conn, msisdn))
    number = common.display(ctx, msisdn)
    return f"{name} {number}" if name else number


def set_language(ctx: CommandContext, code: str) -> Reply:
    assert ctx.subscriber is not None
    language = code.lower()
    if language not in replies.LANGUAGES:
        return ctx.reply("language_unknown", codes=", ".join(replies.LANGUAGES))
    ctx.conn.execute(
        update(subscribers)
        .where(subscribers.c.msisdn == ctx.subscriber.msisdn)
        .values(language=language)
    )
    return Reply(replies.render(language, "language_set", service=ctx.config.service.name))
