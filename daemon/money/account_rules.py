"""A biller's rule for its account numbers: a small typed grammar, checked before a PAY is priced so
that a mistyped number is refused with what the number should look like.

    digits:8            exactly 8 digits
    digits:6-10         6 to 10 digits
    digits:8,luhn       8 digits, the last a Luhn check digit (catches any one digit mistyped)
    alnum:4-12          4 to 12 letters or digits
    regex:[A-Z]{2}\\d{6}  the whole account matches the pattern (anything after "regex:")

Accounts are compared upper case (as the SMS parser gives them). A bad rule is an AccountRuleError
whose message names the rule and the problem, on one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ACCOUNT_MAX_CHARS = 20  # the longest account an SMS can carry (daemon.commands.types.REFERENCE)
RULE_MAX_CHARS = 128  # billers.account_rule
_LENGTHS = re.compile(r"(?P<low>\d{1,2})(?:-(?P<high>\d{1,2}))?")
_ALNUM = re.compile(r"[A-Z0-9]+")


class AccountRuleError(ValueError):
    """A rule that cannot be parsed; the message is one line naming the rule and the problem."""


class RuleKind(StrEnum):
    DIGITS = "digits"
    ALNUM = "alnum"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class AccountRule:
    kind: RuleKind
    min_chars: int = 1
    max_chars: int = ACCOUNT_MAX_CHARS
    luhn: bool = False
    pattern: re.Pattern[str] | None = None
    text: str = ""  # the rule as written (and stored)

    def accepts(self, account: str) -> bool:
        account = account.upper()
        if not 0 < len(account) <= ACCOUNT_MAX_CHARS:
            return False
        if self.kind is RuleKind.REGEX:
            assert self.pattern is not None
            return self.pattern.fullmatch(account) is not None
        if not self.min_chars <= len(account) <= self.max_chars:
            return False
        if self.kind is RuleKind.DIGITS:
            return (
                account.isascii() and account.isdigit() and (not self.luhn or luhn_valid(account))
            )
        return _ALNUM.fullmatch(account) is not None

    def only_check_digit_wrong(self, account: str) -> bool:
        """The account has the rule's shape but its Luhn check digit does not match: a digit was
        mistyped (or two swapped), which the reply says rather than repeating the shape."""
        return (
            self.kind is RuleKind.DIGITS
            and self.luhn
            and self.min_chars <= len(account) <= self.max_chars
            and account.isascii()
            and account.isdigit()
            and not luhn_valid(account)
        )

    def description(self) -> tuple[str, dict[str, int]]:
        """What an account must look like, as a replies key and its fields ("8 digits")."""
        if self.kind is RuleKind.REGEX:
            return "bill_rule_pattern", {}
        if self.min_chars == self.max_chars:
            return f"bill_rule_{self.kind.value}", {"count": self.min_chars}
        return f"bill_rule_{self.kind.value}_range", {"low": self.min_chars, "high": self.max_chars}


def parse_rule(text: str) -> AccountRule:
    """The rule written as `text`; AccountRuleError naming the problem."""
    written = text.strip()
    if not written or len(written) > RULE_MAX_CHARS:
        raise _error(text, f"write 1 to {RULE_MAX_CHARS} characters, e.g. digits:8,luhn")
    kind_word, colon, spec = written.partition(":")
    try:
        kind = RuleKind(kind_word.strip().lower())
    except ValueError:
        raise _error(text, "starts with digits:, alnum: or regex:") from None
    if not colon or not spec.strip():
        raise _error(text, f"{kind.value}: needs what follows the colon, e.g. {kind.value}:8")
    if kind is RuleKind.REGEX:
        return AccountRule(kind, pattern=_pattern(text, spec), text=written)
    lengths, *options = (part.strip().lower() for part in spec.split(","))
    low, high = _lengths(text, lengths)
    luhn = _options(text, kind, options)
    return AccountRule(kind, low, high, luhn, text=written)


def _pattern(text: str, spec: str) -> re.Pattern[str]:
    try:
        return re.compile(spec)
    except re.error as exc:
        raise _error(text, f"not a regular expression ({exc})") from None


def _lengths(text: str, written: str) -> tuple[int, int]:
    found = _LENGTHS.fullmatch(written)
    if found is None:
        raise _error(text, f"length {written!r}: write N or N-M, e.g. 8 or 6-10")
    low = int(found["low"])
    high = int(found["high"] or low)
    if not 1 <= low <= high <= ACCOUNT_MAX_CHARS:
        raise _error(text, f"length {written!r}: from 1 to {ACCOUNT_MAX_CHARS}, shortest first")
    return low, high


def _options(text: str, kind: RuleKind, options: list[str]) -> bool:
    luhn = False
    for option in options:
        if option != "luhn":
            raise _error(text, f"unknown option {option!r} (the only one is luhn)")
        if kind is not RuleKind.DIGITS:
            raise _error(text, "luhn is for digits: rules")
        luhn = True
    return luhn


def _error(text: str, problem: str) -> AccountRuleError:
    return AccountRuleError(f"account rule {text[:RULE_MAX_CHARS]!r}: {problem}")


# --- the Luhn check digit (ISO/IEC 7812): any one digit changed, or most neighbours swapped, fails


def _luhn_sum(digits: str, double_first: bool) -> int:
    """The Luhn sum of `digits` read right to left, doubling every second one from the right
    (starting with the rightmost when `double_first`)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if (position % 2 == 0) == double_first:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total


def luhn_check_digit(payload: str) -> str:
    """The digit to append to `payload` (digits) to make a valid Luhn number."""
    return str(-_luhn_sum(payload, double_first=True) % 10)


def luhn_valid(number: str) -> bool:
    return (
        len(number) > 1
        and number.isascii()
        and number.isdigit()
        and _luhn_sum(number, double_first=False) % 10 == 0
    )
