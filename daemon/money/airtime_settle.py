"""What the provider's answer does to an order and its move, in one transaction with the SMS it
causes. The worker (daemon.money.airtime_worker) calls `record_outcome_txn` for every answer.

While the move is pending (sent, unknown):
- succeeded: the move is posted; the buyer is told, and the recipient when another number.
- failed: the move is voided; the buyer is told nothing was taken.
- unknown: asked again after query_after_s, then `backoff` times longer each time; after
  max_queries unknown answers to queries the move is voided and the buyer told (the deadline).
- not found (a query): the provider never got the top-up: it is sent again (same idempotency key);
  this answer counts towards max_queries like an unknown one.
Once voided (failed, voided) the order is queried `late_checks` more times: a success then is a
late success (the airtime was given, the money not taken), logged at error level for staff.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select
from twisted.logger import Logger

from daemon.chart import wallet_account_id
from daemon.clock import NS_PER_S
from daemon.config import Config
from daemon.money.airtime_gateway import Outcome, OutcomeKind
from daemon.money.airtime_orders import (
    PENDING_STATES,
    VOIDED_STATES,
    Action,
    Claim,
    Order,
    OrderState,
    get_order_txn,
    update_order_txn,
)
from daemon.money.common import release_txn, short_name
from daemon.money.limits import give_back_usage_txn, service_day
from daemon.money.moves import Move, MoveState, get_move_txn, post_move_txn
from daemon.money.notices import Notifier
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.schema import inbox
from daemon.subscribers import get_subscriber_txn

log = Logger()


@dataclass(frozen=True, slots=True)
class Step:
    """What one answer did, for the worker's counters: posted, voided, retry, late_success..."""

    name: str


def query_delay_ns(config: Config, unknown_answers: int) -> int:
    airtime = config.airtime
    delay_s = airtime.query_after_s * airtime.backoff**unknown_answers
    return int(min(delay_s, airtime.max_query_interval_s) * NS_PER_S)


def record_outcome_txn(
    conn: Connection, config: Config, claim: Claim, outcome: Outcome, now_ns: int
) -> str:
    """Apply `outcome` of the claimed attempt; the name of what it did ("stale" if the order
    moved on since: another worker's answer, or staff, came first)."""
    order = get_order_txn(conn, claim.order.id, lock=True)
    if order is None or order.attempts != claim.attempt:
        return "stale"
    error = outcome.reason or ""
    if order.state in PENDING_STATES:
        return _while_pending(conn, config, order, claim.action, outcome, now_ns)
    if order.state in VOIDED_STATES:
        return _after_void(conn, config, order, outcome, now_ns)
    update_order_txn(conn, order, now_ns, next_attempt_at_ns=None, last_error=error[:200])
    return "ignored"


def _while_pending(
    conn: Connection, config: Config, order: Order, action: Action, outcome: Outcome, now_ns: int
) -> str:
    move = get_move_txn(conn, order.move_id, lock=True)
    kind = outcome.kind
    if kind is OutcomeKind.SUCCEEDED:
        move = post_move_txn(conn, move, config.service.currency, now_ns)
        update_order_txn(conn, order, now_ns, state=OrderState.SUCCEEDED,
                         provider_ref=outcome.provider_ref, next_attempt_at_ns=None, last_error="")  # fmt: skip
        _tell(conn, config, order, move, now_ns, _bought_notices)
        return "posted"
    if kind is OutcomeKind.NOT_FOUND:  # counted: top-ups that never arrive have a deadline too
        answers = order.queries + 1
        if answers >= config.airtime.max_queries:
            reason = f"the provider never got it after {answers} queries"
            void_order_txn(conn, config, order, move, OrderState.VOIDED, reason, now_ns)
            return "voided"
        update_order_txn(conn, order, now_ns, state=OrderState.NEW, queries=answers,
                         next_attempt_at_ns=now_ns, last_error=outcome.reason)  # fmt: skip
        return "resend"
    if kind is OutcomeKind.FAILED:
        void_order_txn(conn, config, order, move, OrderState.FAILED, outcome.reason, now_ns)
        return "voided"
    answers = order.queries + 1 if action is Action.QUERY else order.queries
    if answers >= config.airtime.max_queries:
        reason = f"still unknown after {answers} queries: {outcome.reason}"
        void_order_txn(conn, config, order, move, OrderState.VOIDED, reason, now_ns)
        return "voided"
    update_order_txn(conn, order, now_ns, state=OrderState.UNKNOWN, queries=answers,
                     next_attempt_at_ns=now_ns + query_delay_ns(config, answers),
                     last_error=outcome.reason[:200])  # fmt: skip
    return "retry"


