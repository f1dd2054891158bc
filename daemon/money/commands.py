"""The money commands' declarations: SEND, YES, NO, MINI, VERIFY, LANG (registration, PIN and the
agents' commands are declared in daemon.money.agent_commands, the payments in
daemon.money.payment_commands). Each handler is in the module of its subject."""

from __future__ import annotations

import re

from daemon.commands.builtin import default_registry
from daemon.commands.context import CommandContext, Reply
from daemon.commands.errors import ArgValueError
from daemon.commands.registry import REGISTERED, Arg, Args, Registry, Role
from daemon.commands.types import MONEY, MSISDN, PIN, REFERENCE, ParseEnv, PinType, WordType
from daemon.money import account, confirm, send
from daemon.money.agent_commands import register_agent_commands
from daemon.money.payment_commands import register_payment_commands
from daemon.money.payment_types import REQUEST_CODE_CHARS, RequestTarget
from daemon.security.enrol import register_device_commands
from daemon.ussd.download import register_menu_download

_YES_CODE = re.compile(r"[0-9]{4,8}")  # the 4-digit YES code, or an OTP (security.otp_digits)


class CodeType(PinType):
    """YES's argument: a held SEND's code, secret (masked when stored), 4 to 8 digits."""

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[object, int]:
        if not _YES_CODE.fullmatch(words[pos]):
            raise ArgValueError("code_format")
        return words[pos], pos + 1


CODE = CodeType(verifies_pin=False, label="arg_code")


# A request to pay's code as PAY takes it (daemon.money.payment_types): a letter, then digits.
_REQUEST_CODE = re.compile(rf"[A-Za-z][0-9]{{{REQUEST_CODE_CHARS - 1}}}")


class NoCodeType(CodeType):
    """NO's argument: a YES/NO code (4-8 digits) or a request to pay's code (R4821)."""

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[object, int]:
        if _REQUEST_CODE.fullmatch(words[pos]):
            return RequestTarget(words[pos].upper()), pos + 1
        try:
            return super().take(words, pos, env)
        except ArgValueError:
            raise ArgValueError("no_code_format") from None


NO_CODE = NoCodeType(verifies_pin=False, label="arg_code")


class LanguageType(WordType):
    label = "arg_language"


LANGUAGE = LanguageType()
CUSTOMERS = frozenset({Role.CUSTOMER})


def service_registry() -> Registry:
    """Every command the service answers: the built-in ones and the money commands."""
    registry = register_agent_commands(register_money(default_registry()))
    return register_menu_download(register_device_commands(register_payment_commands(registry)))


def register_money(registry: Registry) -> Registry:
    @registry.command(
        "SEND",
        args=[Arg("phone", MSISDN), Arg("amount", MONEY), Arg("pin", PIN)],
        aliases=["TUMA"],
        roles=CUSTOMERS,
        example="SEND 0712345678 500 1234",
        side_effects=True,
    )
    def send_(ctx: CommandContext, args: Args) -> Reply:
        return send.send_money(ctx, args.phone, args.amount)

    @registry.command(
        "YES",
        args=[Arg("code", CODE)],
        aliases=["NDIYO"],
        roles=CUSTOMERS,
        example="YES 4821",
        side_effects=True,
    )
    def yes(ctx: CommandContext, args: Args) -> Reply:
        return confirm.yes(ctx, args.code)

    @registry.command(
        "NO",
        args=[Arg("code", NO_CODE)],
        aliases=["HAPANA"],
        roles=CUSTOMERS,
        example="NO 4821",
        side_effects=True,
    )
    def no(ctx: CommandContext, args: Args) -> Reply:
        return confirm.no(ctx, args.code)

    return register_account_commands(registry)


def register_account_commands(registry: Registry) -> Registry:
    """MINI, VERIFY and LANG."""

    @registry.command(
        "MINI",
        args=[Arg("pin", PIN)],
        aliases=["STATEMENT"],
        roles=REGISTERED,
        example="MINI 1234",
    )
    def mini(ctx: CommandContext, args: Args) -> Reply:
        return account.mini(ctx)

    @registry.command(
        "VERIFY",
        args=[Arg("ref", REFERENCE)],
        aliases=["HAKIKI"],
        roles=frozenset(Role),
        example="VERIFY QK7A2B9XYZ",
    )
    def verify(ctx: CommandContext, args: Args) -> Reply:
        return account.verify(ctx, args.ref)

    @registry.command(
        "LANG",
        args=[Arg("language", LANGUAGE)],
        aliases=["LUGHA"],
        roles=REGISTERED,
        example="LANG SW",
        side_effects=True,
    )
    def lang(ctx: CommandContext, args: Args) -> Reply:
        return account.set_language(ctx, args.language)

    return registry
