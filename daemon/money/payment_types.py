"""Argument types of the payment commands. PAY takes either a bill (biller, account, amount) or the
code of a request to pay; BUY an amount and, optionally, the number the airtime is for. Both come
before the PIN, which the registry keeps as the last word."""

from __future__ import annotations

import re
from dataclasses import dataclass

from daemon.commands.errors import ArgValueError
from daemon.commands.msisdn import is_mobile
from daemon.commands.types import MONEY, MSISDN, REFERENCE, ArgType, ParseEnv

_BILLER = re.compile(r"[A-Za-z0-9]{2,16}")
_TILL = re.compile(r"[0-9]{5,10}")
REQUEST_CODE_CHARS = 5
_REQUEST_CODE = re.compile(rf"[A-Za-z]\d{{{REQUEST_CODE_CHARS - 1}}}")  # R4821: never a PIN


@dataclass(frozen=True, slots=True)
class BillTarget:
    biller: str  # upper case
    account: str  # upper case, as ReferenceType gives it
    amount_minor: int


@dataclass(frozen=True, slots=True)
class RequestTarget:
    code: str  # upper case


@dataclass(frozen=True, slots=True)
class AirtimeOrder:
    amount_minor: int
    msisdn: str | None  # None: for the buyer's own number


def _part(kind: ArgType, words: list[str], pos: int, env: ParseEnv, label: str) -> tuple:
    """One part of a composite argument; a refusal names that part and its word."""
    try:
        return kind.take(words, pos, env)
    except ArgValueError as exc:
        raise ArgValueError(exc.reason, at=pos, label=label) from None


class PayTargetType(ArgType):
    """`<biller> <account> <amount>` or a request's code: the word count tells them apart."""

    label = "arg_pay_target"
    takes_rest = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[object, int]:
        given = words[pos:]
        if len(given) == 1:
            if not _REQUEST_CODE.fullmatch(given[0]):
                raise ArgValueError("pay_format")
            return RequestTarget(given[0].upper()), pos + 1
        if len(given) != 3 or not _BILLER.fullmatch(given[0]):
            raise ArgValueError("pay_format")
        account, _ = _part(REFERENCE, words, pos + 1, env, "arg_account")
        amount_minor, end = _part(MONEY, words, pos + 2, env, "arg_amount")
        return BillTarget(given[0].upper(), account, amount_minor), end


class TillType(ArgType):
    label = "arg_till"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        if not _TILL.fullmatch(words[pos]):
            raise ArgValueError("till_format")
        return words[pos], pos + 1


class AirtimeOrderType(ArgType):
    """An amount, then the phone number the airtime is for (any way a number may be written)."""

    label = "arg_airtime_order"
    takes_rest = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[AirtimeOrder, int]:
        amount_minor, end = _part(MONEY, words, pos, env, "arg_amount")
        if end == len(words):
            return AirtimeOrder(amount_minor, None), end
        msisdn, after = _part(MSISDN, words, end, env, "arg_phone")
        if not is_mobile(msisdn):
            raise ArgValueError("not_mobile", at=end, label="arg_phone")
        if after != len(words):
            raise ArgValueError("buy_format", at=after)
        return AirtimeOrder(amount_minor, msisdn), after


PAY_TARGET = PayTargetType()
TILL = TillType()
AIRTIME_ORDER = AirtimeOrderType()
