"""merchantpay with a customer as the debit party: the merchant-initiated payment ("STK push").

The worker turns the request into a request to pay (daemon.money.pay_requests) from the business
to the customer: the customer gets the SMS every REQ sends ("... asks you for KES 500. Reply PAY
R4821 PIN to pay, NO R4821 to refuse") and answers it as any, so the payment is a TILL payment to
the business's till, quoted, limited and posted by the same code. The API request waits (its
pendingReason says for what, expiryTime until when: `[api] approval_timeout_s`) and follows the
request to pay through its observer (daemon.money.request_rows.on_change), in the transaction of
each change:
- paid, its move posted: completed, the transaction object that of the move;
- paid, its move pending (TILL in money.post_on_delivery): still pending until the move posts
  (the move observer of daemon.money.moves, in the posting's transaction; a move voided instead
  leaves the request to pay open again, and the API request waiting for approval again);
- refused (NO <code>): failed, requestDeclined;
- expired (or already past its expiryTime when the worker reaches it: no SMS then): failed,
  genericError;
- the business suspended while the customer has not paid: failed, clientAuthorisationError, and
  the request to pay withdrawn (expired) so the customer's PAY finds nothing to pay.
The business must have an active till (`smscore admin till add`): that is where TILL payments land.
"""

from __future__ import annotations

from sqlalchemy import Connection

from daemon.api import lifecycle
from daemon.api.amounts import parse_amount
from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.lifecycle import ApiRequest, RequestStatus
from daemon.api.parties import parse_wallet
from daemon.api.payouts import body_of
from daemon.api.principal import BusinessState
from daemon.api.rules import (
    check_amount_of,
    lock_parties_txn,
    rule_error,
    same_parties,
    unknown_party,
)
from daemon.api.transaction_models import RequestTransaction
from daemon.api.transaction_view import View, transaction_object
from daemon.api.worker import Work, register_executor, suspended
from daemon.chart import wallet_account_id
from daemon.clock import NS_PER_S
from daemon.commands.registry import Role
from daemon.money import pay_requests, request_rows, tills
from daemon.money.moves import Move, MoveKind, MoveState, add_move_observer
from daemon.money.notices import numbering
from daemon.money.request_rows import PayRequest, RequestState
from daemon.outbox import queue_sms_txn
from ledger import get_balance

AWAITING_APPROVAL = "waiting for the customer to approve with their PIN"
AWAITING_POSTING = "approved; waiting for the payment to post"


def customer_of(work: Work, body: RequestTransaction) -> str:
    """The customer asked to pay (the debit party); the credit party, if named, is the business."""
    region = numbering(work.config.service.region)
    if body.debitParty is None:
        raise unknown_party("debitParty", "the customer to ask is required")
    payer = parse_wallet(body.debitParty, "debitParty", region).msisdn
    if body.creditParty is not None:
        named = parse_wallet(body.creditParty, "creditParty", region).msisdn
        if named != work.business.msisdn:
            raise unknown_party("creditParty", "a merchantpay is paid to this business only")
    if payer == work.business.msisdn:
        raise same_parties()
    return payer


@register_executor("merchantpay", reconcile=True)
def _merchantpay(work: Work) -> None:
    if work.request.pay_request_id is None:
        _ask_txn(work)
        return
    found = request_rows.get_txn(work.conn, work.request.pay_request_id)
    if work.business.state is not BusinessState.ACTIVE:
        standing, _ = request_rows.standing_txn(work.conn, found, work.now_ns)
        if standing is RequestState.OPEN:
            lifecycle.fail_txn(work.conn, work.request, suspended(), work.now_ns)
            request_rows.change_txn(work.conn, found, RequestState.EXPIRED, work.now_ns)
            return
    follow_txn(work.conn, work.request, found, View.of(work.config), work.now_ns)


def not_in_time() -> ApiError:
    return ApiError(
        ErrorCategory.BUSINESS_RULE, "genericError", "the customer did not approve in time"
    )


def _ask_txn(work: Work) -> None:
    expires_at_ns = work.request.expires_at_ns or work.now_ns + int(
        work.config.api.approval_timeout_s * NS_PER_S
    )
    if work.now_ns >= expires_at_ns:
        raise not_in_time()  # the worker ran late: never ask the customer for a time now past
    body = body_of(work)
    payer_msisdn = customer_of(work, body)
    amount_minor = parse_amount(body.amount, work.config.service.currency)
    found = lock_parties_txn(work.conn, work.business.msisdn, payer_msisdn)
    payer, merchant = found.get(payer_msisdn), found.get(work.business.msisdn)
    if payer is None or payer.role is not Role.CUSTOMER or payer.frozen:
        raise unknown_party("debitParty", "no customer account that can pay")
    till = tills.till_of_merchant_txn(work.conn, work.business.msisdn)
    if merchant is None or till is None or till.state is not tills.TillState.ACTIVE:
        raise rule_error("genericError", "the business has no active till to be paid to")
    check_amount_of(work.money.tariff, payer, amount_minor, pay_requests.COMMAND)
    _check_open_requests(work, payer_msisdn)
    expiry_ns = expires_at_ns - work.now_ns
    code = request_rows.new_code_txn(work.conn, payer_msisdn, work.now_ns - 2 * expiry_ns)
    if code is None:
        raise rule_error("genericError", "the customer has too many requests waiting")
    pay_request_id = request_rows.insert_txn(
        work.conn, code=code, requester_msisdn=merchant.msisdn, payer_msisdn=payer_msisdn,
        amount_minor=amount_minor, note="", inbox_id=None, created_at_ns=work.now_ns,
        expires_at_ns=expires_at_ns,
    )  # fmt: skip
    notifier = work.notifier()
    asked = notifier.sms(
        payer_msisdn, "req_incoming", name=pay_requests.requester_label(work.conn, merchant),
        phone=notifier.display(merchant.msisdn), amount=notifier.money(amount_minor), note="",
        code=code, when=notifier.when(expires_at_ns),
    )  # fmt: skip
    queue_sms_txn(work.conn, [asked], work.now_ns)
    lifecycle.set_pending_txn(
        work.conn, work.request, work.now_ns, reason=AWAITING_APPROVAL,
        pay_request_id=pay_request_id,
    )  # fmt: skip


