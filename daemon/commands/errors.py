"""Why a message could not be parsed. Each error becomes a helpful reply (see Registry.explain)
and carries the message text with anything that may be a PIN masked, for storing in the inbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.commands.registry import Arg, Command


class ArgValueError(ValueError):
    """Raised by an argument type: the words at the position are not a value of that type."""

    def __init__(self, reason: str, *, at: int | None = None, label: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason  # a replies key suffix: reason_<reason>
        # A type made of parts (PAY's bill, BUY's amount and number) names the part at fault: the
        # word at position `at`, called `label` (a replies key) in the reply.
        self.at = at
        self.label = label


class ParseError(Exception):
    """The text is not a well-formed command; `masked_text` is safe to store and log."""

    code = "parse_error"

    def __init__(self, masked_text: str) -> None:
        super().__init__(self.code)
        self.masked_text = masked_text


class EmptyMessage(ParseError):
    code = "empty"


class UnknownCommand(ParseError):
    code = "unknown_command"

    def __init__(self, masked_text: str, word: str) -> None:
        super().__init__(masked_text)
        self.word = word  # as typed (already masked if it looked like a PIN)


class CommandParseError(ParseError):
    """The command word was understood, its arguments were not."""

    def __init__(self, masked_text: str, command: Command) -> None:
        super().__init__(masked_text)
        self.command = command


class MissingArgument(CommandParseError):
    code = "missing_argument"

    def __init__(self, masked_text: str, command: Command, arg: Arg) -> None:
        super().__init__(masked_text, command)
        self.arg = arg


class BadArgument(CommandParseError):
    code = "bad_argument"

    def __init__(
        self,
        masked_text: str,
        command: Command,
        arg: Arg,
        shown: str | None,
        reason: str,
        label: str | None = None,
    ) -> None:
        super().__init__(masked_text, command)
        self.arg = arg
        self.shown = shown  # the words not understood; None for secret arguments
        self.reason = reason
        self.label = label or arg.type.label  # a replies key: what the words should have been


class TooManyArguments(CommandParseError):
    code = "too_many_arguments"
