"""What makes a bulk batch acceptable, and who may decide it (no database here).

A batch is refused whole, naming the first item at fault: every item a disbursement in the
service's currency, its amount a positive amount the currency can hold, its creditParty a
wallet (msisdn or walletid, as a single disbursement's), its debitParty (if given) the business; at most
`[api] batch_max_items` items and `[api] batch_max_total_minor` in total. Whether each customer can
receive, and the business can pay, is each item's own disbursement's business when it runs: an item
refused then is a rejection, and the other items still pay.

Maker/checker: a key of scope maker (or both) creates a batch; a key of scope checker (or both)
approves or rejects it, and never the key that created it.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.api.amounts import format_amount, parse_amount
from daemon.api.batch_models import (
    BatchTransactionItem,
    RequestBatchTransaction,
    RequestGenericPatchArray,
)
from daemon.api.errors import ApiError, ErrorCategory, validation_error
from daemon.api.parties import parse_wallet
from daemon.api.principal import Business, KeyScope
from daemon.api.rules import unknown_party
from daemon.commands.msisdn import Numbering
from daemon.config import Config

DISBURSEMENT_PATH = "/transactions/type/disbursement"  # what each item's request is, as if POSTed
STATUS_PATH = "/batchStatus"
APPROVED = "approved"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class NewBatch:
    items: list[dict]  # each item's disbursement request body, debitParty the business
    amounts_minor: list[int]
    currency: str
    title: str
    description: str

    @property
    def total_minor(self) -> int:
        return sum(self.amounts_minor)


def new_batch(body: RequestBatchTransaction, business: Business, config: Config) -> NewBatch:
    """The batch as its items' requests will be; ApiError naming the first problem."""
    limit = config.api.batch_max_items
    if len(body.transactions) > limit:
        raise validation_error(
            "lengthError", "transactions", f"transactions: at most {limit} items in one batch"
        )
    currency = config.service.currency
    numbering = Numbering(config.service.region)
    items, amounts = [], []
    for index, item in enumerate(body.transactions):
        amounts.append(_item_amount(item, index, currency))
        items.append(_item_body(item, index, business, numbering))
    batch = NewBatch(items, amounts, currency, body.batchTitle or "", body.batchdescription or "")
    if batch.total_minor > config.api.batch_max_total_minor:
        most = format_amount(config.api.batch_max_total_minor, currency)
        raise ApiError(
            ErrorCategory.BUSINESS_RULE,
            "greaterThanTransactionMaxValue",
            f"the batch's total is over the {most} {currency} a batch may pay",
            {"field": "transactions", "maximum": most},
        )
    return batch


def _item_amount(item: BatchTransactionItem, index: int, currency: str) -> int:
    where = f"transactions.{index}"
    if item.currency != currency:
        raise validation_error(
            "currencyNotSupported", f"{where}.currency", f"{where}.currency: only {currency}"
        )
    return parse_amount(item.amount, currency, f"{where}.amount")


def _item_body(
    item: BatchTransactionItem, index: int, business: Business, numbering: Numbering
) -> dict:
    """The item as a single disbursement's body; its parties read as a single one's are
    (daemon.api.parties: msisdn or walletid)."""
    where = f"transactions.{index}"
    payee = parse_wallet(item.creditParty, f"{where}.creditParty", numbering)
    if payee.msisdn == business.msisdn:
        raise ApiError(
            ErrorCategory.BUSINESS_RULE,
            "samePartiesError",
            f"{where}: the business cannot pay itself",
            {"field": f"{where}.creditParty"},
        )
    if item.debitParty is not None:
        payer = parse_wallet(item.debitParty, f"{where}.debitParty", numbering)
        if payer.msisdn != business.msisdn:
            raise unknown_party(f"{where}.debitParty", "a batch pays from the business's account")
    body = item.model_dump(mode="json", exclude_none=True, exclude={"type"})  # in the path
    body["debitParty"] = [{"key": "msisdn", "value": business.msisdn}]
    return body


def decision(body: RequestGenericPatchArray) -> str:
    """approved or rejected, from the patch's operations (the last one on /batchStatus)."""
    wanted = None
    for operation in body.root:
        if operation.op != "replace" or operation.path != STATUS_PATH:
            raise validation_error(
                "formatError", "path", f"only replace of {STATUS_PATH} is supported"
            )
        wanted = operation.value
    if wanted not in (APPROVED, REJECTED):
        raise validation_error("formatError", "value", f"{STATUS_PATH}: {APPROVED} or {REJECTED}")
    return wanted


def require_maker(business: Business) -> None:
    if business.key_scope not in (KeyScope.MAKER, KeyScope.BOTH):
        raise ApiError(
            ErrorCategory.AUTHORISATION,
            "clientAuthorisationError",
            "this API key may approve batches, not create them (scope checker)",
        )


def require_checker(business: Business, maker_key_id: str) -> None:
    if business.key_scope not in (KeyScope.CHECKER, KeyScope.BOTH):
        raise ApiError(
            ErrorCategory.AUTHORISATION,
            "clientAuthorisationError",
            "this API key may create batches, not approve or reject them (scope maker)",
        )
    if business.key_id == maker_key_id:
        raise ApiError(
            ErrorCategory.AUTHORISATION,
            "clientAuthorisationError",
            "the key that created a batch cannot approve or reject it: another key must",
        )
