"""Airtime orders: one row per BUY, next to its pending move, and the claim that hands due orders to
the worker (daemon.money.airtime_worker).

States:
- awaiting_screen: a BUY from a USSD menu, recorded with its move; waits for the final screen's
  submit (daemon.money.airtime_screen). Never claimed: accepted, it becomes new; failed, late or
  released first, cancelled.
- cancelled: its final screen never reached the network: never sent, the move voided. Final.
- new: recorded with the move; not sent yet (or the provider said it never got it: send again).
- sent: claimed for its top-up. Written *before* the request goes out, so an order whose answer was
  never recorded (a crash, a lost answer) is queried on restart, never re-sent blindly.
- unknown: the provider's answer could not be acted on; queried again with backoff.
- succeeded: the provider topped up; the move is posted. Final.
- failed: the provider said no; the move is voided. Queried `late_checks` more times.
- voided: still unknown after `max_queries` queries; the move is voided. Queried like failed.
- late_success: the provider says succeeded for an order whose move was voided: the airtime was
  given but not paid for. Logged at error level, listed for staff, never closed by itself.
- charged / written_off: a late success resolved by staff (daemon.admin.airtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from daemon.schema import airtime_orders


class OrderState(StrEnum):
    AWAITING_SCREEN = "awaiting_screen"
    CANCELLED = "cancelled"
    NEW = "new"
    SENT = "sent"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    VOIDED = "voided"
    LATE_SUCCESS = "late_success"
    CHARGED = "charged"
    WRITTEN_OFF = "written_off"


PENDING_STATES = (OrderState.SENT, OrderState.UNKNOWN)  # the move is pending: the answer decides
VOIDED_STATES = (OrderState.FAILED, OrderState.VOIDED)  # the move is voided: late checks only


class Action(StrEnum):
    TOPUP = "topup"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    move_id: int
    ref: str
    payer_msisdn: str
    recipient_msisdn: str
    amount_minor: int
    state: OrderState
    provider_ref: str | None
    attempts: int
    queries: int
    checks: int
    next_attempt_at_ns: int | None
    inbox_id: int | None
    created_at_ns: int
    updated_at_ns: int
    last_error: str
    resolved_move_id: int | None


@dataclass(frozen=True, slots=True)
class Claim:
    """An order handed to the worker: what to ask the provider, and the attempt it is (an answer
    recorded for an older attempt is stale and dropped)."""

    order: Order
    action: Action

    @property
    def attempt(self) -> int:
        return self.order.attempts


def _order(row: Row) -> Order:
    values = row._asdict()
    values["state"] = OrderState(values["state"])
    return Order(**values)


def create_order_txn(
    conn: Connection,
    move_id: int,
    ref: str,
    payer: str,
    recipient: str,
    amount_minor: int,
    inbox_id: int | None,
    now_ns: int,
    awaiting_screen: bool = False,
) -> int:
    """A new order: due at once, or (`awaiting_screen`) held back until its USSD screen went."""
    state = OrderState.AWAITING_SCREEN if awaiting_screen else OrderState.NEW
    values = {
        "move_id": move_id, "ref": ref, "payer_msisdn": payer, "recipient_msisdn": recipient,
        "amount_minor": amount_minor, "state": state.value, "attempts": 0, "queries": 0,
        "checks": 0, "next_attempt_at_ns": None if awaiting_screen else now_ns,
        "inbox_id": inbox_id, "created_at_ns": now_ns, "updated_at_ns": now_ns, "last_error": "",
    }  # fmt: skip
    return conn.execute(insert(airtime_orders).values(values)).inserted_primary_key[0]


def get_order_txn(conn: Connection, order_id: int, lock: bool = False) -> Order | None:
    return _one(conn, airtime_orders.c.id == order_id, lock)


def order_of_move_txn(conn: Connection, move_id: int, lock: bool = False) -> Order | None:
    return _one(conn, airtime_orders.c.move_id == move_id, lock)


def _one(conn: Connection, where: Any, lock: bool) -> Order | None:
    query = select(airtime_orders).where(where)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _order(row) if row is not None else None


def orders_txn(
    conn: Connection, states: tuple[OrderState, ...] = (), limit: int = 100
) -> list[Order]:
    query = select(airtime_orders).order_by(airtime_orders.c.id.desc()).limit(limit)
    if states:
        query = query.where(airtime_orders.c.state.in_([state.value for state in states]))
    return [_order(row) for row in conn.execute(query)]


def count_txn(conn: Connection, state: OrderState) -> int:
    query = select(func.count()).where(airtime_orders.c.state == state.value)
    return int(conn.execute(query).scalar_one())


def update_order_txn(conn: Connection, order: Order, now_ns: int, **values: object) -> Order:
    """Change the order, which must still be at the attempt and in the state `order` was read at."""
    values = {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}
    changed = conn.execute(
        update(airtime_orders)
        .where(
            airtime_orders.c.id == order.id,
            airtime_orders.c.attempts == order.attempts,
            airtime_orders.c.state == order.state.value,
        )
        .values(updated_at_ns=now_ns, **values)
    )
    if changed.rowcount != 1:
        raise OrderChanged(f"airtime order {order.id} changed under us")
    found = get_order_txn(conn, order.id)
    assert found is not None
    return found


def claim_due_txn(conn: Connection, now_ns: int, limit: int, lease_ns: int) -> list[Claim]:
    """Due orders, each moved `lease_ns` on (no other worker takes it meanwhile) with one more
    attempt; a new one is marked sent before its top-up goes out."""
    query = (
        select(airtime_orders)
        .where(
            airtime_orders.c.next_attempt_at_ns <= now_ns,
            airtime_orders.c.state != OrderState.AWAITING_SCREEN.value,  # its screen decides first
        )
        .order_by(airtime_orders.c.next_attempt_at_ns)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claims = []
    for row in conn.execute(query).all():
        order = _order(row)
        action = Action.TOPUP if order.state is OrderState.NEW else Action.QUERY
        state = OrderState.SENT if action is Action.TOPUP else order.state
        claimed = update_order_txn(
            conn, order, now_ns, state=state, attempts=order.attempts + 1,
            next_attempt_at_ns=now_ns + lease_ns,
        )  # fmt: skip
        claims.append(Claim(claimed, action))
    return claims


class OrderChanged(Exception):
    """Another worker or staff changed the order since it was read: act on nothing."""
