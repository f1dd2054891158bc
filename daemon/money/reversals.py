"""REVERSE <ref>: the payer of a posted payment asks for it back (M-Pesa's "forward the message to
456"), within money.reversal_window_hours of it.

Only payments to someone who may have got them in error are reversed: a SEND to a wallet, a bill
(PAY) and a till payment (TILL). Cash at an agent (DEPOSIT, WITHDRAW, COLLECT) is settled at the
counter, a voucher comes back by itself when it expires, airtime is spent once it is bought, and a
reversal is never reversed. A transaction is asked back once (`reversals.move_id` is unique).

If the recipient still has the amount, it is held at once (daemon.money.reversal_records): the
recipient cannot spend it while staff decide (`smscore admin reversals`). If they have spent it,
nothing is held (no partial holds): the request is recorded as `unfunded`, a dispute staff see in the
same queue; approving it later holds and gives back the amount if the recipient has it by then.
The fee of the original is not refunded (M-Pesa keeps it too); only its principal is reversed.
"""

from __future__ import annotations

from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.money import common
from daemon.money.account import payee_label
from daemon.money.moves import (
    LedgerRefusal,
    Move,
    MoveKind,
    MoveState,
    find_move_by_ref_txn,
    get_move_txn,
    open_move_txn,
)
from daemon.money.notices import Notifier
from daemon.money.reversal_records import (
    Reversal,
    ReversalState,
    create_reversal_txn,
    hold_request,
    principal_txn,
    reversal_of_move_txn,
)
from daemon.subscribers import get_subscriber_txn

REVERSIBLE = frozenset({MoveKind.SEND, MoveKind.BILL, MoveKind.TILL})
REVERSAL_KINDS = frozenset({MoveKind.REVERSAL_HOLD, MoveKind.REVERSAL})
# Why a kind the payer may have paid cannot be reversed: the reply's key.
_REFUSED_KINDS = {
    MoveKind.DEPOSIT: "reverse_cash",
    MoveKind.WITHDRAW: "reverse_cash",
    MoveKind.COLLECT: "reverse_cash",
    MoveKind.VOUCHER: "reverse_voucher",
    MoveKind.AIRTIME: "reverse_airtime",
}
_NOT_DONE = (MoveState.VOIDED, MoveState.DECLINED, MoveState.EXPIRED)
_ALREADY = {
    ReversalState.HELD: "reverse_already_asked",
    ReversalState.UNFUNDED: "reverse_already_asked",
    ReversalState.APPROVED: "reverse_already_approved",
    ReversalState.REJECTED: "reverse_already_rejected",
}
SHOWN_REF_CHARS = 12  # of a reference we do not know, as VERIFY shows it


def reverse(ctx: CommandContext, ref: str) -> Reply:
    assert ctx.subscriber is not None
    found = find_move_by_ref_txn(ctx.conn, ref)
    if found is not None:  # locked: two REVERSE of one payment are decided one after the other
        found = get_move_txn(ctx.conn, found.id, lock=True)
    refusal = _refusal(ctx, found, ref)
    if refusal is not None:
        return refusal
    assert found is not None
    earlier = reversal_of_move_txn(ctx.conn, found.id, lock=True)
    if earlier is not None:
        return _already(ctx, found, earlier)
    window_hours = ctx.config.money.reversal_window_hours
    if ctx.now_ns - found.created_at_ns > window_hours * 3600 * NS_PER_S:
        return ctx.reply(
            "reverse_too_late", ref=found.ref, when=_when(ctx, found), hours=f"{window_hours:g}"
        )
    return _ask(ctx, found)


