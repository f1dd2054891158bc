"""`smscore recon …`: the reconciliation reports an auditor asks for.

Each prints a table (default), `--format csv` (the rows, amounts in minor units) or `--format
json` (rows, summary and problems). Exit status 0: it balances; 1: it found a discrepancy (listed
under the table, in the JSON's `problems`, and on stderr for CSV); 2: bad input (options, the
database, a statement file). They only read the database; a running daemon is not disturbed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import Connection

from daemon.admin.env import AdminCliError, AdminEnv, admin_options
from daemon.clock import NS_PER_S
from daemon.recon.report import Format, Report, day_bounds_ns, local_day, render

FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice([f.value for f in Format]), default="table",
    show_default=True, help="table for people; csv or json for scripts and spreadsheets.",
)  # fmt: skip
AT_OPTION = click.option(
    "--at", "at", metavar="TIME",
    help="Report as at this time (ISO 8601, service time zone unless it says; default: now).",
)  # fmt: skip


def now_ns() -> int:
    # The CLI is an entry point: the real clock is read here, the reports take the time.
    return time.time_ns()


def _timezone(env: AdminEnv) -> str:
    return env.config.money.timezone


def _day(written: str, option: str) -> date:
    try:
        return date.fromisoformat(written)
    except ValueError:
        raise AdminCliError(f"{option} {written!r}: not a day like 2025-12-01") from None


def _at_ns(written: str | None, timezone: str) -> int:
    if written is None:
        return now_ns()
    try:
        moment = datetime.fromisoformat(written)
    except ValueError:
        raise AdminCliError(f"--at {written!r}: not a time like 2025-12-01T18:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return int(moment.timestamp() * 1_000_000) * 1000


def emit(env: AdminEnv, work: Callable[[Connection], Report], fmt: str) -> None:
    """Run the report in one read-only transaction, print it, exit 1 on a discrepancy."""
    report = env.run(work, write=False)
    click.echo(render(report, Format(fmt), env.currency), nl=False)
    if not report.ok:
        if Format(fmt) is Format.CSV:
            for problem in report.problems:
                click.echo(f"DISCREPANCY: {problem}", err=True)
        raise SystemExit(1)


@click.group("recon")
def recon() -> None:
    """Reconciliation reports: trust, bank, float, outbox, pending, sources (exit 1 when one
    finds a discrepancy)."""


@recon.command("trust")
@FORMAT_OPTION
@admin_options(audited=False)
def trust(fmt: str, env: AdminEnv) -> None:
    """E-money issued against the trust account: both, and the difference (must be 0)."""
    from daemon.recon.trust import trust_report_txn

    emit(env, trust_report_txn, fmt)


@recon.command("bank")
@click.argument("statement_path", metavar="STATEMENT",
                type=click.Path(path_type=Path, dir_okay=False))  # fmt: skip
@click.option("--statement-format", type=click.Choice(["auto", "mt940", "camt053", "csv"]),
              default="auto", show_default=True, help="The file's format (auto: from its content).")  # fmt: skip
@click.option("--window-days", type=click.IntRange(0, 31), default=2, show_default=True,
              help="How many days apart a bank line and a posting may be booked and still match.")  # fmt: skip
@click.option("--from", "from_day", metavar="DAY", help="First day (default: the statement's).")
@click.option("--to", "to_day", metavar="DAY", help="Last day (default: the statement's).")
@click.option("--bank-closing", metavar="AMOUNT",
              help="The bank's closing balance, for a CSV statement (which has none), e.g. 1070000.00.")  # fmt: skip
@FORMAT_OPTION
@admin_options(audited=False)
def bank(statement_path: Path, statement_format: str, window_days: int, from_day: str | None,
         to_day: str | None, bank_closing: str | None, fmt: str, env: AdminEnv) -> None:  # fmt: skip
    """The trust account against the bank's STATEMENT (MT940, camt.053 or CSV): matched lines,
    unmatched lines on either side, the opening and closing balances compared."""
    from daemon.recon.bank import bank_report_txn
    from daemon.recon.statement import (
        StatementError,
        StatementFormat,
        read_statement,
        signed_amount_minor,
    )

    wanted = None if statement_format == "auto" else StatementFormat(statement_format)
    try:
        statement = read_statement(statement_path, env.currency, wanted)
        closing = (
            None if bank_closing is None else signed_amount_minor(bank_closing, "--bank-closing")
        )
    except StatementError as exc:
        raise AdminCliError(str(exc)) from None
    period = None
    if from_day or to_day:
        first = _day(from_day or to_day or "", "--from")
        last = _day(to_day or from_day or "", "--to")
        if last < first:
            raise AdminCliError(f"--to {last} is before --from {first}")
        period = (first, last)
    emit(env, lambda conn: bank_report_txn(
        conn, statement, _timezone(env), window_days=window_days, period=period,
        bank_closing_minor=closing,
    ), fmt)  # fmt: skip


@recon.command("float")
@click.option("--day", metavar="DAY", help="The day (service time zone; default: yesterday).")
@FORMAT_OPTION
@admin_options(audited=False)
def float_command(day: str | None, fmt: str, env: AdminEnv) -> None:
    """Each agent store's float for a day: opening, in, out, closing."""
    from daemon.recon.floats import float_report_txn

    timezone = _timezone(env)
    wanted = _day(day, "--day") if day else local_day(now_ns(), timezone) - timedelta(days=1)
    emit(env, lambda conn: float_report_txn(conn, wanted, timezone), fmt)


