"""The commands every deployment has: HELP, BAL and PING (help texts: daemon/locale/*/core.po)."""

from daemon.chart import wallet_account_id
from daemon.commands.context import CommandContext, Reply
from daemon.commands.normalise import mask_pins
from daemon.commands.registry import EVERYONE, REGISTERED, Arg, Args, Registry, Role
from daemon.commands.types import PIN, WORD
from ledger import get_balance


class WalletMissing(Exception):
    """A registered subscriber has no ledger account (data corruption: the row is marked failed)."""


def register_builtins(registry: Registry) -> Registry:
    @registry.command(
        "HELP",
        args=[Arg("command", WORD, optional=True)],
        aliases=["MSAADA", "INFO"],
        roles=EVERYONE,
        example="HELP BAL",
    )
    def help_(ctx: CommandContext, args: Args) -> Reply:
        if args.command is None:
            return Reply(_index(ctx))
        command = ctx.registry.lookup(args.command)
        commands = ", ".join(c.keyword for c in ctx.registry.commands_for(ctx.role))
        if command is None:
            return ctx.reply("help_unknown", word=mask_pins(args.command)[:24], commands=commands)
        if ctx.role not in command.roles:  # it exists: saying it does not would mislead
            if ctx.role is Role.UNREGISTERED:
                return ctx.reply("not_registered")  # what to do to be able to use it
            return ctx.reply("help_not_yours", keyword=command.keyword, commands=commands)
        return Reply(ctx.registry.help_command(command, ctx.language))

    @registry.command(
        "BAL",
        args=[Arg("pin", PIN)],
        aliases=["BALANCE", "SALIO"],
        roles=REGISTERED,
        example="BAL 1234",
    )
    def balance(ctx: CommandContext, args: Args) -> Reply:
        assert ctx.subscriber is not None  # REGISTERED only; the TranProc checked the PIN
        # An assistant sees the float of the store it works at.
        account_id = wallet_account_id(ctx.subscriber.float_owner)
        found = get_balance(ctx.conn, account_id)
        if found is None:
            raise WalletMissing(f"no ledger account {account_id}")
        return ctx.reply("balance", amount=ctx.money(found.available))

    @registry.command(
        "PING",
        roles=EVERYONE,
    )
    def ping(ctx: CommandContext, args: Args) -> Reply:
        return ctx.reply("pong")

    return registry


def _index(ctx: CommandContext) -> str:
    return ctx.registry.help_index(ctx.role, ctx.language, ctx.config.service.name)


def default_registry() -> Registry:
    """A registry with the built-in commands (later issues add theirs with their own register_*)."""
    return register_builtins(Registry())
