"""The business pays: disbursement (to a customer's wallet: payroll, B2C), transfer (to any wallet
that may receive: a customer's or a merchant's) and billpay (to a biller's settlement account).

Each is posted at once from the business's wallet (no confirmation SMS waits on it: the business
asked over the API, the request's completion is its confirmation), and the customer who received
it is told by SMS in the same transaction. The business's KYC tier sets its limits as a payer's
(SEND's minimum); the recipient's tier its maximum balance. Disbursements and transfers carry no
fee; a bill payment the biller's PAY fee, as from a customer.

A disbursement to a number that is not registered fails with identifierError (no voucher: the
business can look the name up first with GET /accounts/msisdn/{number}/accountname, and a payroll
must not park money in suspense for people who never claim it).
"""

from __future__ import annotations

from daemon.api import lifecycle
from daemon.api.amounts import parse_amount
from daemon.api.parties import parse_biller, parse_wallet
from daemon.api.rules import (
    check_payer_limits_txn,
    check_recipient_txn,
    ledger_error,
    lock_parties_txn,
    rule_error,
    same_parties,
    unknown_party,
)
from daemon.api.transaction_models import RequestTransaction
from daemon.api.transaction_view import View, transaction_object
from daemon.api.worker import Work, register_executor
from daemon.chart import SystemAccount, TransferCode
from daemon.commands.registry import Role
from daemon.money.billers import (
    BillState,
    get_bill_txn,
    get_biller_txn,
    move_detail,
    pending_minor_txn,
)
from daemon.money.limits import record_usage_txn, service_day
from daemon.money.moves import Leg, Move, MoveKind, MoveRequest, open_move_txn
from daemon.money.notices import numbering, posted_notices
from daemon.money.tariff import NoBand
from daemon.outbox import queue_sms_txn
from daemon.subscribers import Subscriber

LIMITS_COMMAND = "SEND"  # whose minimum a business's payment meets
_RECEIVERS = {
    "disbursement": frozenset({Role.CUSTOMER}),
    "transfer": frozenset({Role.CUSTOMER, Role.BILLER}),
}
_KINDS = {"disbursement": MoveKind.DISBURSEMENT, "transfer": MoveKind.TRANSFER}


def body_of(work: Work) -> RequestTransaction:
    return RequestTransaction.model_validate(work.request.body)


def paying_business_txn(work: Work, body: RequestTransaction, *others: str) -> dict:
    """The business (the debit party, named or implied) and the other parties' subscribers, their
    rows locked; identifierError if a named debit party is not the business."""
    if body.debitParty is not None:
        named = parse_wallet(body.debitParty, "debitParty", numbering(work.config.service.region))
        if named.msisdn != work.business.msisdn:
            raise unknown_party("debitParty", "not the account of this business")
    found = lock_parties_txn(work.conn, work.business.msisdn, *others)
    if work.business.msisdn not in found:
        raise rule_error("genericError", "the business's own account is missing")
    return found


def _check_payer(work: Work, payer: Subscriber, amount_minor: int) -> None:
    if payer.frozen:
        raise rule_error("genericError", "the business's account is frozen")
    check_payer_limits_txn(
        work.conn, work.money.tariff, payer, amount_minor, LIMITS_COMMAND,
        work.config.money.timezone, work.now_ns,
    )  # fmt: skip


def _open_posted_txn(work: Work, request: MoveRequest) -> Move:
    move = open_move_txn(
        work.conn, request, currency=work.config.service.currency, now_ns=work.now_ns
    )
    if not isinstance(move, Move):
        raise ledger_error(move)
    day = service_day(work.now_ns, work.config.money.timezone)
    record_usage_txn(work.conn, work.business.msisdn, day, request.amount_minor)
    return move


def _complete_txn(work: Work, move: Move) -> None:
    response = transaction_object(work.conn, move, View.of(work.config), work.request)
    lifecycle.complete_txn(
        work.conn, work.request, response=response, object_reference=move.ref,
        now_ns=work.now_ns, move_id=move.id,
    )  # fmt: skip


