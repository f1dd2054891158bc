"""`smscore run`, `smscore status`, `smscore db upgrade|backup`: the daemon's own commands."""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from daemon import exit_codes
from daemon.config import Config, ConfigError, load_config, parse_smsc_option
from ledger import display_url

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (see etc/smscore.toml). Without it, defaults plus the options below.",
)

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the default SQLite database and the PIN pepper live.",
)


def config_from_options(
    config_path: Path | None,
    smsc: tuple[str, ...] = (),
    db: str | None = None,
    role: str | None = None,
    state_dir: Path | None = None,
    status_listen: str | None = None,
    instance_name: str | None = None,
) -> Config:
    """The config file (if any) with command-line options on top; ConfigError → one line, exit 2."""
    overrides: dict[str, Any] = {}
    if smsc:
        overrides["binds"] = [parse_smsc_option(option, i) for i, option in enumerate(smsc, 1)]
    if db:
        overrides["database"] = {"url": db}
    service = {
        "role": role,
        "state_dir": str(state_dir) if state_dir else None,
        "instance_name": instance_name,
    }
    if any(service.values()):
        overrides["service"] = {k: v for k, v in service.items() if v is not None}
    if status_listen:
        overrides["status"] = {"listen": status_listen}
    return load_config(config_path, overrides)


def fail(message: str, code: int = exit_codes.CONFIG) -> None:
    click.echo(f"smscore: {message}", err=True)
    sys.exit(code)


@click.command()
@config_option
@click.option(
    "--smsc",
    multiple=True,
    metavar="SYSTEM_ID:PASSWORD@HOST:PORT",
    help="A bind (repeatable); replaces the file's [[binds]].",
)
@click.option("--db", help="Database URL (sqlite:///path or postgresql://...).")
@click.option("--role", type=click.Choice(["all", "lis", "tranproc"]), help="Which parts to run.")
@state_dir_option
@click.option(
    "--status-listen", metavar="HOST:PORT", help="Status endpoint (default 127.0.0.1:8780)."
)
@click.option(
    "--instance-name",
    metavar="NAME",
    help="service.instance_name: this process's own name (smscore-tranproc@NAME passes it).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Check the configuration and the files it names (TLS CA, PIN pepper, state directory) "
    "and exit; `run` checks the same before it starts.",
)
@click.option(
    "--accept-ledger-state",
    is_flag=True,
    help="Run even if the start-up check finds the database older than its seal, not descending "
    "from it, or its chain's tail damaged (exit 3 otherwise); the acceptance is written to the "
    "audit log and the database is sealed as it is.",
)
def run(
    config_path: Path | None,
    smsc: tuple[str, ...],
    db: str | None,
    role: str | None,
    state_dir: Path | None,
    status_listen: str | None,
    instance_name: str | None,
    check: bool,
    accept_ledger_state: bool,
) -> None:
    """Run the daemon: binds, inbox, TranProc, sender, sweeper, status endpoint."""
    from daemon.checks import check_config

    # Every option, the same each time: a SIGHUP's re-read that dropped one would see its key
    # "changed" (and warn "needs a restart" on every reload).
    options: dict[str, Any] = {
        "config_path": config_path,
        "smsc": smsc,
        "db": db,
        "role": role,
        "state_dir": state_dir,
        "status_listen": status_listen,
        "instance_name": instance_name,
    }
    try:
        config = config_from_options(**options)
        report = check_config(config, str(config_path) if config_path else "<command line>")
    except ConfigError as exc:
        fail(str(exc))
    for warning in report.warnings:
        click.echo(f"smscore: warning: {warning}", err=True)
    if check:
        click.echo(
            f"config OK: role {config.service.role}, {len(config.binds)} bind(s), "
            f"database {display_url(config.database_url)}"
        )
        return
    from daemon.runner import run_forever

    def read_again() -> Config:  # SIGHUP: the same file and options, read again
        return config_from_options(**options)

    where = str(config_path) if config_path else "<command line>"
    sys.exit(
        run_forever(
            config, read_config=read_again, where=where, accept_ledger_state=accept_ledger_state
        )
    )


@click.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8780",
    show_default=True,
    help="The daemon's status endpoint.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
def status(url: str, as_json: bool) -> None:
    """Show binds, queue depths, rates and the last errors of a running daemon."""
    from rich.console import Console

    from daemon.status_table import print_status

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=5) as response:
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail(
            f"cannot read status from {url}: {getattr(exc, 'reason', exc)} (is the daemon running?)",
            1,
        )
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        print_status(data, Console())


@click.group()
def db() -> None:
    """Database schema tools."""


@db.command()
@config_option
@click.option("--db", "db_url", help="Database URL (overrides the config).")
def upgrade(config_path: Path | None, db_url: str | None) -> None:
    """Create or upgrade the ledger and daemon tables."""
    from daemon.migrate import UpgradeFailed, upgrade_database

    try:
        config = config_from_options(config_path, db=db_url)
        report = upgrade_database(config.database_url)
    except (ConfigError, UpgradeFailed) as exc:
        fail(str(exc))
    click.echo(report.describe())


@db.command()
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
@config_option
@click.option("--db", "db_url", help="Database URL (overrides the config).")
def backup(dest: Path, config_path: Path | None, db_url: str | None) -> None:
    """Copy the database to DEST while the daemon runs (SQLite: online backup; PostgreSQL:
    pg_dump), then check the copy as `smscore ledger check` does."""
    from daemon.backup import BackupError, backup_database

    try:
        config = config_from_options(config_path, db=db_url)
        report = backup_database(config.database_url, dest, config.service.currency)
    except ConfigError as exc:
        fail(str(exc))
    except BackupError as exc:
        fail(str(exc), exit_codes.FAILURE)
    for line in report.describe():
        click.echo(line)
    if not report.ok:
        fail(
            "the copy was kept, but its check failed: the database itself is so; see above",
            exit_codes.FAILURE,
        )
