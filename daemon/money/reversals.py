"""REVERSE <ref>: a payment held from its recipient for staff to decide. (Being built for issue 12.)"""

from daemon.commands.context import CommandContext, Reply


def reverse(ctx: CommandContext, ref: str) -> Reply:
    return ctx.reply("not_available")
