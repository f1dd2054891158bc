"""What a fraud rule's hit does to a money command: `screen_move` is the one call every money flow
makes before its money moves.

A move of a kind with a re-commit (daemon.money.held: SEND, VOUCHER, BILL, TILL, AIRTIME,
WITHDRAW, and a PAY of a request) that hits a rule is held for review: its move is recorded HELD
(nothing reserved, no YES code, no expiry of its own), a fraud_holds row points at it, the payer is
told "held for a security check, ref X", and the hold is audited (fraud.hold). Staff release or
reject it (daemon.security.review, `smscore admin review`); one nobody decides within
[fraud] hold_expiry_hours is ended by the settler (`expire_holds_txn`): marked expired, the move
expired, the payer told, audited as fraud.reject by the system, "expired".

A WITHDRAW is held: it is the customer's own money, and the case the rules are for (a swapped SIM at
a counter) is one staff should look at before it is lost or refused for good. The store is told at
once not to give cash (a released one brings its usual "give cash" SMS; one ended unpaid, another
"do not give cash"). A DEPOSIT is refused at once, never held: the agent holds the customer's cash
at the counter, and a deposit decided hours later would leave one of them without the money; the
agent is told to hand the cash back. Refusals are audited (fraud.reject, by the system).

Amounts in a rule's detail are written `{money:<minor>}` (daemon.security.fraud_rules) and shown
here, in the review queue and the audit log, as an SMS shows them: KES 1,500.00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from daemon.audit import SYSTEM_ACTOR, SecurityEvent, record_security_event_txn
from daemon.channels.notices import NoticeTopic, notify_key_txn
from daemon.clock import NS_PER_S
from daemon.commands.context import CommandContext, Reply
from daemon.commands.money import format_money
from daemon.config import Config
from daemon.money import common, held
from daemon.money.moves import (
    Move,
    MoveKind,
    MoveRequest,
    MoveState,
    get_move_txn,
    open_move_txn,
)
from daemon.money.notices import Notifier
from daemon.money.settle import SettleEnv, _short_code, add_step
from daemon.outbox import queue_sms_txn
from daemon.schema import fraud_holds
from daemon.security.fraud import Channel, Hit, Txn, screen_txn

DETAIL_MAX_CHARS = 200
_MONEY = re.compile(r"\{money:(\d+)\}")


class HoldState(StrEnum):
    HELD = "held"
    RELEASED = "released"
    REJECTED = "rejected"
    EXPIRED = "expired"  # nobody decided it within [fraud] hold_expiry_hours


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    msisdn: str
    rule: str
    move_id: int | None
    inbox_id: int | None
    state: HoldState
    score: float | None
    detail: str
    created_at_ns: int
    decided_at_ns: int | None
    decided_by: str | None

    def expires_at_ns(self, config: Config) -> int:
        return self.created_at_ns + int(config.fraud.hold_expiry_hours * 3600 * NS_PER_S)


def shown(detail: str, currency: str) -> str:
    """A rule's detail with its amounts as an SMS shows them (see the module docstring)."""
    return _MONEY.sub(lambda found: format_money(int(found.group(1)), currency), detail)


def channel_of(ctx: CommandContext) -> Channel:
    return Channel(ctx.channel)  # set by the TranProc: "app" when decrypted from a device


def txn_of(ctx: CommandContext, request: MoveRequest) -> Txn:
    assert request.payer_msisdn is not None
    return Txn(
        kind=request.kind,
        payer_msisdn=request.payer_msisdn,
        payee=request.payee_msisdn or request.detail or "",
        amount_minor=request.amount_minor,
        now_ns=ctx.now_ns,
        sender_msisdn=ctx.sender,
        channel=channel_of(ctx),
    )


def screen_move(ctx: CommandContext, request: MoveRequest) -> Reply | None:
    """None if no fraud rule objects to `request`; else the reply: held for review (a SEND) or
    refused (every other flow)."""
    hit = screen_txn(ctx.conn, txn_of(ctx, request), ctx.config.fraud)
    if hit is None:
        return None
    hit = Hit(hit.rule, shown(hit.detail, ctx.config.service.currency), hit.score)
    if held.holdable(request.kind):
        return _hold(ctx, request, hit)
    return _refuse(ctx, request, hit)


def _hold(ctx: CommandContext, request: MoveRequest, hit: Hit) -> Reply:
    currency = ctx.config.service.currency
    move = open_move_txn(ctx.conn, request, currency=currency, now_ns=ctx.now_ns,
                         state=MoveState.HELD)  # fmt: skip
    assert isinstance(move, Move)  # HELD reserves nothing: the ledger is not asked
    hold_id = ctx.conn.execute(
        insert(fraud_holds)
        .values(
            msisdn=request.payer_msisdn, rule=hit.rule, move_id=move.id, inbox_id=ctx.inbox_id,
            state=HoldState.HELD.value, score=hit.score, detail=hit.detail[:DETAIL_MAX_CHARS],
            created_at_ns=ctx.now_ns,
        )
        .returning(fraud_holds.c.id)
    ).scalar_one()  # fmt: skip
    detail = f"hold {hold_id}, move {move.ref}: {hit.rule}: {hit.detail}"
    record_security_event_txn(ctx.conn, SYSTEM_ACTOR, SecurityEvent.FRAUD_HOLD,
                              move.payer_msisdn or "", detail, ctx.now_ns)  # fmt: skip
    notifier = Notifier(ctx.conn, ctx.config, ctx.short_code, ctx.now_ns, ctx.inbox_id)
    ctx.notifications.extend(held.other_notices(notifier, move, ended=False))
    if hit.rule == "sim_swap" and move.payer_msisdn is not None:
        notify_key_txn(ctx.conn, move.payer_msisdn, NoticeTopic.SECURITY, "notice_simswap_hold",
                       ctx.now_ns, ref=move.ref, amount=ctx.money(move.amount_minor))  # fmt: skip
    return ctx.reply("fraud_held", ref=move.ref, amount=ctx.money(move.amount_minor),
                     payee=held.payee_label(ctx.conn, ctx.config, move))  # fmt: skip


