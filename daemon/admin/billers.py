"""`smscore admin biller …`: the billers customers pay with PAY, their open bills and statements.

Each change is one transaction with its audit entry; a refusal (a bad code, rule or bills file) is
one line and exit code 2, and changes nothing.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns, one_line_refusals
from daemon.admin.views import console
from daemon.money.account_rules import AccountRuleError, parse_rule
from daemon.money.bill_import import BillImportError, read_bills
from daemon.money.bill_statement import day_start_ns, payments_txn, write_statement
from daemon.money.billers import (
    Biller,
    BillerError,
    BillerState,
    BillState,
    add_biller_txn,
    bills_of_txn,
    import_bills_txn,
    list_billers_txn,
    normal_code,
    require_biller_txn,
    set_biller_state_txn,
)
from ledger import get_balance

T = TypeVar("T")
_ONE_LINE = (BillerError, BillImportError, AccountRuleError)
DAY = click.DateTime(formats=["%Y-%m-%d"])


def _run(env: AdminEnv, work: Callable[[Connection], T], write: bool = True) -> T:
    return env.run(one_line_refusals(work, _ONE_LINE), write)


def _code(written: str) -> str:
    try:
        return normal_code(written)
    except BillerError as exc:
        raise AdminCliError(str(exc)) from None


@click.group()
def biller() -> None:
    """Billers paid with PAY BILLER ACCOUNT AMOUNT PIN: their account rules, bills, statements."""


@biller.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The name customers know it by, e.g. Kenya Power.")
@click.option(
    "--account-rule",
    "rule_text",
    required=True,
    metavar="RULE",
    help="What its account numbers look like: digits:8, digits:6-10, digits:8,luhn, alnum:4-12, "
    "regex:PATTERN.",
)
@click.option("--bills-only", is_flag=True, help="Take payments only for accounts with a bill.")
@admin_options()
def biller_add(code: str, name: str, rule_text: str, bills_only: bool, env: AdminEnv) -> None:
    """Register biller CODE (what customers type after PAY) with its settlement account."""
    code = _code(code)
    try:
        rule = parse_rule(rule_text)
    except AccountRuleError as exc:
        raise AdminCliError(f"--account-rule: {exc}") from None

    def work(conn: Connection) -> Biller:
        return add_biller_txn(
            conn, code, name, rule, bills_only=bills_only, currency=env.currency,
            actor=env.actor, now_ns=now_ns(),
        )  # fmt: skip

    added = _run(env, work)
    click.echo(
        f"biller {added.code} ({added.name}): number {added.number}, settlement account "
        f"{added.account_id}, account rule {added.rule.text}"
        + (", listed bills only" if added.bills_only else "")
    )


def _balance_minor(conn: Connection, account_id: int) -> int:
    found = get_balance(conn, account_id)
    return found.credits_posted - found.debits_posted if found is not None else 0


@biller.command("list")
@admin_options(audited=False)
def biller_list(env: AdminEnv) -> None:
    """Every biller, in the order they were added, with what it has been paid (not yet settled)."""

    def work(conn: Connection) -> list[tuple[Biller, int]]:
        return [(b, _balance_minor(conn, b.account_id)) for b in list_billers_txn(conn)]

    found = _run(env, work, write=False)
    table = Table(box=box.SIMPLE_HEAD, title="billers")
    for heading in ("number", "code", "name", "account rule", "bills only", "state", "held"):
        table.add_column(heading, justify="right" if heading in ("number", "held") else "left")
    for item, held_minor in found:
        cells = (item.number, item.code, item.name, item.rule.text, "yes" if item.bills_only else "",
                 item.state.value, env.money(held_minor))  # fmt: skip
        table.add_row(*(Text(str(cell)) for cell in cells))
    console().print(table)


@biller.command("show")
@click.argument("code")
@admin_options(audited=False)
def biller_show(code: str, env: AdminEnv) -> None:
    """One biller: its rule, settlement account, what it holds and its bills."""
    code = _code(code)

    def work(conn: Connection):
        found = require_biller_txn(conn, code)
        return found, _balance_minor(conn, found.account_id), bills_of_txn(conn, found.code)

    found, held_minor, bills = _run(env, work, write=False)
    open_bills = [bill for bill in bills if bill.state is BillState.OPEN]
    due_minor = sum(bill.remaining_minor for bill in open_bills)
    table = Table(box=box.SIMPLE, show_header=False, title=f"biller {found.code}")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows = {
        "name": found.name,
        "number": found.number,
        "state": found.state.value,
        "account rule": found.rule.text,
        "bills only": "yes" if found.bills_only else "no",
        "settlement account": found.account_id,
        "held": env.money(held_minor),
        "bills": f"{len(open_bills)} open of {len(bills)}, {env.money(due_minor)} due",
        "added by": found.created_by,
    }
    for field, value in rows.items():
        table.add_row(field, Text(str(value)))
    console().print(table)


def _state_command(name: str, state: BillerState, help_text: str) -> click.Command:
    @click.argument("code")
    @admin_options()
    def change(code: str, env: AdminEnv) -> None:
        code = _code(code)
        changed = _run(
            env, lambda conn: set_biller_state_txn(conn, code, state, env.actor, now_ns())
        )
        click.echo(f"biller {changed.code}: {changed.state.value}")

    change.__doc__ = help_text
    return biller.command(name)(change)


_state_command("suspend", BillerState.SUSPENDED, "Stop PAY to biller CODE (audited).")
_state_command("resume", BillerState.ACTIVE, "Let customers PAY biller CODE again (audited).")


@biller.group("bills")
def biller_bills() -> None:
    """A biller's open bills (PAY names the amount due and takes no more)."""


