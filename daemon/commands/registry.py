"""The command registry: each SMS command is declared once and everything else is derived from it.

    @registry.command("BAL", args=[Arg("pin", PIN)], aliases=["BALANCE", "SALIO"])
    def balance(ctx: CommandContext, args: Args) -> Reply: ...

From the declaration the registry parses messages (case-insensitive keyword, any spacing), builds the
HELP replies and usage lines in each language, explains parse errors, and knows which words are PINs
so they can be masked before the text is stored. A command's one-line help is the catalogue entry
`help_<keyword>` (`help_bal` in daemon/locale/*/); `help=` given in code replaces it (for tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from daemon import replies
from daemon.commands.errors import (
    ArgValueError,
    BadArgument,
    EmptyMessage,
    MissingArgument,
    ParseError,
    TooManyArguments,
    UnknownCommand,
)
from daemon.commands.normalise import PIN_MASK, mask_pins, normalise_text
from daemon.commands.types import ArgType, ParseEnv

if TYPE_CHECKING:
    from daemon.commands.context import CommandContext, Reply

_KEYWORD = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
_KEYWORD_PUNCTUATION = ".,!?:;"
_SHOWN_MAX_CHARS = 24


class Role(StrEnum):
    """One identity per MSISDN, with one role (M-Pesa's unified identity/role model)."""

    CUSTOMER = "customer"  # has a wallet and a KYC tier
    AGENT = "agent"  # an agent store: its wallet is the store's float
    ASSISTANT = "assistant"  # works at a store: acts on the store's float with its own PIN
    BILLER = "biller"  # a biller or merchant: receives payments
    STAFF = "staff"
    UNREGISTERED = "unregistered"  # a sender with no subscriber record


REGISTERED = frozenset({Role.CUSTOMER, Role.AGENT, Role.ASSISTANT, Role.BILLER, Role.STAFF})
AGENTS = frozenset({Role.AGENT, Role.ASSISTANT})  # act on a store's float
EVERYONE = frozenset(Role)

Handler = Callable[["CommandContext", "Args"], "Reply"]


class DeclarationError(Exception):
    """A command declaration is inconsistent (a programming error, raised at import)."""


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    type: ArgType
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    keyword: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    roles: frozenset[Role] = REGISTERED
    # language -> one-line description; empty: the catalogue entry `help_key` is the description.
    help: Mapping[str, str] = field(default_factory=dict)
    example: str = ""
    # True for a command that changes something (moves money, sets a PIN): a repeat of the same
    # message within the dedupe window is then never run again but answered with the first reply.
    side_effects: bool = False
    # False for what a phone app sends for itself (ENROL, RKEY...): left out of the HELP index a
    # person reads (one SMS), still explained by HELP <keyword>.
    listed: bool = True

    @property
    def help_key(self) -> str:
        return f"help_{self.keyword.lower()}"

    @property
    def pin_arg(self) -> str | None:
        """The argument checked against the sender's PIN before the handler runs, if any."""
        return next((a.name for a in self.args if a.type.verifies_pin), None)


class Args(dict):
    """Parsed argument values by name; also readable as attributes (args.amount)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    command: Command
    args: Args
    masked_text: str  # the message with every PIN replaced by ****: safe to store and log


class Registry:
    def __init__(self) -> None:
        self._by_word: dict[str, Command] = {}
        self._commands: list[Command] = []

    def command(
        self,
        keyword: str,
        *,
        args: Sequence[Arg] = (),
        aliases: Iterable[str] = (),
        roles: Iterable[Role] = REGISTERED,
        help: Mapping[str, str] | None = None,
        example: str = "",
        side_effects: bool = False,
        listed: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Decorator: declare a command whose handler is the decorated function."""

        def declare(handler: Handler) -> Handler:
            self.add(
                Command(
                    keyword=keyword.upper(),
                    handler=handler,
                    args=tuple(args),
                    aliases=tuple(a.upper() for a in aliases),
                    roles=frozenset(roles),
                    help=dict(help or {}),
                    example=example,
                    side_effects=side_effects,
                    listed=listed,
                )
            )
            return handler

        return declare

    def add(self, command: Command) -> None:
        _check_declaration(command)
        for word in (command.keyword, *command.aliases):
            if word in self._by_word:
                raise DeclarationError(
                    f"{word} is already declared by {self._by_word[word].keyword}"
                )
        for word in (command.keyword, *command.aliases):
            self._by_word[word] = command
        self._commands.append(command)

    def lookup(self, word: str) -> Command | None:
        return self._by_word.get(word.upper().strip(_KEYWORD_PUNCTUATION))

    def commands_for(self, role: Role) -> list[Command]:
        return [c for c in self._commands if role in c.roles]

    def parse(self, text: str, env: ParseEnv) -> ParsedCommand:
        """The command and typed arguments in `text`; a ParseError subclass if it is not one."""
        words = normalise_text(text).split()
        if not words:
            raise EmptyMessage("")
        command = self.lookup(words[0])
        if command is None:
            # Only the first word is ever quoted back: the rest may hold a PIN stuck to anything.
            raise UnknownCommand(mask_pins(" ".join(words)), _shown(words[0]))
        return _parse_args(command, words, env)

    # Replies derived from the declarations.

    def usage(self, command: Command, language: str) -> str:
        parts = [command.keyword]
        for arg in command.args:
            label = replies.render(language, arg.type.label)
            parts.append(f"[{label}]" if arg.optional else label)
        return " ".join(parts)

    def help_index(self, role: Role, language: str, service: str) -> str:
        keywords = [c.keyword for c in self.commands_for(role) if c.listed]
        first = next((k for k in keywords if k != "HELP"), "HELP")
        return replies.render(
            language, "help_index", service=service, commands=", ".join(keywords), first=first
        )

    def help_command(self, command: Command, language: str) -> str:
        if command.help:
            description = command.help.get(language) or command.help[replies.DEFAULT_LANGUAGE]
        else:
            description = replies.render(language, command.help_key)
        description = description.rstrip(".")  # the template ends the sentence
        text = replies.render(
            language, "help_command", usage=self.usage(command, language), help=description
        )
        if command.aliases:
            text += " " + replies.render(
                language, "help_aliases", aliases=", ".join(command.aliases)
            )
        if command.example:
            text += " " + replies.render(language, "help_example", example=command.example)
        return text

    def explain(self, error: ParseError, language: str) -> str:
        """The reply to a message that did not parse: what was not understood and how to do it."""
        if isinstance(error, UnknownCommand):
            return replies.render(language, "not_understood", word=error.word)
        if isinstance(error, EmptyMessage):
            return replies.render(language, "empty")
        command = error.command  # type: ignore[attr-defined]
        usage = self.usage(command, language)
        if isinstance(error, MissingArgument):
            label = replies.render(language, error.arg.type.label)
            return replies.render(language, "missing_argument", label=label, usage=usage)
        if isinstance(error, BadArgument):
            label = replies.render(language, error.label)
            why = replies.render(language, f"reason_{error.reason}")
            if error.shown is None:
                return replies.render(
                    language, "bad_secret_argument", label=label, why=why, usage=usage
                )
            return replies.render(
                language, "bad_argument", shown=error.shown, label=label, why=why, usage=usage
            )
        return replies.render(language, "too_many_arguments", keyword=command.keyword, usage=usage)


def _parse_args(command: Command, words: list[str], env: ParseEnv) -> ParsedCommand:
    values = Args()
    secret_positions: set[int] = set()
    kept_positions: set[int] = set()  # typed values (amounts, numbers) stored as written
    pos = 1
    for index, arg in enumerate(command.args):
        if pos >= len(words):
            if arg.optional:
                values[arg.name] = None
                continue
            raise MissingArgument(_masked(words, secret_positions), command, arg)
        try:
            value, end = arg.type.take(_words_for(command, index, words, pos), pos, env)
        except ArgValueError as exc:
            if arg.type.secret:
                secret_positions.add(pos)
            bad = exc.at if exc.at is not None and exc.at < len(words) else pos
            shown = None if arg.type.secret else _shown(words[bad])
            raise BadArgument(
                _masked(words, secret_positions), command, arg, shown, exc.reason, exc.label
            ) from None
        if arg.type.secret:
            secret_positions.update(range(pos, end))
        elif not arg.type.free_form:
            kept_positions.update(range(pos, end))
        values[arg.name] = value
        pos = end
    if pos < len(words):
        raise TooManyArguments(_masked(words, secret_positions), command)
    masked = [
        PIN_MASK if i in secret_positions else (w if i in kept_positions else mask_pins(w))
        for i, w in enumerate(words)
    ]
    return ParsedCommand(command, values, " ".join(masked))


def _words_for(command: Command, index: int, words: list[str], pos: int) -> list[str]:
    """The words argument `index` may take. When only required one-word arguments follow it, it
    leaves them the last words: REG's name stops before the PIN, and a phone number written in
    groups cannot swallow the amount (`WITHDRAW 12 500 1234` is a bad number, not 254125001234).
    It keeps at least one word, so that a missing argument after it is named as missing."""
    after = command.args[index + 1 :]
    if command.args[index].type.one_word or not all(
        a.type.one_word and not a.optional for a in after
    ):
        return words
    return words[: max(len(words) - len(after), pos + 1)]


def _masked(words: list[str], secret_positions: set[int]) -> str:
    """Known PIN words masked, and (since the message did not parse) anything that looks like one."""
    return " ".join(
        PIN_MASK if i in secret_positions else mask_pins(w) for i, w in enumerate(words)
    )


def _shown(word: str) -> str:
    """A word quoted in a reply: masked first, so that cutting it cannot leave a PIN's digits."""
    return mask_pins(word)[:_SHOWN_MAX_CHARS]


def _check_declaration(command: Command) -> None:
    for word in (command.keyword, *command.aliases):
        if not _KEYWORD.fullmatch(word):
            raise DeclarationError(f"{word!r}: a keyword is a letter then letters/digits")
    _check_help(command)
    names = [a.name for a in command.args]
    if len(set(names)) != len(names):
        raise DeclarationError(f"{command.keyword}: argument names repeat")
    for before, after in zip(command.args, command.args[1:], strict=False):
        if before.optional and not after.optional:
            raise DeclarationError(f"{command.keyword}: {after.name} follows an optional argument")
    rest = [i for i, a in enumerate(command.args) if a.type.takes_rest]
    if rest and any(not (a.type.one_word and not a.optional) for a in command.args[rest[0] + 1 :]):
        raise DeclarationError(
            f"{command.keyword}: {command.args[rest[0]].name} takes the rest; only required "
            "one-word arguments may follow it"
        )
    if sum(a.type.verifies_pin for a in command.args) > 1:
        raise DeclarationError(f"{command.keyword}: at most one PIN is checked per command")


def _check_help(command: Command) -> None:
    if not command.help:
        try:
            description = replies.template(replies.DEFAULT_LANGUAGE, command.help_key)
        except replies.UnknownTemplate:
            raise DeclarationError(
                f"{command.keyword}: no help text: add {command.help_key} to "
                f"daemon/locale/{replies.DEFAULT_LANGUAGE}/ (or pass help=)"
            ) from None
        if replies.template_fields(description):
            raise DeclarationError(
                f"{command.keyword}: {command.help_key} has placeholders; a help text is plain"
            )
        return
    if replies.DEFAULT_LANGUAGE not in command.help:
        raise DeclarationError(
            f"{command.keyword}: help text in {replies.DEFAULT_LANGUAGE} required"
        )
    missing = [lang for lang in replies.LANGUAGES if lang not in command.help]
    if missing:
        raise DeclarationError(f"{command.keyword}: no help text in {', '.join(missing)}")