@recon.command("outbox")
@click.option("--from", "from_day", metavar="DAY", help="Only SMS created from this day on.")
@click.option("--to", "to_day", metavar="DAY", help="Only SMS created up to this day.")
@AT_OPTION
@FORMAT_OPTION
@admin_options(audited=False)
def outbox_command(from_day: str | None, to_day: str | None, at: str | None, fmt: str,
                   env: AdminEnv) -> None:  # fmt: skip
    """The outbox against delivery receipts: sent, delivered, failed, unknown (no receipt in
    [sweeper] receipt_timeout_s)."""
    from daemon.recon.outbox import outbox_report_txn

    timezone = _timezone(env)
    from_ns = day_bounds_ns(_day(from_day, "--from"), timezone)[0] if from_day else None
    to_ns = day_bounds_ns(_day(to_day, "--to"), timezone)[1] if to_day else None
    config = env.config
    timeout_ns = int(config.sweeper.receipt_timeout_s * NS_PER_S)
    at_ns = _at_ns(at, timezone)
    emit(env, lambda conn: outbox_report_txn(
        conn, at_ns, timeout_ns, timezone, receipts_requested=config.sender.request_receipts,
        from_ns=from_ns, to_ns=to_ns,
    ), fmt)  # fmt: skip


@recon.command("pending")
@click.option("--grace-s", type=click.FloatRange(0, 86_400), default=300.0, show_default=True,
              help="How long past its deadline an item may stay open before it is overdue.")  # fmt: skip
@AT_OPTION
@FORMAT_OPTION
@admin_options(audited=False)
def pending_command(grace_s: float, at: str | None, fmt: str, env: AdminEnv) -> None:
    """Pending transfers, vouchers and reversals by age; overdue ones are discrepancies."""
    from daemon.recon.pending import pending_report_txn

    at_ns = _at_ns(at, _timezone(env))
    emit(env, lambda conn: pending_report_txn(conn, at_ns, grace_s), fmt)


@recon.command("sources")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="At most this many transfers listed (all are counted).")  # fmt: skip
@FORMAT_OPTION
@admin_options(audited=False)
def sources_command(limit: int, fmt: str, env: AdminEnv) -> None:
    """Ledger transfers whose move has no inbox message, audit entry, API request or other
    recorded source."""
    from daemon.recon.sources import sources_report_txn

    emit(env, lambda conn: sources_report_txn(conn, _timezone(env), limit), fmt)
