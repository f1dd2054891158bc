"""The kinds of input a menu step may ask for: the SMS commands' argument types (daemon.commands.types
and the money types), each with what the engine needs around it: the value as the command text
carries it, the value as a screen shows it, the longest a screen may show it (so a menu's screens
can be measured when it is loaded) and the reasons its type may refuse a value (their texts are
the catalogues' `reason_<reason>`, the same as the SMS replies)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from daemon.commands.errors import ArgValueError
from daemon.commands.money import format_amount, format_money, parse_money_minor
from daemon.commands.msisdn import display_msisdn
from daemon.commands.types import MONEY, MSISDN, PIN, REFERENCE, TEXT, WORD, ArgType, ParseEnv
from daemon.money.arg_types import AGENT, AgentRef
from daemon.money.payment_types import TILL

NAME_MAX_CHARS = 20  # a described name (JOHN D, a shop, a biller) as a screen shows it
TEXT_SHOWN_MAX_CHARS = 40
_WORST_AMOUNT = "KES 1,000,000,000.00"
_WORST_NUMBER = "+255 712 345 678"  # the longest a number is displayed (international format)
_BILLER = re.compile(r"[A-Za-z0-9]{2,16}")

Describe = Callable[[str, str], "str | None"]


class BillerType(ArgType):
    """A biller's number as PAY takes it (its first word): 2 to 16 letters or digits."""

    label = "arg_biller"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        if not _BILLER.fullmatch(words[pos]):
            raise ArgValueError("biller_format")
        return words[pos].upper(), pos + 1


@dataclass(frozen=True, slots=True)
class ArgKind:
    """One kind of menu input. `canonical` turns the type's value into the text the command gets;
    `shown` that text into what a screen shows (`describe` may name the party behind it)."""

    name: str
    type: ArgType
    reasons: tuple[str, ...]  # every reason the type may refuse with (reason_<reason> keys)
    canonical: Callable[[object], str]
    shown_max_chars: int

    @property
    def secret(self) -> bool:
        return self.type.secret

    @property
    def takes_zero(self) -> bool:
        """ "0" is a value of this kind (a reference, a word): on its screen 0 is not Back."""
        try:
            self.type.take(["0"], 0, ParseEnv())
        except ArgValueError:
            return False
        return True

    def worst_shown(self) -> str:
        return "W" * self.shown_max_chars


def _named(kind: str, value: str, shown: str, describe: Describe) -> str:
    name = describe(kind, value)
    return f"{name.strip()[:NAME_MAX_CHARS]} {shown}" if name else shown


def _number(value: str) -> str:
    return value.lstrip("+")


def _amount_canonical(minor: object) -> str:
    return format_amount(int(minor)).replace(",", "")  # type: ignore[call-overload]


def _agent_canonical(ref: object) -> str:
    assert isinstance(ref, AgentRef)
    return ref.agent_number or f"+{ref.msisdn}"


PHONE_REASONS = ("not_digits", "wrong_length", "too_long", "foreign", "invalid")
AMOUNT_REASONS = ("not_a_number", "too_many_decimals", "zero", "negative", "too_large")
_NAMED_NUMBER = NAME_MAX_CHARS + 1 + len(_WORST_NUMBER)

KINDS: dict[str, ArgKind] = {
    kind.name: kind
    for kind in (
        ArgKind("phone", MSISDN, PHONE_REASONS, lambda v: f"+{v}", _NAMED_NUMBER),
        ArgKind("amount", MONEY, AMOUNT_REASONS, _amount_canonical, len(_WORST_AMOUNT)),
        ArgKind("pin", PIN, ("pin_format",), str, 0),
        ArgKind("reference", REFERENCE, ("reference_format",), str, 20),
        ArgKind("account", REFERENCE, ("reference_format",), str, 20),
        ArgKind("word", WORD, (), str, 20),
        ArgKind("text", TEXT, ("text_too_long",), str, TEXT_SHOWN_MAX_CHARS),
        ArgKind("agent", AGENT, ("agent_format",), _agent_canonical, _NAMED_NUMBER),
        ArgKind("till", TILL, ("till_format",), str, NAME_MAX_CHARS + 11),
        ArgKind("biller", BillerType(), ("biller_format",), str, NAME_MAX_CHARS + 17),
    )
}


def shown(kind: ArgKind, value: str, env: ParseEnv, currency: str, describe: Describe) -> str:
    """An input's value (its canonical text) as a screen shows it, at most kind.shown_max_chars."""
    if kind.name == "amount":
        minor = parse_money_minor(value)
        return format_money(minor, currency) if currency else format_amount(minor)
    if kind.name in ("phone", "agent") and value.startswith("+"):
        number = display_msisdn(_number(value), env.numbering)
        return _named(kind.name, _number(value), number, describe)[: kind.shown_max_chars]
    if kind.name in ("agent", "till", "biller"):
        return _named(kind.name, value, value, describe)[: kind.shown_max_chars]
    if len(value) > kind.shown_max_chars:
        return value[: kind.shown_max_chars - 3] + "..."
    return value
