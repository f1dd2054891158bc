"""The `smscore` console command: every subcommand group is registered here."""

import click

from smscore import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smscore")
def main() -> None:
    """smscore: SMPP-native mobile-money engine."""


def _register_subcommands() -> None:
    # Each package owns its own command group; the root only wires them together.
    from daemon.ledger_cli import ledger

    main.add_command(ledger)
    from daemon.run_cli import db, run, status

    for command in (run, status, db):
        main.add_command(command)
    from simulators.cli import sim

    main.add_command(sim)
    from daemon.admin_cli import subscriber

    main.add_command(subscriber)


_register_subcommands()
