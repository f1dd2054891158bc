"""SMS commands, declared once (see registry.py); the built-in ones are in builtin.py."""

from daemon.commands.context import CommandContext, Reply
from daemon.commands.errors import (
    BadArgument,
    EmptyMessage,
    MissingArgument,
    ParseError,
    TooManyArguments,
    UnknownCommand,
)
from daemon.commands.normalise import PIN_MASK, mask_pins, normalise_text
from daemon.commands.registry import (
    EVERYONE,
    REGISTERED,
    Arg,
    Args,
    Command,
    DeclarationError,
    ParsedCommand,
    Registry,
    Role,
)
from daemon.commands.types import MONEY, MSISDN, NEW_PIN, PIN, REFERENCE, TEXT, WORD, ParseEnv

__all__ = [
    "EVERYONE",
    "MONEY",
    "MSISDN",
    "NEW_PIN",
    "PIN",
    "PIN_MASK",
    "REFERENCE",
    "REGISTERED",
    "TEXT",
    "WORD",
    "Arg",
    "Args",
    "BadArgument",
    "Command",
    "CommandContext",
    "DeclarationError",
    "EmptyMessage",
    "MissingArgument",
    "ParseEnv",
    "ParseError",
    "ParsedCommand",
    "Registry",
    "Reply",
    "Role",
    "TooManyArguments",
    "UnknownCommand",
    "mask_pins",
    "normalise_text",
]
