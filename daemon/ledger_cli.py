"""`smscore ledger …`: create/upgrade the ledger schema, check its invariants, export its head."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from daemon.audit_chain import AuditVerdict, audit_verdict_txn
from daemon.db import first_line
from daemon.money.airtime_resolve import late_successes_line_txn
from daemon.money.reconcile import Reconciliation, has_chart_txn, reconcile_txn
from ledger import (
    CheckReport,
    DatabaseNotFound,
    ExpectedHeadError,
    ExportedHead,
    SchemaVersionError,
    check_ledger,
    current_version,
    export_head,
    make_engine,
    require_current_schema,
    sqlite_file,
    upgrade,
)

T = TypeVar("T")
DB_OPTION = click.option(
    "--db",
    "db_url",
    required=True,
    envvar="SMSCORE_LEDGER_DB",
    metavar="URL",
    help="SQLAlchemy URL, e.g. sqlite:////var/lib/smscore/smscore.db (env SMSCORE_LEDGER_DB).",
)


# `ledger check` also finds the daemon's database as the admin commands do: --config, --state-dir.
CHECK_DB_OPTION = click.option(
    "--db",
    "db_url",
    envvar="SMSCORE_LEDGER_DB",
    metavar="URL",
    help="SQLAlchemy URL, e.g. sqlite:////var/lib/smscore/smscore.db (env SMSCORE_LEDGER_DB); "
    "over the config's database.",
)
CHECK_CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SMSCORE_CONFIG",
    help="The daemon's TOML config: its database and currency.",
)
CHECK_STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The daemon's state directory (its default SQLite database).",
)


class LedgerCliError(click.ClickException):
    """An operating error (database unreachable, wrong schema, bad file): exit status 2."""

    exit_code = 2


def _with_connection(db_url: str, work: Callable[[Connection], T], write: bool = False) -> T:
    """Run `work` on the database; only writers may create a SQLite file."""
    try:
        # Readers must not hold SQLite's write lock while a running daemon posts.
        sqlite_begin = "IMMEDIATE" if write else "DEFERRED"
        engine = make_engine(db_url, sqlite_begin=sqlite_begin, create=write)
    except ArgumentError as exc:
        raise LedgerCliError(f"--db: not a database URL: {db_url!r}") from exc
    except DatabaseNotFound as exc:
        raise LedgerCliError(f"--db: {exc}") from exc
    try:
        with engine.begin() if write else engine.connect() as conn:
            return work(conn)
    except SchemaVersionError as exc:
        raise LedgerCliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise LedgerCliError(
            f"database {engine.url.render_as_string()}: {first_line(exc)}"
        ) from exc
    finally:
        engine.dispose()


@click.group("ledger")
def ledger() -> None:
    """Double-entry ledger: schema, invariant check, tamper-evidence head."""


@ledger.command("init")
@DB_OPTION
def init(db_url: str) -> None:
    """Create or upgrade the ledger schema (Alembic migrations shipped with the ledger)."""
    path = sqlite_file(db_url)
    created_file = path is not None and not path.exists()

    def work(conn: Connection) -> tuple[str | None, str | None]:
        before = current_version(conn)
        upgrade(conn)
        return before, current_version(conn)

    before, after = _with_connection(db_url, work, write=True)
    if created_file:
        click.echo(f"created database {path} with the ledger schema at {after}")
    elif before is None:
        click.echo(f"created the ledger schema at {after}")
    elif before != after:
        click.echo(f"upgraded the ledger schema from {before} to {after}")
    else:
        click.echo(f"ledger schema is current ({after})")


@ledger.command("export-head")
@DB_OPTION
def export_head_command(db_url: str) -> None:
    """Print the transfer count and head hash as JSON; keep it outside the database."""

    def work(conn: Connection) -> ExportedHead:
        require_current_schema(conn)
        return export_head(conn)

    click.echo(json.dumps(_with_connection(db_url, work).to_dict()))


@ledger.command("check")
@CHECK_DB_OPTION
@CHECK_CONFIG_OPTION
@CHECK_STATE_DIR_OPTION
@click.option(
    "--expect-head",
    "head_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON written earlier by export-head: the ledger must still contain that head.",
)
@click.option(
    "--seal",
    "seal_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A seal file (`smscore ledger seal`, or the daemon's ledger.seal): the database must "
    "continue it (fewer transfers, or another head: restored from an older copy or truncated).",
)
@click.option(
    "--currency", help="Shown with the amounts (default: the config's service.currency, or KES)."
)
def check(
    db_url: str | None,
    config_path: Path | None,
    state_dir: Path | None,
    head_file: Path | None,
    seal_file: Path | None,
    currency: str | None,
) -> None:
    """Check every ledger invariant and the hash chain, and the audit log's chain (and the seal,
    with --seal); exit 1 if any is broken. The database: --db, or the daemon's (--config,
    --state-dir)."""
    from daemon.seal_cli import read_seal_option, seal_lines_txn

    db_url, currency = _checked_database(db_url, config_path, state_dir, currency)
    expected = _read_head(head_file) if head_file else None
    seal = read_seal_option(seal_file) if seal_file else None

    def work(conn: Connection) -> tuple[list[str], bool]:
        lines, ok = verdict_txn(conn, currency, expected)
        if seal is None:
            return lines, ok
        sealed_lines, sealed_ok = seal_lines_txn(conn, seal)
        return [*sealed_lines[:-1], *lines, *sealed_lines[-1:]], ok and sealed_ok

    lines, ok = _with_connection(db_url, work)
    for line in lines:
        click.echo(line)
    if not ok:
        raise SystemExit(1)


def _checked_database(
    db_url: str | None, config_path: Path | None, state_dir: Path | None, currency: str | None
) -> tuple[str, str]:
    """The database URL and the currency `ledger check` uses: --db over the config's."""
    if config_path is None and state_dir is None:
        if db_url is None:
            raise LedgerCliError(
                "give --db URL, or --config FILE or --state-dir DIR (the daemon's)"
            )
        return db_url, currency or "KES"
    from daemon.config import ConfigError
    from daemon.run_cli import config_from_options

    try:
        config = config_from_options(config_path, db=db_url, state_dir=state_dir)
    except ConfigError as exc:
        raise LedgerCliError(str(exc)) from None
    return config.database_url, currency or config.service.currency


