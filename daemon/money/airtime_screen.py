"""No debit without the last screen, for airtime: a BUY from a USSD menu goes to the provider only
once its final screen reached the network (issue 14).

Such a BUY reserves its pending move and records its order `awaiting_screen` (the worker never
claims it); its reply, the final screen, carries on_failure = HOOK and on_failure_ref = the move id.
Exactly one of two things then happens, each in one transaction that marks the screen's hook done
(so the other never runs) and changes the order by a guarded UPDATE from awaiting_screen:
- the screen's submit was accepted (`delivered`): the settle step makes the order `new`, so the
  worker sends it (daemon.money.airtime_worker), and queues the screen's text as an SMS, as for the
  other flows (daemon.money.settle.ussd_confirmation_sms); the provider's answer posts or voids;
- it failed, went late (deliver_by_ns) or the dialogue was released before it went
  (daemon.ussd.sessions.stop_unsent_screen_txn): the sweeper's hook cancels the order, voids the
  move and tells the buyer nothing was taken. The provider never heard of it.
"""

from __future__ import annotations

from sqlalchemy import Connection, Row
from twisted.logger import Logger

from daemon.money.airtime_orders import (
    OrderChanged,
    OrderState,
    order_of_move_txn,
    update_order_txn,
)
from daemon.money.airtime_settle import void_order_txn
from daemon.money.moves import MoveState, get_move_txn
from daemon.money.settle import (
    FailureHook,
    SettleEnv,
    add_step,
    add_void_hook,
    delivered_rows_txn,
    hook_done_txn,
    ussd_confirmation_sms,
)
from daemon.outbox import queue_sms_txn

log = Logger()
HOOK = "airtime_screen"  # outbox.on_failure of a USSD purchase's final screen


@add_step("airtime_screens")
def send_delivered_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """Orders whose final screen was delivered, handed to the worker: (released, full)."""
    rows = delivered_rows_txn(conn, limit, HOOK)
    released = 0
    for row in rows:
        hook_done_txn(conn, row.id, now_ns)
        order = order_of_move_txn(conn, row.on_failure_ref, lock=True)
        if order is None or order.state is not OrderState.AWAITING_SCREEN:
            continue  # cancelled first: the buyer was told
        try:
            update_order_txn(conn, order, now_ns, state=OrderState.NEW, next_attempt_at_ns=now_ns)
        except OrderChanged:
            continue
        queue_sms_txn(conn, ussd_confirmation_sms(env, row), now_ns)
        released += 1
    return released, len(rows) >= limit


@add_void_hook(HOOK)
def make_cancel_hook(env: SettleEnv) -> FailureHook:
    """The sweeper's hook HOOK: the final screen will not reach the network."""

    def cancel_hook(conn: Connection, row: Row, now_ns: int) -> None:
        order = order_of_move_txn(conn, row.on_failure_ref, lock=True)
        if order is None or order.state is not OrderState.AWAITING_SCREEN:
            return  # sent already (the screen was delivered first): the provider decides
        move = get_move_txn(conn, order.move_id, lock=True)
        if move.state is not MoveState.PENDING:
            return  # released by other means: nothing to undo
        reason = f"its final USSD screen was not delivered ({row.status})"
        void_order_txn(conn, env.config, order, move, OrderState.CANCELLED, reason, now_ns)

    return cancel_hook
