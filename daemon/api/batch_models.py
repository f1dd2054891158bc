"""The bulk disbursement objects of the GSMA Mobile Money API 1.2, named as the specification names
them: requestBatchTransaction (its transactions each a requestTransaction of type disbursement),
the generic patch that approves or rejects a batch, responseBatchTransaction,
responseBatchTransactionRejection and responseBatchTransactionCompletion (requestStateObject is
daemon.api.supporting's)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel

from daemon.api.models import MetadataItem, Model
from daemon.api.transaction_models import Party  # a single transaction's: one schema

# The specification's amount: no sign, no leading zeros, up to 4 decimals (daemon.api.amounts
# parses it into minor units of the currency).
Amount = Annotated[str, Field(min_length=1, max_length=23, examples=["15.23"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["KES"])]
Text256 = Annotated[str, Field(max_length=256)]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
MAX_BATCH_ITEMS = 999_999  # the specification's maxItems; [api] batch_max_items is the real bound


PartyList = Annotated[list[Party], Field(min_length=1, max_length=10)]
KeyValues = Annotated[list[MetadataItem], Field(max_length=20)]


class BatchTransactionItem(Model):
    """One transaction of a batch: a disbursement from the business's own account (debitParty may
    be left out; given, it must name the business) to the customer of creditParty."""

    type: Literal["disbursement"]
    amount: Amount
    currency: Currency
    creditParty: PartyList
    debitParty: PartyList | None = None
    requestingOrganisationTransactionReference: Text256 | None = None
    descriptionText: Annotated[str, Field(max_length=160)] | None = None
    metadata: KeyValues | None = None


class RequestBatchTransaction(Model):
    """requestBatchTransaction. A batch is always created in batchStatus "created": only another
    key of the business (a checker) can approve it."""

    transactions: Annotated[
        list[BatchTransactionItem], Field(min_length=1, max_length=MAX_BATCH_ITEMS)
    ]
    batchStatus: Literal["created"] | None = None
    batchTitle: Text256 | None = None
    batchdescription: Text256 | None = None
    requestDate: DateTime | None = None
    customData: KeyValues | None = None


class RequestGenericPatch(Model):
    """requestGenericPatch. Only `replace` of `/batchStatus` is understood: value "approved" (the
    specification's), or "rejected" (smscore's: the batch is not paid, every item is rejected)."""

    op: Literal["replace", "add"]
    path: Text256
    value: Text256


class RequestGenericPatchArray(
    RootModel[Annotated[list[RequestGenericPatch], Field(min_length=1, max_length=10)]]
):
    """requestGenericPatchArray."""


class ResponseBatchTransaction(Model):
    """responseBatchTransaction. approvalDate and completionDate (required by the specification)
    are given once they exist. batchStatus keeps the specification's three values: a batch its
    checker rejected is "completed" with every item rejected (customData batchDecision
    "rejected"). customData carries the amounts: totalAmount, completedAmount, rejectedAmount,
    pendingAmount, currency, and pendingCount."""

    batchId: Annotated[str, Field(min_length=1, max_length=256)]
    batchStatus: Literal["created", "approved", "completed"]
    approvalDate: DateTime | None = None
    completionDate: DateTime | None = None
    batchTitle: Text256 | None = None
    batchdescription: Text256 | None = None
    processingFlag: bool
    completedCount: Annotated[int, Field(ge=0)]
    rejectionCount: Annotated[int, Field(ge=0)]
    parsingSuccessCount: Annotated[int, Field(ge=0)]
    creationDate: DateTime
    modificationDate: DateTime | None = None
    requestDate: DateTime | None = None
    customData: KeyValues | None = None


class ResponseBatchTransactionRejection(Model):
    """responseBatchTransactionRejection: an item that was not paid, and why."""

    transactionReference: Text256 | None = None
    requestingOrganisationTransactionReference: Text256 | None = None
    creditParty: PartyList
    debitParty: PartyList
    rejectionReason: Annotated[str, Field(min_length=1, max_length=256)]
    rejectionDate: DateTime
    customData: KeyValues | None = None  # errorCategory and errorCode of the item's error


class ResponseBatchTransactionCompletion(Model):
    """responseBatchTransactionCompletion: an item that was paid, with its transaction."""

    transactionReference: Annotated[str, Field(min_length=1, max_length=256)]
    requestingOrganisationTransactionReference: Text256 | None = None
    creditParty: PartyList
    debitParty: PartyList
    completionDate: DateTime
    link: Annotated[str, Field(min_length=1, max_length=256)]
    customData: KeyValues | None = None


class ResponseBatchTransactionRejectionList(RootModel[list[ResponseBatchTransactionRejection]]):
    """A page of rejections (X-Records-Available-Count / X-Records-Returned-Count headers)."""


class ResponseBatchTransactionCompletionList(RootModel[list[ResponseBatchTransactionCompletion]]):
    """A page of completions (X-Records-Available-Count / X-Records-Returned-Count headers)."""


class PageQuery(Model):
    """limit and offset (the specification's pagination: 50 records unless told), and the
    fromDateTime / toDateTime bounds on when each record was completed or rejected."""

    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    offset: int = 0
    fromDateTime: DateTime | None = None
    toDateTime: DateTime | None = None
