"""PAY <biller> <account> <amount>: a bill paid from the wallet to the biller's settlement account.
(Being built for issue 12.)"""

from daemon.commands.context import CommandContext, Reply


def pay_bill(ctx: CommandContext, biller: str, account: str, amount_minor: int) -> Reply:
    return ctx.reply("not_available")
