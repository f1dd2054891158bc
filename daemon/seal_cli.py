"""`smscore ledger seal` and what `smscore ledger check --seal FILE` adds (daemon.seal_guard)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from sqlalchemy import Connection

from daemon.config import ConfigError
from daemon.ledger_cli import LedgerCliError, _with_connection
from daemon.seal_guard import ACCEPT_HINT, chains_txn, findings_txn, marks_txn, seal_path
from ledger import display_url, require_current_schema
from ledger.seal import compare_with_seal
from ledger.seal_file import Seal, SealFileError, read_seal, write_seal


def read_seal_option(path: Path) -> Seal:
    try:
        seal = read_seal(path)
    except SealFileError as exc:
        raise LedgerCliError(str(exc)) from None
    if seal is None:
        raise LedgerCliError(f"seal file {path}: no such file")
    return seal


def seal_lines_txn(conn: Connection, seal: Seal) -> tuple[list[str], bool]:
    """`ledger check --seal`: whether each chain continues its sealed point (one line each)."""
    found = [
        problem
        for chain in chains_txn(conn)
        if (mark := seal.marks.get(chain.name)) is not None
        and (problem := compare_with_seal(conn, chain, mark, seal.when))
    ]
    if found:
        return [*found, "ledger BROKEN: the database does not continue its seal"], False
    return [f"seal OK: the database continues the seal ({seal.describe()})"], True


@click.command("seal")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The daemon's config: its database and seal file (seal.file, or ledger.seal in the "
    "state directory).",
)
@click.option("--db", "db_url", metavar="URL", help="Database URL (overrides the config).")
@click.option(
    "--file",
    "seal_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the seal here instead (e.g. on another disk, or to keep by date).",
)
def seal(config_path: Path | None, db_url: str | None, seal_file: Path | None) -> None:
    """Seal the ledger: write the ledger's and the audit log's count and head hash, with the
    time, to the seal file (atomically, mode 0600). The daemon keeps its own seal current; at
    start-up a database with fewer transfers than sealed, or not descending from the seal, is
    refused. A database that does not continue the seal already in that file is not sealed."""
    from daemon.run_cli import config_from_options

    try:
        config = config_from_options(config_path, db=db_url)
    except ConfigError as exc:
        raise LedgerCliError(str(exc)) from None
    path = seal_file or seal_path(config)
    try:
        previous = read_seal(path)
    except SealFileError as exc:
        raise LedgerCliError(f"{exc}; {ACCEPT_HINT} (smscore run), or remove it") from None
    tail = config.seal.tail_transfers

    def work(conn: Connection) -> tuple[list[str], dict]:
        require_current_schema(conn)
        return findings_txn(conn, previous, tail), marks_txn(conn)

    found, marks = _with_connection(config.database_url, work)
    if found:
        for line in found:
            click.echo(line)
        click.echo(f"not sealed: {path} keeps its seal; `smscore run` refuses this database too")
        raise SystemExit(1)
    accepted = previous.accepted if previous is not None else {}
    sealed = Seal(marks, time.time_ns(), display_url(config.database_url), accepted)
    try:
        write_seal(path, sealed)
    except SealFileError as exc:
        raise LedgerCliError(str(exc)) from None
    click.echo(f"{sealed.describe()} -> {path}")
