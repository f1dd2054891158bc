"""Late successes resolved by staff (`smscore admin airtime resolve ID --charge|--write-off`).

A late success is airtime the provider gave after its move was voided: the airtime settlement
account owes the provider an amount no wallet paid. Staff decide, in one audited transaction:
- charge: a new posted AIRTIME move of the amount from the buyer's wallet (refused if the wallet no
  longer holds it), and the buyer is told by SMS;
- write-off: the service bears it: a posted AIRTIME move of the amount from the trust account (new
  e-money the operator funds, like e-float), so the trust account still reconciles.
The voided move is never edited: the resolution is a move of its own, linked from the order.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, func, inspect, select

from daemon.audit import record_txn
from daemon.chart import SystemAccount, TransferCode
from daemon.commands.money import format_amount, format_money
from daemon.config import Config
from daemon.money.airtime_orders import (
    Order,
    OrderState,
    get_order_txn,
    update_order_txn,
)
from daemon.money.airtime_settle import buyer_short_code
from daemon.money.common import available_minor
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, open_move_txn
from daemon.money.notices import Notifier
from daemon.outbox import queue_sms_txn
from daemon.schema import airtime_orders
from daemon.subscribers import get_subscriber_txn


class Resolution(StrEnum):
    CHARGE = "charge"
    WRITE_OFF = "write_off"


class ResolveRefused(Exception):
    """The order cannot be resolved as asked; one line for the operator."""


def resolve_txn(
    conn: Connection, config: Config, actor: str, order_id: int, how: Resolution, now_ns: int
) -> tuple[Order, Move]:
    order = get_order_txn(conn, order_id, lock=True)
    if order is None:
        raise ResolveRefused(f"no airtime order {order_id}")
    if order.state is not OrderState.LATE_SUCCESS:
        raise ResolveRefused(f"airtime order {order_id} is {order.state.value}, not late_success")
    currency = config.service.currency
    amount = format_money(order.amount_minor, currency)
    detail = f"order {order.id} ({order.ref}): {amount} to {order.recipient_msisdn}, given late"
    audit_id = record_txn(conn, actor, f"airtime_{how.value}", order.payer_msisdn, detail, now_ns)
    move = (_charge if how is Resolution.CHARGE else _write_off)(
        conn, config, order, audit_id, now_ns
    )
    state = OrderState.CHARGED if how is Resolution.CHARGE else OrderState.WRITTEN_OFF
    resolved = update_order_txn(conn, order, now_ns, state=state, resolved_move_id=move.id)
    return resolved, move


def _charge(conn: Connection, config: Config, order: Order, audit_id: int, now_ns: int) -> Move:
    buyer = get_subscriber_txn(conn, order.payer_msisdn)
    if buyer is None:
        raise ResolveRefused(f"the buyer {order.payer_msisdn} has no wallet now: --write-off")
    settlement = int(SystemAccount.AIRTIME_SETTLEMENT)
    request = MoveRequest(
        MoveKind.AIRTIME, buyer.msisdn, None, order.amount_minor,
        [Leg(buyer.account_id, settlement, order.amount_minor, TransferCode.AIRTIME)],
        audit_id=audit_id, detail=f"late airtime {order.ref}",
    )  # fmt: skip
    move = open_move_txn(conn, request, currency=config.service.currency, now_ns=now_ns)
    if not isinstance(move, Move):
        held = format_money(available_minor(conn, buyer.account_id), config.service.currency)
        raise ResolveRefused(f"the buyer has only {held} available: --write-off instead")
    short_code = buyer_short_code(conn, order, config)  # the number the buyer wrote BUY to
    notifier = Notifier(conn, config, short_code, now_ns, order.inbox_id)
    sms = notifier.about(
        buyer.msisdn, "airtime_charged", move, phone=notifier.display(order.recipient_msisdn),
        balance=notifier.balance(buyer.account_id),
    )  # fmt: skip
    queue_sms_txn(conn, [sms], now_ns)
    return move


def _write_off(conn: Connection, config: Config, order: Order, audit_id: int, now_ns: int) -> Move:
    trust, settlement = int(SystemAccount.TRUST), int(SystemAccount.AIRTIME_SETTLEMENT)
    request = MoveRequest(
        MoveKind.AIRTIME, None, None, order.amount_minor,
        [Leg(trust, settlement, order.amount_minor, TransferCode.AIRTIME)],
        audit_id=audit_id, detail=f"airtime write-off {order.ref}",
    )  # fmt: skip
    move = open_move_txn(conn, request, currency=config.service.currency, now_ns=now_ns)
    if not isinstance(move, Move):  # the trust account has no ceiling: a broken chart
        raise ResolveRefused(f"the ledger refused the write-off: {move.result.value}")
    return move


def late_successes_line_txn(conn: Connection) -> str | None:
    """For `smscore ledger check`: the late successes staff have still to resolve, if any."""
    if not inspect(conn).has_table(airtime_orders.name):  # a ledger-only database
        return None
    query = select(func.count(), func.coalesce(func.sum(airtime_orders.c.amount_minor), 0))
    count, total = conn.execute(
        query.where(airtime_orders.c.state == OrderState.LATE_SUCCESS.value)
    ).one()
    if not count:
        return None
    return (
        f"airtime: {count} late success(es), {format_amount(int(total))} given but not paid for; "
        "see smscore admin airtime list --late"
    )
