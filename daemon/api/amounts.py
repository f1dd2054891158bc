"""Amounts as the business API writes them, to and from integer minor units. The GSMA Mobile Money
API's `amount` is a string: no sign, no leading zeros, up to 18 whole digits and up to 4 decimals
("15.21", "0.5", "1000"). Inside, money is integer minor units of the currency (its ISO 4217
decimals, from Babel); a fraction the currency cannot hold is refused, never rounded.
"""

from __future__ import annotations

import re

import babel.numbers

from daemon.api.errors import validation_error
from daemon.commands.money import MAX_AMOUNT_MINOR

# The specification's pattern, plus a leading "-" so a negative amount is told as negativeValue.
_AMOUNT = re.compile(r"(?P<sign>-?)(?P<whole>0|[1-9][0-9]{0,17})(?:\.(?P<fraction>[0-9]{1,4}))?")
AMOUNT_MAX_CHARS = 23  # the specification's maxLength


def currency_decimals(currency: str) -> int:
    return babel.numbers.get_currency_precision(currency)


def parse_amount(text: str, currency: str, field: str = "amount") -> int:
    """Minor units of `text` in `currency`; ApiError(validation) naming `field` when it is not a
    positive amount the currency can hold (formatError) or is negative (negativeValue)."""
    match = _AMOUNT.fullmatch(text) if len(text) <= AMOUNT_MAX_CHARS + 1 else None
    if match is None:
        raise validation_error("formatError", field, f"{field}: not an amount such as 15.21")
    if match["sign"]:
        raise validation_error("negativeValue", field, f"{field}: must not be negative")
    decimals = currency_decimals(currency)
    fraction = match["fraction"] or ""
    kept, dropped = fraction[:decimals], fraction[decimals:]
    if dropped.strip("0"):
        raise validation_error(
            "formatError", field, f"{field}: {currency} has {decimals} decimal places"
        )
    minor = int(match["whole"]) * 10**decimals + int(kept.ljust(decimals, "0") or "0")
    if minor == 0:
        raise validation_error("formatError", field, f"{field}: must be more than zero")
    if minor > MAX_AMOUNT_MINOR:
        raise validation_error("formatError", field, f"{field}: too large")
    return minor


def format_amount(minor: int, currency: str) -> str:
    """The specification's form of `minor` units: "15.23" (always the currency's decimals)."""
    decimals = currency_decimals(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{decimals}d}"
