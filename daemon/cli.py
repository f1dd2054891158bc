"""The `smscore` console command. Each package owns its command group; the root only names them.

Subcommands are imported when used, so `smscore sim send` does not pay for SQLAlchemy and Alembic.
"""

import importlib
import importlib.util
from collections.abc import Mapping

import click

from smscore import __version__

# name -> "module:attribute" of the click command
SUBCOMMANDS = {
    "run": "daemon.run_cli:run",
    "demo": "daemon.demo:demo",
    "status": "daemon.run_cli:status",
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
    "chaos": "daemon.chaos.cli:chaos",
}


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
        module_name = self.subcommands[name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None


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
