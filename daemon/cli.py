"""The `smscore` console command. Each package owns its command group; the root only names them.

Subcommands are imported when used, so `smscore sim send` does not pay for SQLAlchemy and Alembic,
and `smscore --help` imports none of them: it lists each with its line from SHORT_HELP.
"""

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Mapping

import click

from smscore import __version__

# name -> "module:attribute" of the click command
SUBCOMMANDS = {
    "run": "daemon.run_cli:run",
    "demo": "daemon.demo:demo",
    "status": "daemon.status_cli:status",
    "db": "daemon.run_cli:db",
    "subscriber": "daemon.admin_cli:subscriber",
    "admin": "daemon.admin.cli:admin",
    "ledger": "daemon.ledger_cli:ledger",
    "sim": "simulators.cli:sim",
    "bench": "daemon.bench_cli:bench",
    "device": "daemon.device.cli:device",
    "receipt": "daemon.receipt_cli:receipt",
    "menu": "daemon.menu_cli:menu",
    "install-service": "daemon.install_service:install_service",
    "config": "daemon.config_cli:config_group",
    "recon": "daemon.recon.cli:recon",
    "chaos": "daemon.chaos.cli:chaos",
}


# name -> the first paragraph of its command's help, which `smscore --help` shows (shortened) without
# importing the command (tests/daemon/test_cli_startup.py checks each against the command's own).
# A command missing here is imported for its line: correct, only slower.
SHORT_HELP = {
    "run": "Run the daemon: binds, inbox, TranProc, sender, sweeper, status endpoint.",
    "demo": "Simulator + daemon in one process, telling the mobile-money story.",
    "status": "Show binds, queue depths, rates and the last errors of a running daemon.",
    "db": "Database schema tools.",
    "subscriber": "Register and list mobile-money subscribers.",
    "admin": "Staff tools: agent stores and assistants, e-float, subscribers, the tariff, the "
    "audit log.",
    "ledger": "Double-entry ledger: schema, invariant check, tamper-evidence head.",
    "sim": "The bundled SMSC simulator (run without a subcommand to start it).",
    "bench": "Benchmarks (print JSON; record the figures in BENCHMARKS.md).",
    "device": "The reference phone app for the encrypted app channel (keys in --file).",
    "receipt": "Signed confirmations: check one (verify), and the keys that sign them (keys).",
    "menu": "USSD menus (daemon/ussd): check a menu file, show a menu's screens.",
    "install-service": "Install the systemd units, the smscore user, /etc/smscore and the state "
    "directory.",
    "config": "Configuration tools.",
    "recon": "Reconciliation reports: trust, bank, float, outbox, pending, sources (exit 1 when "
    "one\nfinds a discrepancy).",
    "chaos": "Drive SEND, DEPOSIT, WITHDRAW, PAY, BUY, BAL, REQ, USSD, wrong PINs and malformed texts"
    "\nthrough the SMSC simulator into `smscore run`, with faults switched on and off from the seed"
    "\n(dropped links, throttling, lost and delayed responses, re-delivered MOs, lost and late"
    "\nreceipts, airtime failures, a held database lock) and the daemon killed and restarted; then"
    "\ncheck every acknowledged MO had one outcome and at most one posting, every balance equals the"
    "\nmodel's, the ledger's invariants hold and no pending transfer outlived its timeout.",
}


def module_exists(name: str) -> bool:
    """Whether module `name` can be imported, without importing it or its parent packages (whose
    __init__ may import much): find_spec of a dotted name would import the parents."""
    top, *rest = name.split(".")
    loaded = sys.modules.get(top)
    spec = loaded.__spec__ if loaded is not None else importlib.util.find_spec(top)
    for part in rest:
        locations = spec.submodule_search_locations if spec is not None else None
        if locations is None:  # not found, or a module where a package was needed
            return False
        spec = importlib.machinery.PathFinder.find_spec(part, list(locations))
    return spec is not None


class LazyGroup(click.Group):
    """A group whose commands are named "module:attribute" in `subcommands` (default: the root's)
    and imported only when used."""

    def __init__(self, *args, subcommands: Mapping[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subcommands = SUBCOMMANDS if subcommands is None else subcommands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in self.subcommands if self._available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = self.subcommands.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def _available(self, name: str) -> bool:
        return module_exists(self.subcommands[name].split(":")[0])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the root's lines from SHORT_HELP: nothing imported for --help."""
        known = SHORT_HELP if self.subcommands is SUBCOMMANDS else {}
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in known:
                stand_in = click.Command(
                    name, help=known[name]
                )  # shortened as the command would be
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smscore")
def main() -> None:
    """smscore: SMPP-native mobile-money engine.

    \b
    Start here:  smscore demo        (simulator + daemon, a scripted conversation)
    Operations:  smscore run --config /etc/smscore/smscore.toml ; smscore status
    Staff:       smscore admin --help  (agents, float, subscribers, audit log)
    QA:          smscore sim --help
    """
