"""The transaction objects of the business API as the GSMA Mobile Money API 1.2 names them: the
request bodies (requestTransactionType, requestReversal), the transaction and reversal
representations (responseTransaction, responseReversal). Every optional field the specification
gives requestTransactionType is accepted, so an off-the-shelf client can pay; smscore acts on some,
stores the rest with the request, and parses but never keeps oneTimeCode (a credential) and the
KYC objects (smscore knows its customers itself; it keeps no personal data it does not use). A
field the specification does not have is refused (Model)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from daemon.api.models import MetadataItem, Model

# The specification's amount: a string, no sign, up to 18 whole digits and 4 decimals.
AMOUNT_PATTERN = r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[0-9])?$"
Amount = Annotated[str, StringConstraints(min_length=1, max_length=23, pattern=AMOUNT_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Text256 = Annotated[str, StringConstraints(max_length=256)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=256)]
DateTime = Annotated[str, StringConstraints(max_length=64)]  # ISO 8601, as the client wrote it

# The specification's harmonised transaction types (`type`); smscore creates the first four.
TransactionType = Literal[
    "billpay",
    "deposit",
    "disbursement",
    "transfer",
    "merchantpay",
    "inttransfer",
    "adjustment",
    "reversal",
    "withdrawal",
]
CREATED_TYPES = ("merchantpay", "disbursement", "transfer", "billpay")


class Party(Model):
    """One identifier of a party: msisdn, walletid; a biller's serviceprovider and consumerno."""

    key: str = Field(min_length=1, max_length=256)
    value: str = Field(min_length=1, max_length=256)


PartyArray = Annotated[list[Party], Field(min_length=1, max_length=10)]
Lei = Annotated[str, StringConstraints(max_length=20)]
SpecObject = Annotated[dict[str, Any], Field(max_length=50)]  # stored as sent (the body is bounded)


class Fee(Model):
    feeType: Text256
    feeAmount: Amount
    feeCurrency: Currency


class RequestingOrganisation(Model):
    requestingOrganisationIdentifierType: Literal["lei", "swiftbic", "organisationid"]
    requestingOrganisationIdentifier: Reference


class RequestTransaction(Model):
    """POST /transactions/type/{transactionType}: the transaction to create. The debit party of a
    disbursement, transfer or billpay is the business itself and may be left out; the credit
    party of a merchantpay is the business and may be left out."""

    amount: Amount
    currency: Currency
    creditParty: PartyArray | None = None
    debitParty: PartyArray | None = None
    requestingOrganisationTransactionReference: Text256 | None = None
    originalTransactionReference: Text256 | None = None
    subType: Text256 | None = None
    descriptionText: Annotated[str, StringConstraints(max_length=160)] | None = None
    servicingIdentity: Text256 | None = None
    requestDate: DateTime | None = None
    metadata: Annotated[list[MetadataItem], Field(max_length=20)] | None = None
    customData: Annotated[list[MetadataItem], Field(max_length=20)] | None = None
    fees: Annotated[list[Fee], Field(max_length=20)] | None = None  # the engine's own tariff rules
    geoCode: Text256 | None = None
    internationalTransferInformation: SpecObject | None = None
    requestingOrganisation: RequestingOrganisation | None = None
    requestingLei: Lei | None = None
    receivingLei: Lei | None = None
    oneTimeCode: Text256 | None = Field(default=None, exclude=True)
    senderKyc: SpecObject | None = Field(default=None, exclude=True)
    recipientKyc: SpecObject | None = Field(default=None, exclude=True)


class RequestReversal(Model):
    """POST /transactions/{transactionReference}/reversals. An amount, if given, must be the whole
    reversible amount: smscore reverses a payment in full or not at all."""

    type: Literal["reversal", "adjustment"]
    requestingOrganisationTransactionReference: Text256 | None = None
    subType: Text256 | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    descriptionText: Annotated[str, StringConstraints(max_length=160)] | None = None
    requestDate: DateTime | None = None
    metadata: Annotated[list[MetadataItem], Field(max_length=20)] | None = None
    customData: Annotated[list[MetadataItem], Field(max_length=20)] | None = None


class TransactionObject(Model):
    """responseTransaction: a transaction as stored (GET /transactions/{transactionReference}, and
    the final representation of a completed request)."""

    transactionReference: Reference
    transactionStatus: Reference
    type: TransactionType
    amount: Amount
    currency: Currency
    creditParty: PartyArray
    debitParty: PartyArray
    requestingOrganisationTransactionReference: Text256 | None = None
    originalTransactionReference: Text256 | None = None
    subType: Text256 | None = None
    descriptionText: Annotated[str, StringConstraints(max_length=160)] | None = None
    fees: Annotated[list[Fee], Field(min_length=1, max_length=20)] | None = None
    transactionReceipt: Text256 | None = None
    creationDate: DateTime | None = None
    modificationDate: DateTime | None = None
    requestDate: DateTime | None = None
    metadata: Annotated[list[MetadataItem], Field(max_length=20)] | None = None


class ReversalObject(Model):
    """responseReversal: the reversal a completed reversal request made."""

    transactionReference: Reference
    originalTransactionReference: Reference
    transactionStatus: Reference
    type: Literal["reversal", "adjustment"]
    amount: Amount | None = None
    currency: Currency | None = None
    creditParty: PartyArray | None = None
    debitParty: PartyArray | None = None
    requestingOrganisationTransactionReference: Text256 | None = None
    transactionReceipt: Text256 | None = None
    creationDate: DateTime | None = None
    modificationDate: DateTime | None = None