def _pay_wallet(work: Work) -> None:
    operation = work.request.operation
    body = body_of(work)
    if body.creditParty is None:
        raise unknown_party("creditParty", "the account to pay is required")
    payee_msisdn = parse_wallet(
        body.creditParty, "creditParty", numbering(work.config.service.region)
    ).msisdn
    if payee_msisdn == work.business.msisdn:
        raise same_parties()
    amount_minor = parse_amount(body.amount, work.config.service.currency)
    found = paying_business_txn(work, body, payee_msisdn)
    payee = found.get(payee_msisdn)
    if payee is None:
        raise unknown_party("creditParty", "no such account")
    check_recipient_txn(work.conn, work.money.tariff, payee, amount_minor, _RECEIVERS[operation])
    payer = found[work.business.msisdn]
    _check_payer(work, payer, amount_minor)
    leg = Leg(payer.account_id, payee.account_id, amount_minor, TransferCode.DISBURSEMENT)
    request = MoveRequest(_KINDS[operation], payer.msisdn, payee.msisdn, amount_minor, [leg])
    move = _open_posted_txn(work, request)
    notifier = work.notifier()
    told = notifier.about(
        payee.msisdn,
        "api_received",
        move,
        business=work.business_label,
        when=notifier.when(),
        balance=notifier.balance(payee.account_id),
    )
    queue_sms_txn(work.conn, [told], work.now_ns)
    _complete_txn(work, move)


register_executor("disbursement")(_pay_wallet)
register_executor("transfer")(_pay_wallet)


@register_executor("billpay")
def _pay_bill(work: Work) -> None:
    body = body_of(work)
    if body.creditParty is None:
        raise unknown_party("creditParty", "the biller and account are required")
    target = parse_biller(body.creditParty, "creditParty")
    amount_minor = parse_amount(body.amount, work.config.service.currency)
    payer = paying_business_txn(work, body)[work.business.msisdn]
    biller = get_biller_txn(work.conn, target.code)
    if biller is None:
        raise unknown_party("creditParty", "no such serviceprovider")
    if not biller.active:
        raise rule_error("genericError", "this biller takes no payments now")
    if not biller.rule.accepts(target.account):
        raise unknown_party("creditParty", "consumerno is not an account of this biller")
    _check_due(work, target.code, target.account, biller.bills_only, amount_minor)
    _check_payer(work, payer, amount_minor)
    try:
        fee_minor = work.money.tariff.fee_minor("PAY", amount_minor, biller=biller.code)
    except NoBand:
        raise rule_error(
            "greaterThanTransactionMaxValue", "the amount is outside the biller's fee bands"
        ) from None
    legs = [Leg(payer.account_id, biller.account_id, amount_minor, TransferCode.BILL_PAYMENT)]
    if fee_minor:
        legs.append(Leg(payer.account_id, int(SystemAccount.FEE_INCOME), fee_minor,
                        TransferCode.FEE))  # fmt: skip
    request = MoveRequest(MoveKind.BILL, payer.msisdn, None, amount_minor, legs,
                          fee_minor=fee_minor, detail=move_detail(biller.code, target.account))  # fmt: skip
    move = _open_posted_txn(work, request)
    posted_notices(work.notifier(), move)  # the bill counts the payment (no SMS: no customer)
    _complete_txn(work, move)


def _check_due(work: Work, code: str, account: str, bills_only: bool, amount_minor: int) -> None:
    """A listed bill is never paid beyond what it still wants (counting payments waiting for
    their confirmation); a bills-only biller takes listed accounts only."""
    bill = get_bill_txn(work.conn, code, account, lock=True)
    if bill is None or bill.state is BillState.CLOSED:
        if bills_only:
            raise unknown_party("creditParty", "no open bill for this consumerno")
        return
    due_minor = bill.remaining_minor - pending_minor_txn(work.conn, code, account)
    if amount_minor > due_minor:
        raise rule_error(
            "overPaymentNotAllowed", "the amount is more than the bill still wants",
            due=str(max(0, due_minor)),
        )  # fmt: skip
