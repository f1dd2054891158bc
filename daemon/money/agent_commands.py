"""The declarations of registration, PIN and the agents' commands: REG, PIN, DEPOSIT, WITHDRAW and
COLLECT. Handlers are in daemon.money.registration and daemon.money.agents; importing this module
also registers their notices and the settle step that returns expired vouchers."""

from __future__ import annotations

from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import AGENTS, REGISTERED, Arg, Args, Registry, Role
from daemon.commands.types import MONEY, MSISDN, NEW_PIN, PIN
from daemon.money import agent_notices, agents, registration, voucher_moves
from daemon.money.arg_types import AGENT, ID_NUMBER, NAME, DigitCodeType
from daemon.money.one_time import FIRST_PIN_DIGITS
from daemon.money.vouchers import CODE_DIGITS

# The first argument of PIN: the registration code the first time, the old PIN afterwards.
CODE_OR_PIN = DigitCodeType("arg_code_or_pin", FIRST_PIN_DIGITS, "pin_format", also_pin=True)
VOUCHER_CODE = DigitCodeType("arg_voucher_code", CODE_DIGITS, "voucher_code_format")
_LOADED = (agent_notices, voucher_moves)  # their notices and settle step register on import


def register_agent_commands(registry: Registry) -> Registry:
    @registry.command(
        "REG",
        args=[
            Arg("phone", MSISDN),
            Arg("id_number", ID_NUMBER),
            Arg("name", NAME),
            Arg("pin", PIN),
        ],
        aliases=["REGISTER", "SAJILI"],
        roles=AGENTS,
        example="REG 0712345678 12345678 Jane Wanjiku 1234",
        side_effects=True,
    )
    def reg(ctx: CommandContext, args: Args) -> Reply:
        return registration.register(ctx, args.phone, args.id_number, args.name)

    @registry.command(
        "PIN",
        args=[Arg("old", CODE_OR_PIN), Arg("new", NEW_PIN)],
        aliases=["CHANGEPIN"],
        roles=REGISTERED,
        example="PIN 4821 7390",
        side_effects=True,
    )
    def pin(ctx: CommandContext, args: Args) -> Reply:
        return registration.change_pin(ctx, args.old, args.new)

    _register_cash(registry)
    return registry


def _register_cash(registry: Registry) -> None:
    @registry.command(
        "DEPOSIT",
        args=[Arg("phone", MSISDN), Arg("amount", MONEY), Arg("pin", PIN)],
        aliases=["WEKA"],
        roles=AGENTS,
        example="DEPOSIT 0712345678 1000 1234",
        side_effects=True,
    )
    def deposit(ctx: CommandContext, args: Args) -> Reply:
        return agents.deposit(ctx, args.phone, args.amount)

    @registry.command(
        "WITHDRAW",
        args=[Arg("agent", AGENT), Arg("amount", MONEY), Arg("pin", PIN)],
        aliases=["TOA"],
        roles=frozenset({Role.CUSTOMER}),
        example="WITHDRAW 123456 500 1234",
        side_effects=True,
    )
    def withdraw(ctx: CommandContext, args: Args) -> Reply:
        return agents.withdraw(ctx, args.agent, args.amount)

    @registry.command(
        "COLLECT",
        args=[Arg("code", VOUCHER_CODE), Arg("phone", MSISDN), Arg("pin", PIN)],
        aliases=["CHUKUA"],
        roles=AGENTS,
        example="COLLECT 48213377 0712345678 1234",
        side_effects=True,
    )
    def collect(ctx: CommandContext, args: Args) -> Reply:
        return agents.collect(ctx, args.code, args.phone)
