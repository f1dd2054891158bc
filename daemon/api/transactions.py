"""The Transactions API: POST /transactions/type/{transactionType} (merchantpay, disbursement,
transfer, billpay), GET /transactions/{transactionReference}, POST
/transactions/{transactionReference}/reversals.

Creating is asynchronous, as the specification has it: the request is checked as far as it can be
without moving money (the body, the amount, the currency, the parties' form), accepted
(lifecycle.accept_txn: X-CorrelationID idempotency) and answered 202 with its request state; the
worker (daemon.api.worker) then runs it: daemon.api.payouts, merchantpay and reversal_requests.
The same X-CorrelationID with the same body and X-Callback-URL gets the same request's state back
(as it stands now); with another body or another (or no) X-Callback-URL, duplicateRequest: where
the result goes is part of what was asked, and a client is never left believing a new URL took.
An X-CorrelationID is printable ASCII (the specification's is a UUID), so it goes back in the
callback's header byte for byte.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from twisted.internet.defer import Deferred

from daemon.api import lifecycle, merchantpay, payouts, reversal_requests  # noqa: F401 (executors)
from daemon.api.amounts import parse_amount
from daemon.api.callback_urls import check_callback_url
from daemon.api.errors import ApiError, ErrorCategory, not_found, validation_error
from daemon.api.parties import parse_biller, parse_wallet
from daemon.api.principal import Business
from daemon.api.routing import ROUTER, Call, Header, Reply
from daemon.api.rules import same_parties
from daemon.api.supporting import RequestStateObject
from daemon.api.transaction_models import (
    CREATED_TYPES,
    RequestReversal,
    RequestTransaction,
    TransactionObject,
)
from daemon.api.transaction_view import View, transaction_object
from daemon.clock import NS_PER_S
from daemon.config import Config
from daemon.money.moves import find_move_by_ref_txn
from daemon.money.notices import numbering
from daemon.schema_api import CORRELATION_ID_MAX_CHARS

TAG = "Transactions"
CORRELATION_HEADER = Header(
    "X-CorrelationID",
    "The client's id of this request (idempotency): sent again with the same body, the same "
    "request's state comes back; with another body, duplicateRequest.",
)
CALLBACK_HEADER = Header(
    "X-Callback-URL",
    "Where the final representation (or the errorObject) is PUT when the request is done; "
    "without it, poll GET /requeststates/{serverCorrelationId}.",
)
ASYNC_HEADERS = (CORRELATION_HEADER, CALLBACK_HEADER)


def correlation_id(call: Call) -> str | None:
    found = call.header("X-CorrelationID")
    if found is None:
        return None
    if not 0 < len(found) <= CORRELATION_ID_MAX_CHARS:
        raise validation_error(
            "lengthError", "X-CorrelationID", f"X-CorrelationID: 1 to {CORRELATION_ID_MAX_CHARS} "
            "characters",
        )  # fmt: skip
    if not (found.isascii() and found.isprintable()) or " " in found:
        raise validation_error(
            "formatError", "X-CorrelationID", "X-CorrelationID: printable ASCII (a UUID)"
        )
    return found


def callback_url(call: Call) -> str | None:
    """X-Callback-URL, if it is one the engine would deliver to (daemon.api.callback_urls)."""
    found = call.header(CALLBACK_HEADER.name)
    return check_callback_url(found, call.env.config) if found is not None else None


def check_transaction(config: Config, kind: str, body: RequestTransaction) -> None:
    """What can be refused before anything moves: the type, the currency, the amount, the form of
    the parties and who they are to the business."""
    if kind not in CREATED_TYPES:
        raise ApiError(
            ErrorCategory.BUSINESS_RULE, "transactionTypeError",
            f"transactionType: one of {', '.join(CREATED_TYPES)}", {"transactionType": kind[:32]},
        )  # fmt: skip
    if body.currency != config.service.currency:
        raise validation_error(
            "currencyNotSupported", "currency", f"currency: amounts here are in "
            f"{config.service.currency}",
        )  # fmt: skip
    parse_amount(body.amount, body.currency)
    region = numbering(config.service.region)
    debit = parse_wallet(body.debitParty, "debitParty", region) if body.debitParty else None
    if kind == "merchantpay":
        if debit is None:
            raise validation_error(
                "mandatoryValueNotSupplied", "debitParty", "debitParty: the customer to ask"
            )
        credit = parse_wallet(body.creditParty, "creditParty", region) if body.creditParty else None
        if credit is not None and credit == debit:
            raise same_parties()
        return
    if body.creditParty is None:
        raise validation_error(
            "mandatoryValueNotSupplied", "creditParty", "creditParty: the account to pay"
        )
    if kind == "billpay":
        parse_biller(body.creditParty, "creditParty")
        return
    if parse_wallet(body.creditParty, "creditParty", region) == debit:
        raise same_parties()


def accept_txn(
    conn: Connection,
    call: Call,
    operation: str,
    body: dict,
    extra: dict[str, Any] | None = None,
    path: str | None = None,
) -> dict:
    """Accept the request; `path` is the one stored (default: the raw path as sent)."""
    business: Business = call.principal
    env = call.env
    url = callback_url(call)
    accepted = lifecycle.accept_txn(
        conn, business_id=business.id, client_correlation_id=correlation_id(call),
        operation=operation, method=call.operation.method,
        path=path or call.request.path.decode(),
        body=body, callback_url=url, now_ns=env.now_ns(),
        retention_days=env.config.api.idempotency_days, **(extra or {}),
    )  # fmt: skip
    if accepted.replay and accepted.request.callback_url != url:
        raise ApiError(
            ErrorCategory.BUSINESS_RULE, "duplicateRequest",
            "this X-CorrelationID was used with another X-Callback-URL",
            {"X-CorrelationID": accepted.request.client_correlation_id or ""},
        )  # fmt: skip
    return lifecycle.request_state(accepted.request, env.config.api.poll_limit)


@ROUTER.op(
    "POST",
    "/transactions/type/{transactionType}",
    "transactionstypetransactionTypePUT",  # sic: the specification's operationId
    summary="Create a transaction",
    tag=TAG,
    body=RequestTransaction,
    responses={202: RequestStateObject},
    auth="business",
    headers=ASYNC_HEADERS,
    description="merchantpay (a customer as debitParty approves by SMS with their PIN), "
    "disbursement (to a customer), transfer (to any wallet), billpay (creditParty: "
    "serviceprovider and consumerno). Accepted, then done by the worker.",
)
def create_transaction(call: Call) -> Deferred:
    kind = call.params["transactionType"]
    body: RequestTransaction = call.body
    check_transaction(call.env.config, kind, body)
    extra: dict[str, Any] = {}
    if kind == "merchantpay":
        timeout_ns = int(call.env.config.api.approval_timeout_s * NS_PER_S)
        extra["expires_at_ns"] = call.env.now_ns() + timeout_ns
    stored = body.model_dump(mode="json", exclude_none=True)
    accepted = call.env.db.run_interaction("api.transaction", accept_txn, call, kind, stored, extra)
    return accepted.addCallback(lambda state: Reply(202, state))


def own_move_txn(conn: Connection, business: Business, ref: str):
    """The business's own transaction `ref` (its wallet paid or was paid); 404 otherwise."""
    found = find_move_by_ref_txn(conn, ref)
    if found is None or not found.involves(business.msisdn):
        raise not_found("transactionReference", ref[:64])
    return found


