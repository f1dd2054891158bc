"""POST /transactions/{transactionReference}/reversals: a business reverses one of its own posted
transactions, in full, once (the `reversals` row of daemon.money.reversal_records), within
money.reversal_window_hours, as a REVERSE would.

- A payment the business RECEIVED (a merchantpay, a transfer or disbursement from another business,
  a SEND to its number): the business gives it back itself, at once, a REFUND move from its wallet
  to the payer's of exactly what the customer paid it (the principal: a merchant's fee taken from
  a till payment stays the business's own cost, as a card refund's would); the customer is told by
  SMS; the reversal is recorded approved. The request completes in the same transaction, or fails
  with insufficientFunds. A reversal's amount, if given, is that principal ("in full").
- A payment the business MADE (a disbursement, a transfer, a billpay): the money is the recipient's
  now, so it goes the way of REVERSE (daemon.money.reversals): the principal is held from the
  recipient if they still have it (or the dispute recorded unfunded), the recipient told, and staff
  decide (`smscore admin reversals`). The request waits (pendingReason) and completes when staff
  approve (the transaction object that of the refund) or fails (requestDeclined) when they reject.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.api import lifecycle
from daemon.api.amounts import format_amount, parse_amount
from daemon.api.errors import ApiError, ErrorCategory, not_found, validation_error
from daemon.api.rules import ledger_error, rule_error
from daemon.api.transaction_models import RequestReversal
from daemon.api.transaction_view import View, reversal_object
from daemon.api.worker import Work, register_executor
from daemon.chart import TransferCode
from daemon.clock import NS_PER_S
from daemon.money.moves import (
    LedgerRefusal,
    Leg,
    Move,
    MoveKind,
    MoveRequest,
    MoveState,
    find_move_by_ref_txn,
    get_move_txn,
    open_move_txn,
)
from daemon.money.reversal_records import (
    Principal,
    ReversalState,
    create_reversal_txn,
    decide_txn,
    hold_request,
    principal_txn,
    reversal_of_move_txn,
)
from daemon.outbox import queue_sms_txn

REFUNDABLE = frozenset({MoveKind.TILL, MoveKind.SEND, MoveKind.TRANSFER, MoveKind.DISBURSEMENT})
HELD_FOR_STAFF = frozenset({MoveKind.DISBURSEMENT, MoveKind.TRANSFER, MoveKind.BILL})
AWAITING_STAFF = "held from the recipient; waiting for a staff decision"


def original_ref(request: lifecycle.ApiRequest) -> str:
    """The reversed transaction's reference, from the request's path (stored decoded:
    daemon.api.transactions.reversal_path)."""
    return request.path.removeprefix("/transactions/").removesuffix("/reversals")


def original_of_txn(work: Work, ref: str, lock: bool = False) -> Move:
    """The business's own transaction `ref`; identification error if there is none (a reference
    of somebody else's transaction is no more found than an unknown one)."""
    found = find_move_by_ref_txn(work.conn, ref)
    if found is None or not found.involves(work.business.msisdn):
        raise not_found("transactionReference", ref[:64])
    return get_move_txn(work.conn, found.id, lock=lock) if lock else found


@register_executor("reversal", reconcile=True)
def _reversal(work: Work) -> None:
    original = original_of_txn(work, original_ref(work.request), lock=True)
    if work.request.pending_reason is not None:
        _follow_txn(work, original)
        return
    principal = _reversible_txn(work, original)
    if _refunded(work, original):
        _refund_txn(work, original, principal)
    elif original.payer_msisdn == work.business.msisdn and original.kind in HELD_FOR_STAFF:
        _hold_txn(work, original, principal)
    else:
        raise rule_error("transactionTypeError", "this kind of transaction is not reversed")