def _refusal(ctx: CommandContext, move: Move | None, ref: str) -> Reply | None:
    """Why `move` cannot be asked back by the sender, or None. One answer for "no such reference"
    and "not yours to reverse": a reference tells a stranger nothing."""
    if move is None or not move.involves(ctx.sender):
        return ctx.reply("reverse_none", ref=ref.upper()[:SHOWN_REF_CHARS])
    if move.kind in REVERSAL_KINDS:
        return ctx.reply("reverse_of_reversal", ref=move.ref)
    if move.payer_msisdn != ctx.sender:
        return ctx.reply("reverse_none", ref=move.ref)
    if move.kind not in REVERSIBLE:
        return ctx.reply(_REFUSED_KINDS.get(move.kind, "reverse_not_allowed"), ref=move.ref)
    if move.state in _NOT_DONE:
        return ctx.reply("reverse_nothing_moved", ref=move.ref)
    if move.state is not MoveState.POSTED:
        return ctx.reply("reverse_wait", ref=move.ref)
    return None


def _already(ctx: CommandContext, move: Move, earlier: Reversal) -> Reply:
    at_ns = earlier.decided_at_ns if earlier.decided_at_ns is not None else earlier.created_at_ns
    when = common.when(at_ns, ctx.config.money.timezone)
    return ctx.reply(_ALREADY[earlier.state], ref=move.ref, when=when)


def _ask(ctx: CommandContext, original: Move) -> Reply:
    """Hold the principal from the recipient if they still have it; record the request either way."""
    principal = principal_txn(ctx.conn, original)
    hold = open_move_txn(
        ctx.conn,
        hold_request(original, principal, ctx.inbox_id),
        currency=ctx.config.service.currency,
        now_ns=ctx.now_ns,
        state=MoveState.PENDING,
    )
    if isinstance(hold, LedgerRefusal):
        if not hold.insufficient_funds:
            raise common.MoneyRefused(f"reversal hold of {original.ref}: {hold.result.value}")
        hold = None
    state = ReversalState.HELD if hold is not None else ReversalState.UNFUNDED
    create_reversal_txn(ctx.conn, original, ctx.sender, state, hold, ctx.inbox_id, ctx.now_ns)
    _tell_recipient(ctx, original, principal.amount_minor, state)
    key = "reverse_asked" if hold is not None else "reverse_unfunded"
    if (
        hold is not None
        and original.fee_minor == 0
        and principal.amount_minor == original.amount_minor
    ):
        key = "reverse_asked_free"  # no fee was paid: none to say is kept
    return ctx.reply(
        key, ref=original.ref, amount=ctx.money(principal.amount_minor), payee=_payee(ctx, original)
    )


def _tell_recipient(
    ctx: CommandContext, original: Move, amount_minor: int, state: ReversalState
) -> None:
    recipient = original.payee_msisdn
    if recipient is None or get_subscriber_txn(ctx.conn, recipient) is None:
        return  # a biller's account: its statement shows the reversal
    notifier = Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id)
    payer = get_subscriber_txn(ctx.conn, ctx.sender)
    key = "reverse_held_recipient" if state is ReversalState.HELD else "reverse_unfunded_recipient"
    ctx.notifications.append(
        notifier.sms(
            recipient,
            key,
            ref=original.ref,
            amount=ctx.money(amount_minor),
            name=common.short_name(payer),
            phone=common.display(ctx, ctx.sender),
        )
    )


def _when(ctx: CommandContext, move: Move) -> str:
    return common.when(move.created_at_ns, ctx.config.money.timezone)


def _payee(ctx: CommandContext, move: Move) -> str:
    if move.payee_msisdn is not None:
        return _party(ctx, move.payee_msisdn)
    return move.detail or ctx.config.service.name


def _party(ctx: CommandContext, msisdn: str) -> str:
    name = common.short_name(get_subscriber_txn(ctx.conn, msisdn))
    number = common.display(ctx, msisdn)
    return f"{name} {number}" if name else number


# --- VERIFY: what a hold and a refund reversed


@payee_label(MoveKind.REVERSAL_HOLD.value)
def _hold_label(ctx: CommandContext, move: Move) -> str:
    return ctx.text("reversal_hold_payee", sent_ref=move.detail or "")


@payee_label(MoveKind.REVERSAL.value)
def _refund_label(ctx: CommandContext, move: Move) -> str:
    payee = _party(ctx, move.payee_msisdn) if move.payee_msisdn else ctx.config.service.name
    return ctx.text("reversal_payee", payee=payee, sent_ref=move.detail or "")