def void_order_txn(
    conn: Connection,
    config: Config,
    order: Order,
    move: Move,
    state: OrderState,
    reason: str,
    now_ns: int,
) -> None:
    """End a pending purchase with nothing taken: the move voided, the order in `state`, the buyer
    told. An order the provider saw (failed, voided) is checked `late_checks` more times; a
    cancelled one never went to the provider: nothing to check."""
    move = release_txn(conn, move, MoveState.VOIDED, config, now_ns)
    # Money that never moved is no use of the buyer's daily limits (as a voided SEND).
    day = service_day(move.created_at_ns, config.money.timezone)
    give_back_usage_txn(conn, order.payer_msisdn, day, order.amount_minor)
    checks = config.airtime.late_checks if state is not OrderState.CANCELLED else 0
    later = now_ns + query_delay_ns(config, order.queries) if checks else None
    update_order_txn(conn, order, now_ns, state=state, next_attempt_at_ns=later,
                     last_error=reason[:200])  # fmt: skip
    key = "airtime_voided" if state is OrderState.VOIDED else "airtime_failed"
    _tell(conn, config, order, move, now_ns, lambda n, o, m: [_buyer_notice(n, o, m, key)])
    log.info("airtime order {id} ({ref}): {state}: {reason}", id=order.id, ref=order.ref,
             state=state.value, reason=reason)  # fmt: skip


def _after_void(
    conn: Connection, config: Config, order: Order, outcome: Outcome, now_ns: int
) -> str:
    checks = order.checks + 1
    if outcome.kind is OutcomeKind.SUCCEEDED:
        update_order_txn(conn, order, now_ns, state=OrderState.LATE_SUCCESS, checks=checks,
                         provider_ref=outcome.provider_ref, next_attempt_at_ns=None,
                         last_error="the provider topped up after the move was voided")  # fmt: skip
        log.error(
            "airtime order {id} ({ref}): late success: the provider topped up {msisdn} after the "
            "money was released; resolve it: smscore admin airtime resolve {id} --charge|--write-off",
            id=order.id, ref=order.ref, msisdn=order.recipient_msisdn,
        )  # fmt: skip
        return "late_success"
    done = outcome.kind is not OutcomeKind.UNKNOWN or checks >= config.airtime.late_checks
    later = None if done else now_ns + query_delay_ns(config, order.queries + checks)
    update_order_txn(conn, order, now_ns, checks=checks, next_attempt_at_ns=later,
                     last_error=(outcome.reason or order.last_error)[:200])  # fmt: skip
    return "checked"


# --- the SMS


def _tell(conn, config, order, move, now_ns, notices) -> None:
    notifier = Notifier(conn, config, buyer_short_code(conn, order, config), now_ns, order.inbox_id)
    queue_sms_txn(conn, notices(notifier, order, move), now_ns)


def buyer_short_code(conn: Connection, order: Order, config: Config) -> str:
    """The number the buyer wrote to (notices come from it), else the configured sender: also for
    a purchase from a USSD menu, whose dialled code (*334#) cannot send SMS."""
    if order.inbox_id is None:
        return config.sender.source_addr
    query = select(inbox.c.destination_addr, inbox.c.ussd_op, inbox.c.bind_name).where(
        inbox.c.id == order.inbox_id
    )
    found = conn.execute(query).first()
    if found is None:
        return config.sender.source_addr
    if found.ussd_op is not None:
        return config.ussd_sms_source(found.bind_name)
    return found.destination_addr or config.sender.source_addr


def _buyer_notice(notifier: Notifier, order: Order, move: Move, key: str) -> OutgoingSms:
    return notifier.about(
        order.payer_msisdn,
        key,
        move,
        phone=notifier.display(order.recipient_msisdn),
        fee=notifier.money(move.fee_minor),
        balance=notifier.balance(wallet_account_id(order.payer_msisdn)),
        when=notifier.when(),
    )


def _bought_notices(notifier: Notifier, order: Order, move: Move) -> list[OutgoingSms]:
    notices = [_buyer_notice(notifier, order, move, "airtime_bought")]
    if order.recipient_msisdn != order.payer_msisdn:
        payer = get_subscriber_txn(notifier.conn, order.payer_msisdn)
        name = short_name(payer)
        phone = notifier.display(order.payer_msisdn)
        sender = f"{name} {phone}" if name else phone
        notices.append(notifier.about(order.recipient_msisdn, "airtime_received", move,
                                      payer=sender))  # fmt: skip
    return notices