def verdict_txn(
    conn: Connection, currency: str, expected: ExportedHead | None = None
) -> tuple[list[str], bool]:
    """Everything `ledger check` checks and prints, and whether all holds (`smscore db backup`
    checks its copy with it too)."""
    require_current_schema(conn)
    trust = reconcile_txn(conn) if has_chart_txn(conn) else None
    late_airtime = late_successes_line_txn(conn)
    report = check_ledger(conn, expected_head=expected)
    lines, ok = check_lines(report, trust, currency, audit_verdict_txn(conn))
    return ([late_airtime, *lines] if late_airtime else lines), ok


def check_lines(
    report: CheckReport,
    trust: Reconciliation | None,
    currency: str,
    audit: AuditVerdict | None = None,
) -> tuple[list[str], bool]:
    """What `ledger check` prints (the trust reconciliation, the audit chain, each violation, the
    verdict) and whether all holds; `smscore demo` prints the same at the end of its story."""
    lines = [trust.describe(currency)] if trust is not None else []
    lines += [audit.describe()] if audit is not None else []
    lines += [f"{violation.rule}: {violation.detail}" for violation in report.violations]
    if report.violations_dropped:
        lines.append(f"… and {report.violations_dropped} more violations")
    summary = f"{report.transfer_count} transfers, head {report.head_hash_hex}"
    audit_ok = audit is None or audit.ok
    if report.ok and (trust is None or trust.ok) and audit_ok:
        return [*lines, f"ledger ok: {summary}"], True
    if report.ok and not audit_ok:
        return [*lines, f"ledger BROKEN: the audit log's chain does not hold; {summary}"], False
    if report.ok:
        return [*lines, f"ledger BROKEN: the trust account does not reconcile; {summary}"], False
    broken = ""
    if report.first_broken_seq:
        chain = report.first_broken_chain
        where = f" of ledger chain {chain}" if chain not in (None, 1) else ""
        broken = f", hash chain broken from seq {report.first_broken_seq}{where}"
    return [*lines, f"ledger BROKEN: {len(report.violations)} violations{broken}; {summary}"], False


def _read_head(path: Path) -> ExportedHead:
    try:
        return ExportedHead.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, ExpectedHeadError) as exc:
        raise LedgerCliError(f"{path}: {exc}") from exc


from daemon.seal_cli import seal as _seal  # noqa: E402  (it builds on this module's helpers)

ledger.add_command(_seal)
