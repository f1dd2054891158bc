"""Typed command arguments. Each type takes one or more words starting at a position and returns
(value, position after them), or raises ArgValueError(reason). Types hold no configuration; the
numbering plan and limits come in a ParseEnv at parse time, so commands can be declared at import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from daemon.commands.errors import ArgValueError
from daemon.commands.money import MAX_AMOUNT_MINOR, MoneyError, parse_money_minor
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn

_PIN = re.compile(r"[0-9]{4,6}")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}")
_DIGIT_GROUP = re.compile(r"\+?[0-9][0-9-]*")
TEXT_MAX_CHARS = 160


@dataclass(frozen=True, slots=True)
class ParseEnv:
    numbering: Numbering = field(default_factory=Numbering)
    max_amount_minor: int = MAX_AMOUNT_MINOR


class ArgType:
    """Base: `label` is the replies key of the name shown in usage lines (PHONE, AMOUNT, PIN...)."""

    label = "arg_value"
    secret = False  # masked (****) in stored text, never echoed in replies
    verifies_pin = False  # the TranProc checks it against the sender's PIN before the handler
    # Consumes every remaining word but those of the arguments after it, which must then each be
    # one word (`one_word`), e.g. REG's name before the agent's PIN.
    takes_rest = False
    one_word = False  # always exactly one word: may follow an argument that takes the rest
    free_form = False  # any words: PIN-like digits in them are masked in the stored text

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[object, int]:
        raise NotImplementedError


class MsisdnType(ArgType):
    """A phone number, also written in groups ("0712 345 678"): the longest run of digit words
    that forms a valid number wins, so a following amount is never swallowed."""

    label = "arg_phone"

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        found: tuple[str, int] | None = None
        first_error = "not_digits"
        joined = ""
        for end in range(pos, len(words)):
            word = words[end]
            if word == "+" and end == pos:  # "+ 254 712 ..."
                joined = "+"
                continue
            if not _DIGIT_GROUP.fullmatch(word) or (joined and word.startswith("+")):
                break
            joined += word
            if len(joined.lstrip("+").replace("-", "")) > env.numbering.max_written_digits:
                break
            try:
                found = (normalize_msisdn(joined, env.numbering), end + 1)
            except MsisdnError as exc:
                if end == pos:
                    first_error = exc.reason
        if found is None:
            raise ArgValueError(first_error)
        return found


class MoneyType(ArgType):
    label = "arg_amount"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[int, int]:
        try:
            return parse_money_minor(words[pos], env.max_amount_minor), pos + 1
        except MoneyError as exc:
            raise ArgValueError(exc.reason) from None


class PinType(ArgType):
    label = "arg_pin"
    secret = True
    one_word = True

    def __init__(self, verifies_pin: bool = True, label: str = "arg_pin") -> None:
        self.verifies_pin = verifies_pin
        self.label = label

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        if not _PIN.fullmatch(words[pos]):
            raise ArgValueError("pin_format")
        return words[pos], pos + 1


class ReferenceType(ArgType):
    """An account number or bill reference: letters, digits, '-' and '_', up to 20 characters."""

    label = "arg_reference"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        if not _REFERENCE.fullmatch(words[pos]):
            raise ArgValueError("reference_format")
        return words[pos].upper(), pos + 1


class WordType(ArgType):
    """One word, upper-cased (e.g. the command name after HELP)."""

    label = "arg_word"
    free_form = True
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        return words[pos].upper()[:TEXT_MAX_CHARS], pos + 1


class TextType(ArgType):
    """Free text: every remaining word (but those of the one-word arguments after it), joined by
    single spaces."""

    label = "arg_text"
    takes_rest = True
    free_form = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        text = " ".join(words[pos:])
        if len(text) > TEXT_MAX_CHARS:
            raise ArgValueError("text_too_long")
        return text, len(words)


MSISDN = MsisdnType()
MONEY = MoneyType()
PIN = PinType()
NEW_PIN = PinType(verifies_pin=False, label="arg_new_pin")
REFERENCE = ReferenceType()
WORD = WordType()
TEXT = TextType()
