"""Amounts as people type them in an SMS, to and from integer minor units (2 decimals). No floats.

Accepted: `1000`, `1,000`, `1000.5`, `1,000.50`, optionally with a currency prefix (`KES500`,
`Ksh 500` is two words and is not) or the East African `/=` or `/-` suffix (`500/=`).
"""

import re

DECIMALS = 2
MINOR_PER_MAJOR = 10**DECIMALS
# Far beyond any wallet limit, far below the ledger's int64: anything larger is a typo.
MAX_AMOUNT_MINOR = 10**14
_MAX_WRITTEN_CHARS = 32

_AMOUNT = re.compile(
    r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<fraction>[0-9]+))?",
)
_PREFIX = re.compile(r"^(?:KES|KSH|KSHS|USD|TZS|UGX)\.?", re.IGNORECASE)
_SUFFIXES = ("/=", "/-")


class MoneyError(ValueError):
    """Not an amount we accept; `reason` names the rule broken (for the reply)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_money_minor(written: str, max_minor: int = MAX_AMOUNT_MINOR) -> int:
    """Minor units of a written amount; MoneyError(reason) if it is not a positive, sane amount."""
    text = written.strip()
    if len(text) > _MAX_WRITTEN_CHARS:
        raise MoneyError("too_large")
    text = _PREFIX.sub("", text, count=1)
    for suffix in _SUFFIXES:
        text = text.removesuffix(suffix)
    if text.startswith("-"):
        raise MoneyError("negative")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise MoneyError("not_a_number")
    fraction = match["fraction"] or ""
    if len(fraction) > DECIMALS:
        raise MoneyError("too_many_decimals")
    whole = int(match["whole"].replace(",", ""))
    minor = whole * MINOR_PER_MAJOR + int(fraction.ljust(DECIMALS, "0"))
    if minor == 0:
        raise MoneyError("zero")
    if minor > max_minor:
        raise MoneyError("too_large")
    return minor


def format_amount(minor: int) -> str:
    """`1,234.50` for 123450 (always two decimals, thousands grouped)."""
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), MINOR_PER_MAJOR)
    return f"{sign}{whole:,}.{fraction:0{DECIMALS}d}"


def format_money(minor: int, currency: str) -> str:
    """`KES 1,234.50` for 123450 KES."""
    return f"{currency} {format_amount(minor)}"
