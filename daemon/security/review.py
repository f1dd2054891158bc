"""Staff decisions on the fraud review queue (`smscore admin review release|reject ID`).

Release commits the held move through its kind's re-commit (daemon.money.held, the path YES takes
for a move held for its one-time password): the payment is quoted and every rule of its flow
checked again now (funds, limits, the bill still due, the till active, the request still open),
the money is posted or held pending its confirmation as the flow does, and the payer gets the
flow's usual confirmation (the other party is told once it is posted; a released BUY is ordered).
If the checks now refuse it (the money was spent meanwhile, a limit is reached) nothing changes:
the hold stays in the queue, staff hear why, and it expires as any hold
([fraud] hold_expiry_hours) unless decided. Reject ends the move with nothing moved and tells the
payer (and a held withdrawal's store). Each decision is one transaction with its audit entry
(fraud.release, fraud.reject); a hold already decided is refused (HoldDecided), changing nothing.

The SMS of a decision is not tied to the held message (inbox_id None): a re-delivery of that
message gets its own first reply back ("held"), not the staff's decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from daemon.audit import SecurityEvent, record_security_event_txn
from daemon.commands.context import CommandContext
from daemon.config import Config
from daemon.money import held
from daemon.money.commands import service_registry
from daemon.money.moves import Move, MoveState, get_move_txn
from daemon.money.notices import Notifier
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.schema import inbox
from daemon.security.fraud_holds import (
    REJECT,
    Ending,
    Hold,
    HoldState,
    decide_hold_txn,
    end_hold_txn,
    get_hold_txn,
)
from daemon.subscribers import PinHasher, load_subscribers_txn


class ReviewError(ValueError):
    """A decision that cannot be made: one line for staff."""


class HoldDecided(ReviewError):
    """The hold was released or rejected already."""


@dataclass(frozen=True, slots=True)
class Reviewer:
    config: Config
    actor: str
    hasher: PinHasher  # a released SEND to a voucher makes its code


@dataclass(frozen=True, slots=True)
class Decision:
    hold: Hold
    move: Move


def _open_hold_txn(conn: Connection, hold_id: int) -> tuple[Hold, Move]:
    hold = get_hold_txn(conn, hold_id, lock=True)
    if hold is None:
        raise ReviewError(f"no hold {hold_id} (smscore admin review list shows the queue)")
    if hold.state is not HoldState.HELD:
        raise HoldDecided(f"hold {hold_id} was {hold.state.value} already, by {hold.decided_by}")
    if hold.move_id is None:
        raise ReviewError(f"hold {hold_id} has no move to decide")
    move = get_move_txn(conn, hold.move_id, lock=True)
    if move.state is not MoveState.HELD:  # corrupt data: a held hold whose move ended elsewhere
        raise ReviewError(f"hold {hold_id}: its move {move.ref} is {move.state.value}, not held")
    return hold, move


def _addresses(conn: Connection, hold: Hold, config: Config) -> tuple[str, str]:
    """(short code, bind) the held message came in on, so the decision comes from the same number."""
    row = None
    if hold.inbox_id is not None:
        query = select(inbox.c.destination_addr, inbox.c.bind_name).where(
            inbox.c.id == hold.inbox_id
        )
        row = conn.execute(query).first()
    if row is None:
        return config.sender.source_addr, ""
    return row.destination_addr, row.bind_name


def payer_context(conn: Connection, who: Reviewer, hold: Hold, now_ns: int) -> CommandContext:
    """The payer's command context, as if the payer's SEND ran now (their row held, like the TranProc
    holds a sender's)."""
    payer = load_subscribers_txn(conn, [hold.msisdn], lock=True).get(hold.msisdn)
    if payer is None:
        raise ReviewError(f"hold {hold.id}: the payer {hold.msisdn} is no longer registered")
    short_code, bind_name = _addresses(conn, hold, who.config)
    return CommandContext(
        conn=conn, now_ns=now_ns, config=who.config, registry=service_registry(),
        sender=payer.msisdn, subscriber=payer, role=payer.role, language=payer.language,
        inbox_id=None, short_code=short_code, bind_name=bind_name, hasher=who.hasher,  # type: ignore[arg-type]
    )  # fmt: skip


def release_txn(conn: Connection, who: Reviewer, hold_id: int, now_ns: int) -> Decision:
    """The held move committed now (see the module docstring); ReviewError if it cannot be."""
    hold, move = _open_hold_txn(conn, hold_id)
    ctx = payer_context(conn, who, hold, now_ns)
    reply = held.commit_held(ctx, move)
    after = get_move_txn(conn, move.id)
    if after.state is MoveState.HELD:
        raise ReviewError(f"hold {hold_id} cannot be released now: {reply.text}")
    decide_hold_txn(conn, hold, HoldState.RELEASED, who.actor, now_ns)
    confirmation = OutgoingSms(
        destination_addr=hold.msisdn, text=reply.text, source_addr=ctx.short_code,
        bind_name=ctx.bind_name or None, on_failure=reply.on_failure,
        on_failure_ref=reply.on_failure_ref, deliver_by_ns=reply.deliver_by_ns,
        holds_code=reply.holds_code,
    )  # fmt: skip
    queue_sms_txn(conn, [confirmation, *ctx.notifications], now_ns)
    detail = f"hold {hold_id}, move {after.ref}: released, now {after.state.value}"
    record_security_event_txn(conn, who.actor, SecurityEvent.FRAUD_RELEASE, hold.msisdn, detail,
                              now_ns)  # fmt: skip
    return Decision(hold, after)


def reject_txn(conn: Connection, who: Reviewer, hold_id: int, reason: str, now_ns: int) -> Decision:
    """The held move declined, nothing moved; the payer told."""
    hold, move = _open_hold_txn(conn, hold_id)
    short_code, _ = _addresses(conn, hold, who.config)
    notifier = Notifier(conn, who.config, short_code, now_ns)
    ending = Ending(HoldState.REJECTED, MoveState.DECLINED, REJECT, who.actor, reason)
    ended, _ = end_hold_txn(conn, notifier, hold, move, ending)  # the hold is locked: it ends
    return Decision(hold, ended)