def _refuse(ctx: CommandContext, request: MoveRequest, hit: Hit) -> Reply:
    amount = ctx.money(request.amount_minor)
    detail = f"{request.kind.value} of {amount} refused at once: {hit.rule}: {hit.detail}"
    record_security_event_txn(ctx.conn, SYSTEM_ACTOR, SecurityEvent.FRAUD_REJECT,
                              request.payer_msisdn or "", detail, ctx.now_ns)  # fmt: skip
    if request.kind is MoveKind.DEPOSIT and request.payee_msisdn is not None:
        phone = common.display(ctx, request.payee_msisdn)
        return ctx.reply("fraud_refused_deposit", amount=amount, phone=phone)
    return ctx.reply("fraud_refused", amount=amount)


# --- the queue


def _hold_row(row) -> Hold:
    values = dict(row._mapping)
    values["state"] = HoldState(values["state"])
    return Hold(**values)


def holds_txn(conn: Connection, states: tuple[HoldState, ...], limit: int = 200) -> list[Hold]:
    """Holds in `states`, oldest first."""
    query = (
        select(fraud_holds)
        .where(fraud_holds.c.state.in_([state.value for state in states]))
        .order_by(fraud_holds.c.created_at_ns, fraud_holds.c.id)
        .limit(limit)
    )
    return [_hold_row(row) for row in conn.execute(query)]


def get_hold_txn(conn: Connection, hold_id: int, lock: bool = False) -> Hold | None:
    query = select(fraud_holds).where(fraud_holds.c.id == hold_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _hold_row(row) if row is not None else None


def decide_hold_txn(
    conn: Connection, hold: Hold, state: HoldState, actor: str, now_ns: int
) -> bool:
    """The hold marked decided, if it was still held (False: someone decided it first)."""
    result = conn.execute(
        update(fraud_holds)
        .where(fraud_holds.c.id == hold.id, fraud_holds.c.state == HoldState.HELD.value)
        .values(state=state.value, decided_at_ns=now_ns, decided_by=actor)
    )
    return result.rowcount == 1


# --- a hold ended with nothing moved: rejected by staff, or expired


@dataclass(frozen=True, slots=True)
class Ending:
    hold_state: HoldState  # REJECTED or EXPIRED
    move_state: MoveState  # DECLINED or EXPIRED
    key: str  # the payer's SMS
    actor: str
    note: str  # for the audit log


REJECT = "fraud_rejected"


def end_hold_txn(
    conn: Connection, notifier: Notifier, hold: Hold, move: Move, ending: Ending
) -> tuple[Move, bool]:
    """The held move ended with nothing moved and the hold decided, the payer (and whoever else
    the kind tells, daemon.money.held) told, audited as fraud.reject; (the move, False) if the
    hold was decided meanwhile (nothing changed)."""
    if not decide_hold_txn(conn, hold, ending.hold_state, ending.actor, notifier.now_ns):
        return move, False
    ended = common.release_txn(conn, move, ending.move_state, notifier.config, notifier.now_ns)
    payee = held.payee_label(conn, notifier.config, move)
    told = [notifier.about(hold.msisdn, ending.key, move, payee=payee)]
    told.extend(held.other_notices(notifier, move, ended=True))
    queue_sms_txn(conn, told, notifier.now_ns)
    detail = f"hold {hold.id}, move {move.ref}: {ending.hold_state.value}: {ending.note}"
    record_security_event_txn(conn, ending.actor, SecurityEvent.FRAUD_REJECT, hold.msisdn,
                              detail.rstrip(": "), notifier.now_ns)  # fmt: skip
    return ended, True


def _due_holds_txn(conn: Connection, before_ns: int, limit: int) -> list[Hold]:
    query = (
        select(fraud_holds)
        .where(
            fraud_holds.c.state == HoldState.HELD.value, fraud_holds.c.created_at_ns <= before_ns
        )
        .order_by(fraud_holds.c.created_at_ns, fraud_holds.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_hold_row(row) for row in conn.execute(query)]


@add_step("fraud_holds_expired")
def expire_holds_txn(conn: Connection, env: SettleEnv, now_ns: int, limit: int) -> tuple[int, bool]:
    """Holds nobody decided within [fraud] hold_expiry_hours: ended, the payer told (once: the
    guarded decision fails for a hold staff decided meanwhile)."""
    hours = env.config.fraud.hold_expiry_hours
    found = _due_holds_txn(conn, now_ns - int(hours * 3600 * NS_PER_S), limit)
    ending = Ending(HoldState.EXPIRED, MoveState.EXPIRED, "fraud_expired", SYSTEM_ACTOR,
                    f"not decided within {hours:g} h")  # fmt: skip
    for hold in found:
        if hold.move_id is None:
            decide_hold_txn(conn, hold, HoldState.EXPIRED, SYSTEM_ACTOR, now_ns)
            continue
        move = get_move_txn(conn, hold.move_id, lock=True)
        if move.state is not MoveState.HELD:  # corrupt data: its move ended elsewhere
            decide_hold_txn(conn, hold, HoldState.EXPIRED, SYSTEM_ACTOR, now_ns)
            continue
        notifier = env.notifier(conn, _short_code(conn, hold.inbox_id, env.config), now_ns, None)
        end_hold_txn(conn, notifier, hold, move, ending)
    return len(found), len(found) >= limit