@biller_bills.command("import")
@click.argument("code")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@admin_options()
def bills_import(code: str, file: Path, env: AdminEnv) -> None:
    """Import FILE (CSV: account, amount[, customer name[, due date YYYY-MM-DD]]) as CODE's bills.

    \b
    A listed account's open bill gets the new amount due; one bad row
    stops the import with its line named, and nothing is imported."""
    code = _code(code)

    def work(conn: Connection) -> tuple[int, int]:
        found = require_biller_txn(conn, code)
        rows = read_bills(file, found.rule)
        return import_bills_txn(conn, found, rows, env.actor, now_ns())

    added, updated = _run(env, work)
    click.echo(f"biller {code}: {added} bills added, {updated} updated from {file}")


@biller.command("statement")
@click.argument("code")
@click.option("--from", "from_day", type=DAY, required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "to_day", type=DAY, required=True, help="Last day (included), YYYY-MM-DD.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the CSV here.")
@admin_options(audited=False)
def biller_statement(
    code: str, from_day: datetime.datetime, to_day: datetime.datetime, out: Path | None,
    env: AdminEnv,
) -> None:  # fmt: skip
    """What CODE was paid from --from to --to (days in the service's time zone), as CSV."""
    code = _code(code)
    first, last = from_day.date(), to_day.date()
    if last < first:
        raise AdminCliError(f"--to {last} is before --from {first}")
    timezone = env.config.money.timezone
    since_ns = day_start_ns(first, timezone)
    until_ns = day_start_ns(last + datetime.timedelta(days=1), timezone)

    def work(conn: Connection):
        return payments_txn(conn, require_biller_txn(conn, code), since_ns, until_ns)

    payments = _run(env, work, write=False)
    if out is None:
        text = io.StringIO()
        write_statement(payments, text, timezone)
        click.echo(text.getvalue(), nl=False)
        return
    try:
        with out.open("w", encoding="utf-8", newline="") as stream:
            total_minor = write_statement(payments, stream, timezone)
    except OSError as exc:
        raise AdminCliError(f"--out {out}: {exc.strerror or exc}") from None
    click.echo(f"biller {code}: {len(payments)} payments, {env.money(total_minor)}, {out}")
