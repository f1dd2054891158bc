"""REQ <phone> <amount> [note]: a request to pay, answered PAY <code> or NO <code>. (Being built for
issue 12.)"""

from daemon.commands.context import CommandContext, Reply


def request(ctx: CommandContext, payer_msisdn: str, amount_minor: int, note: str) -> Reply:
    return ctx.reply("not_available")


def pay_request(ctx: CommandContext, code: str) -> Reply:
    return ctx.reply("not_available")
