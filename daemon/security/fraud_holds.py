"""What a fraud rule's hit does to a money command: `screen_move` is the one call every money flow
makes before its money moves.

A SEND (to a wallet or a voucher) that hits a rule is held for review: its move is recorded HELD
(nothing reserved, no YES code, no expiry), a fraud_holds row points at it, the sender is told
"held for a security check, ref X", and the hold is audited (fraud.hold). Staff release or reject
it (daemon.security.review, `smscore admin review`). The other flows cannot wait for a person in
this release (cash is being handed over at an agent's counter; a bill, a till or airtime is paid
while the customer waits) and are refused outright: "refused for your security, call care", also
audited (fraud.reject, by the system).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from daemon.audit import SYSTEM_ACTOR, SecurityEvent, record_security_event_txn
from daemon.commands.context import CommandContext, Reply
from daemon.money import common
from daemon.money.moves import Move, MoveKind, MoveRequest, MoveState, open_move_txn
from daemon.schema import fraud_holds
from daemon.security.fraud import Channel, Hit, Txn, screen_txn
from daemon.subscribers import get_subscriber_txn

HOLDABLE = frozenset({MoveKind.SEND, MoveKind.VOUCHER})  # released by confirm.commit_held
DETAIL_MAX_CHARS = 200


class HoldState(StrEnum):
    HELD = "held"
    RELEASED = "released"
    REJECTED = "rejected"


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
    if request.kind in HOLDABLE:
        return _hold(ctx, request, hit)
    return _refuse(ctx, request, hit)


def payee_label(ctx: CommandContext, request: MoveRequest) -> str:
    if request.payee_msisdn is None:
        return request.detail or ""
    name = common.short_name(get_subscriber_txn(ctx.conn, request.payee_msisdn))
    return f"{name} {common.display(ctx, request.payee_msisdn)}".strip()


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
    return ctx.reply("fraud_held", ref=move.ref, amount=ctx.money(move.amount_minor),
                     payee=payee_label(ctx, request))  # fmt: skip


def _refuse(ctx: CommandContext, request: MoveRequest, hit: Hit) -> Reply:
    detail = (
        f"{request.kind.value} of {request.amount_minor} refused at once: {hit.rule}: {hit.detail}"
    )
    record_security_event_txn(ctx.conn, SYSTEM_ACTOR, SecurityEvent.FRAUD_REJECT,
                              request.payer_msisdn or "", detail, ctx.now_ns)  # fmt: skip
    return ctx.reply("fraud_refused", amount=ctx.money(request.amount_minor))


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
