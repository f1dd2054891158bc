"""TILL <till> <amount>: Buy Goods, wallet to a merchant's wallet. (Being built for issue 12.)"""

from daemon.commands.context import CommandContext, Reply


def pay_till(ctx: CommandContext, till: str, amount_minor: int) -> Reply:
    return ctx.reply("not_available")