def _check_open_requests(work: Work, payer_msisdn: str) -> None:
    pair, by_payer, by_requester = request_rows.open_counts_txn(
        work.conn, work.business.msisdn, payer_msisdn, work.now_ns
    )
    if (
        pair >= pay_requests.MAX_OPEN_PER_PAIR
        or by_payer >= pay_requests.MAX_OPEN_PER_PAYER
        or by_requester >= pay_requests.MAX_OPEN_PER_REQUESTER
    ):
        raise rule_error("genericError", "too many requests to pay are waiting")


def follow_txn(
    conn: Connection, request: ApiRequest, found: PayRequest, view: View, now_ns: int
) -> None:
    """The API request moved on as its request to pay stands now (see the module's text)."""
    standing, move = request_rows.standing_txn(conn, found, now_ns)
    if standing is RequestState.OPEN:  # not yet paid, or its payment voided: paid again or not
        if request.pending_reason != AWAITING_APPROVAL:
            lifecycle.set_pending_txn(conn, request, now_ns, reason=AWAITING_APPROVAL)
        return
    if standing is RequestState.REFUSED:
        declined = ApiError(
            ErrorCategory.AUTHORISATION, "requestDeclined", "the customer refused the payment"
        )
        lifecycle.fail_txn(conn, request, declined, now_ns)
        return
    if standing is RequestState.EXPIRED:
        if found.state is not RequestState.EXPIRED:
            _expire_txn(conn, request, found, view, now_ns)
            return
        lifecycle.fail_txn(conn, request, not_in_time(), now_ns)
        return
    assert move is not None
    if move.state is not MoveState.POSTED:
        if request.pending_reason != AWAITING_POSTING:
            lifecycle.set_pending_txn(conn, request, now_ns, reason=AWAITING_POSTING)
        return
    response = transaction_object(conn, move, view, request)
    lifecycle.complete_txn(
        conn, request, response=response, object_reference=move.ref, now_ns=now_ns,
        move_id=move.id,
    )  # fmt: skip


def _expire_txn(
    conn: Connection, request: ApiRequest, found: PayRequest, view: View, now_ns: int
) -> None:
    """Past its time and not yet marked so: the request to pay expired first, compare-and-set,
    its row locked in the order every payment takes it (request to pay, then API request), so a
    customer's PAY that began before the expiry either wins (paid: followed) or finds it expired.
    The API request then fails through the observer (_request_changed)."""
    locked = request_rows.lock_txn(conn, found.id)
    if locked is None:
        return  # a payment or refusal holds it right now: looked at again next run
    standing, _ = request_rows.standing_txn(conn, locked, now_ns)
    if standing is not RequestState.EXPIRED or locked.state is RequestState.EXPIRED:
        follow_txn(conn, request, locked, view, now_ns)  # decided meanwhile: as it is now
    elif not request_rows.change_txn(conn, locked, RequestState.EXPIRED, now_ns):
        follow_txn(conn, request, request_rows.get_txn(conn, found.id), view, now_ns)


@request_rows.on_change
def _request_changed(conn: Connection, found: PayRequest, now_ns: int) -> None:
    """A request to pay changed (paid, refused, expired): its API request follows, if it has one
    still pending."""
    request = lifecycle.by_column_txn(conn, "pay_request_id", found.id)
    if request is None or request.state is not RequestStatus.PENDING:
        return
    balance = get_balance(conn, wallet_account_id(found.requester_msisdn))
    view = View(balance.currency if balance is not None else "", "")
    follow_txn(conn, request, found, view, now_ns)


def _move_changed(
    conn: Connection, move: Move, previous: MoveState | None, currency: str, now_ns: int
) -> None:
    """A payment of a request to pay that waited for its confirmation's receipt posted (or was
    voided): its API request follows in the same transaction."""
    if move.kind is not MoveKind.TILL or previous is None:
        return
    found = request_rows.request_of_move_txn(conn, move.id)
    if found is None:
        return
    request = lifecycle.by_column_txn(conn, "pay_request_id", found.id)
    if request is not None and request.state is RequestStatus.PENDING:
        follow_txn(conn, request, found, View(currency, ""), now_ns)


add_move_observer(_move_changed)