def _view_txn(conn: Connection, business: Business, ref: str, config: Config) -> dict:
    move = own_move_txn(conn, business, ref)
    return transaction_object(conn, move, View.of(config), viewer_id=business.id)


@ROUTER.op(
    "GET",
    "/transactions/{transactionReference}",
    "transactionsTransactionReferenceGET",
    summary="View a transaction",
    tag=TAG,
    responses={200: TransactionObject},
    auth="business",
)
def view_transaction(call: Call) -> Deferred:
    ref = call.params["transactionReference"]
    found = call.env.db.run_interaction(
        "api.transaction.view", _view_txn, call.principal, ref, call.env.config
    )
    return found.addCallback(lambda body: Reply(200, body))


def reversal_path(ref: str) -> str:
    return f"/transactions/{ref}/reversals"


def _reverse_txn(conn: Connection, call: Call, ref: str, body: dict) -> dict:
    own_move_txn(conn, call.principal, ref)
    # The path stored names the reference as validated (decoded), which the worker reads back
    # (reversal_requests.original_ref), however the client percent-encoded it.
    return accept_txn(conn, call, "reversal", body, path=reversal_path(ref))


@ROUTER.op(
    "POST",
    "/transactions/{transactionReference}/reversals",
    "transactionsTransactionReferenceReversalsPOST",
    summary="Create a reversal",
    tag=TAG,
    body=RequestReversal,
    responses={202: RequestStateObject},
    auth="business",
    headers=ASYNC_HEADERS,
    description="A payment the business received is refunded at once; one it made is held from "
    "the recipient and completes when staff approve (requestDeclined if they reject).",
)
def create_reversal(call: Call) -> Deferred:
    ref = call.params["transactionReference"]
    body: RequestReversal = call.body
    stored = body.model_dump(mode="json", exclude_none=True)
    accepted = call.env.db.run_interaction("api.reversal", _reverse_txn, call, ref, stored)
    return accepted.addCallback(lambda state: Reply(202, state))
