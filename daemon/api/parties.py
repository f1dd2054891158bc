"""Parties of a transaction as the GSMA Mobile Money API writes them (arrays of key/value
identifiers) to and from smscore's: a wallet, named by `msisdn` (any usual way of writing the
number of the region) or `walletid` (its ledger account id), or a biller's account, named by
`serviceprovider` (the biller's code) and `consumerno` (the account number at the biller;
`accountid` is taken as the same).

Parsing is pure (no database): the worker parses the stored body again. Every identifier in one
array must name the same party; an unknown key is refused rather than ignored (money must never
go to a party the client did not mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daemon.api.errors import validation_error
from daemon.api.transaction_models import Party
from daemon.chart import WALLET_ID_BASE
from daemon.commands.errors import ArgValueError
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.commands.types import REFERENCE, ParseEnv

WALLET_KEYS = ("msisdn", "walletid")
BILLER_KEY = "serviceprovider"
ACCOUNT_KEYS = ("consumerno", "accountid")
_WALLET_ID_MAX = WALLET_ID_BASE + 10**15 - 1


@dataclass(frozen=True, slots=True)
class WalletParty:
    msisdn: str


@dataclass(frozen=True, slots=True)
class BillerParty:
    code: str  # upper case, as billers are stored
    account: str


def _msisdn(value: str, field: str, numbering: Numbering) -> str:
    try:
        return normalize_msisdn(value, numbering)
    except MsisdnError as exc:
        raise validation_error(
            "formatError", field, f"{field}: {value[:32]!r} is not a number here ({exc.reason})"
        ) from None


def _wallet_id(value: str, field: str) -> str:
    digits = value.isascii() and value.isdigit() and len(value) <= 20  # "²".isdigit() is True
    if not digits or not WALLET_ID_BASE < int(value) <= _WALLET_ID_MAX:
        raise validation_error("formatError", field, f"{field}: walletid is not a wallet's id")
    return str(int(value) - WALLET_ID_BASE)


def _keys(parties: Sequence[Party], field: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for party in parties:
        key = party.key.lower()
        if key in found and found[key] != party.value:
            raise validation_error("formatError", field, f"{field}: two values for {key}")
        found[key] = party.value
    return found


def parse_wallet(parties: Sequence[Party], field: str, numbering: Numbering) -> WalletParty:
    """The wallet the array names; ApiError(validation) if it names none, another kind of party,
    or two different wallets."""
    keys = _keys(parties, field)
    unknown = sorted(set(keys) - set(WALLET_KEYS))
    if unknown:
        raise validation_error(
            "formatError", field, f"{field}: key {unknown[0][:32]!r} is not msisdn or walletid"
        )
    named = set()
    if "msisdn" in keys:
        named.add(_msisdn(keys["msisdn"], field, numbering))
    if "walletid" in keys:
        named.add(_wallet_id(keys["walletid"], field))
    if len(named) != 1:
        raise validation_error("formatError", field, f"{field}: msisdn and walletid disagree")
    return WalletParty(named.pop())


def parse_biller(parties: Sequence[Party], field: str) -> BillerParty:
    """A biller's account: serviceprovider (the biller's code) and consumerno (the account)."""
    keys = _keys(parties, field)
    unknown = sorted(set(keys) - {BILLER_KEY, *ACCOUNT_KEYS})
    if unknown:
        raise validation_error(
            "formatError", field, f"{field}: key {unknown[0][:32]!r} is not serviceprovider or "
            "consumerno",
        )  # fmt: skip
    accounts = {keys[key].strip() for key in ACCOUNT_KEYS if key in keys}
    if BILLER_KEY not in keys:
        raise validation_error(
            "mandatoryValueNotSupplied", field, f"{field}: serviceprovider is required"
        )
    if len(accounts) != 1:
        raise validation_error(
            "mandatoryValueNotSupplied", field, f"{field}: one consumerno is required"
        )
    return BillerParty(keys[BILLER_KEY].strip().upper(), _account(accounts.pop(), field))


def _account(text: str, field: str) -> str:
    """The account as SMS PAY names it (daemon.commands.types.REFERENCE: upper case), so a bill and
    its biller's rules see the same account whichever way it was paid."""
    try:
        return REFERENCE.take([text], 0, ParseEnv())[0]
    except ArgValueError:
        raise validation_error(
            "formatError", field, f"{field}: consumerno is letters, digits, '-' and '_', up to 20"
        ) from None


def wallet_parties(msisdn: str) -> list[dict[str, str]]:
    """A wallet as the API shows it: its number (with +) and its wallet id."""
    return [
        {"key": "msisdn", "value": f"+{msisdn}"},
        {"key": "walletid", "value": str(WALLET_ID_BASE + int(msisdn))},
    ]


def biller_parties(code: str, account: str) -> list[dict[str, str]]:
    return [{"key": BILLER_KEY, "value": code}, {"key": "consumerno", "value": account}]
