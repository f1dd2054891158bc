"""`smscore admin …`: the staff commands. Each is named here as "module:attribute" and imported when
used; a package's own staff commands (a click group or command) are attached by adding a line."""

import click

from daemon.cli import LazyGroup

ADMIN_COMMANDS = {
    "agent": "daemon.admin.commands:agent",
    "assistant": "daemon.admin.commands:assistant",
    "float": "daemon.admin.commands:float_command",
    "subscriber": "daemon.admin.commands:subscriber",
    "audit": "daemon.admin.audit_cli:audit",
    "biller": "daemon.admin.billers:biller",
    "tariff": "daemon.money.tariff_cli:tariff",
    "reversals": "daemon.admin.reversals:reversals",
    "airtime": "daemon.admin.airtime:airtime",
    "till": "daemon.admin.tills:till",
    "device": "daemon.admin.devices:device",
    "review": "daemon.admin.review:review",
    "simswap": "daemon.admin.review:simswap",
    "business": "daemon.admin.businesses:business",
    "notice": "daemon.admin.notices:notice",
    "callbacks": "daemon.admin.callbacks_cli:callbacks",
}


@click.group("admin", cls=LazyGroup, subcommands=ADMIN_COMMANDS)
def admin() -> None:
    """Staff tools: agent stores and assistants, e-float, subscribers, the tariff, the audit log.

    \b
    Every change is recorded in the audit log with who (--actor, default the
    operating-system user), what and when. Numbers in any usual form
    (0712 345 678, +254712345678); amounts like 1,000 or 1000.50.
    """