def _reversible_txn(work: Work, original: Move) -> Principal:
    """What can be given back of `original`, or why nothing can."""
    if original.kind in (MoveKind.REVERSAL_HOLD, MoveKind.REVERSAL, MoveKind.REFUND):
        raise rule_error("transactionTypeError", "a reversal is not reversed")
    if original.state is not MoveState.POSTED:
        raise rule_error("incorrectState", "only a completed transaction is reversed")
    if reversal_of_move_txn(work.conn, original.id, lock=True) is not None:
        raise rule_error("incorrectState", "this transaction was already reversed or asked back")
    window_ns = int(work.config.money.reversal_window_hours * 3600 * NS_PER_S)
    if work.now_ns - original.created_at_ns > window_ns:
        raise rule_error("genericError", "the transaction is too old to reverse")
    principal = principal_txn(work.conn, original)
    if _refunded(work, original):  # all the customer paid goes back, not what the business kept
        principal = replace(principal, amount_minor=original.amount_minor)
    body = RequestReversal.model_validate(work.request.body)
    currency = work.config.service.currency
    if body.currency is not None and body.currency != currency:
        raise validation_error(
            "currencyNotSupported", "currency", f"amounts here are in {currency}"
        )
    if body.amount is not None and parse_amount(body.amount, currency) != principal.amount_minor:
        in_full = format_amount(principal.amount_minor, currency)
        raise rule_error(
            "genericError", f"a transaction is reversed in full only: amount {in_full}"
        )
    return principal


def _refunded(work: Work, original: Move) -> bool:
    """A payment the business received, which it gives back itself at once."""
    return original.payee_msisdn == work.business.msisdn and original.kind in REFUNDABLE


def _refund_txn(work: Work, original: Move, principal: Principal) -> None:
    assert original.payer_msisdn is not None
    leg = Leg(principal.recipient_account_id, principal.payer_account_id, principal.amount_minor,
              TransferCode.REFUND)  # fmt: skip
    request = MoveRequest(
        MoveKind.REFUND, work.business.msisdn, original.payer_msisdn, principal.amount_minor,
        [leg], detail=original.ref,
    )  # fmt: skip
    refund = open_move_txn(
        work.conn, request, currency=work.config.service.currency, now_ns=work.now_ns
    )
    if isinstance(refund, LedgerRefusal):
        raise ledger_error(refund)
    reversal = create_reversal_txn(
        work.conn, original, work.business.msisdn, ReversalState.UNFUNDED, None, None, work.now_ns
    )
    decide_txn(
        work.conn, reversal, ReversalState.APPROVED, actor=f"api:{work.business.code}",
        reason="refunded by the business", now_ns=work.now_ns, refund=refund,
    )  # fmt: skip
    notifier = work.notifier()
    told = notifier.about(
        original.payer_msisdn, "api_refunded", refund, business=work.business_label,
        sent_ref=original.ref, when=notifier.when(),
        balance=notifier.balance(principal.payer_account_id),
    )  # fmt: skip
    queue_sms_txn(work.conn, [told], work.now_ns)
    _complete_txn(work, refund, original)


def _hold_txn(work: Work, original: Move, principal: Principal) -> None:
    hold = open_move_txn(
        work.conn, hold_request(original, principal, None), currency=work.config.service.currency,
        now_ns=work.now_ns, state=MoveState.PENDING,
    )  # fmt: skip
    if isinstance(hold, LedgerRefusal):
        if not hold.insufficient_funds:
            raise ledger_error(hold)
        hold = None
    state = ReversalState.HELD if hold is not None else ReversalState.UNFUNDED
    create_reversal_txn(work.conn, original, work.business.msisdn, state, hold, None, work.now_ns)
    if original.payee_msisdn is not None:
        notifier = work.notifier()
        key = "reverse_held_recipient" if hold is not None else "reverse_unfunded_recipient"
        told = notifier.sms(
            original.payee_msisdn, key, ref=original.ref,
            amount=notifier.money(principal.amount_minor), name=work.business_label,
            phone=notifier.display(work.business.msisdn),
        )  # fmt: skip
        queue_sms_txn(work.conn, [told], work.now_ns)
    lifecycle.set_pending_txn(work.conn, work.request, work.now_ns, reason=AWAITING_STAFF)


def _follow_txn(work: Work, original: Move) -> None:
    reversal = reversal_of_move_txn(work.conn, original.id)
    if reversal is None or reversal.state.open:
        return
    if reversal.state is ReversalState.REJECTED:
        declined = ApiError(ErrorCategory.AUTHORISATION, "requestDeclined",
                            "staff rejected the reversal")  # fmt: skip
        lifecycle.fail_txn(work.conn, work.request, declined, work.now_ns)
        return
    assert reversal.reversal_move_id is not None
    _complete_txn(work, get_move_txn(work.conn, reversal.reversal_move_id), original)


def _complete_txn(work: Work, refund: Move, original: Move) -> None:
    response = reversal_object(work.conn, refund, original, View.of(work.config), work.request)
    lifecycle.complete_txn(
        work.conn, work.request, response=response, object_reference=refund.ref,
        now_ns=work.now_ns, move_id=refund.id,
    )  # fmt: skip
