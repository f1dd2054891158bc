"""BUY <amount> [phone]: airtime bought from a provider. (Being built for issue 12.)"""

from daemon.commands.context import CommandContext, Reply


def buy(ctx: CommandContext, amount_minor: int, msisdn: str | None) -> Reply:
    return ctx.reply("not_available")
