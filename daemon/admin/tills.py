"""`smscore admin till …`: merchant tills (Buy Goods). `till add` registers the merchant (a subscriber
with Role.BILLER, whose wallet is a merchant wallet) and its till number in one transaction with its
audit entry; `list`, `show`, `suspend` and `resume` (a suspended till takes no payments)."""

from __future__ import annotations

import re

import click
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection, insert, update

from daemon.admin.commands import LANGUAGE_OPTION
from daemon.admin.env import (
    PIN_OPTION,
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    pin_hasher_txn,
    read_pin,
)
from daemon.admin.stores import NewIdentity
from daemon.admin.views import console, local_time, moves_table
from daemon.audit import record_txn
from daemon.commands.registry import Role
from daemon.money.moves import recent_moves_txn
from daemon.money.tills import (
    NAME_MAX_CHARS,
    Till,
    TillState,
    get_till_txn,
    list_tills_txn,
)
from daemon.schema import tills
from daemon.subscribers import SubscriberError, create_subscriber_txn, get_subscriber_txn
from ledger import get_balance
from smscore.text import TextEncodingError, gsm7_septet_length

_TILL_NUMBER = re.compile(r"[0-9]{5,10}")  # as TILL takes it (daemon.money.payment_types)
_SHOWN_MOVES = 10


class TillError(SubscriberError):
    """A till change refused (exists, unknown, already in that state): one line for the operator."""


def till_number(written: str) -> str:
    number = written.strip()
    if not _TILL_NUMBER.fullmatch(number):
        raise AdminCliError(f"TILL {written!r}: a till number is 5 to 10 digits")
    return number


def till_name(written: str) -> str:
    name = " ".join(written.split())
    try:  # every payment SMS shows it in capitals: one character outside GSM-7 makes them UCS-2
        septets = gsm7_septet_length(name.upper())
    except TextEncodingError:
        raise AdminCliError(
            f"--name {written!r}: GSM-7 letters, digits and punctuation only (it is in every SMS)"
        ) from None
    if not name or septets > NAME_MAX_CHARS or not name.isprintable():
        raise AdminCliError(
            f"--name {written!r}: 1 to {NAME_MAX_CHARS} printable characters (it is in every SMS)"
        )
    return name


def add_till_txn(
    conn: Connection, env: AdminEnv, number: str, merchant: NewIdentity, now_ns: int
) -> Till:
    """The merchant registered with its merchant wallet, and its till; one audit entry."""
    if get_till_txn(conn, number) is not None:
        raise TillError(f"till {number} exists already")
    if get_subscriber_txn(conn, merchant.msisdn) is not None:
        raise TillError(f"{merchant.msisdn} is already registered: a merchant needs its own number")
    hasher = pin_hasher_txn(conn, env.config, now_ns)
    create_subscriber_txn(
        conn, merchant.msisdn, pin=merchant.pin, hasher=hasher, currency=env.currency,
        now_ns=now_ns, name=merchant.name, role=Role.BILLER, language=merchant.language,
        registered_by=f"staff:{env.actor}",
    )  # fmt: skip
    till = Till(number, merchant.msisdn, merchant.name, TillState.ACTIVE, now_ns, env.actor)
    values = {
        "till_number": number, "msisdn": merchant.msisdn, "name": merchant.name,
        "state": till.state.value, "created_at_ns": now_ns, "created_by": env.actor,
    }  # fmt: skip
    conn.execute(insert(tills).values(values))
    detail = f"till {number}, name {merchant.name!r}"
    record_txn(conn, env.actor, "till.add", merchant.msisdn, detail, now_ns)
    return till


def set_till_state_txn(
    conn: Connection, env: AdminEnv, number: str, state: TillState, now_ns: int
) -> bool:
    """Suspend or resume a till; False if it was already so (nothing recorded)."""
    found = get_till_txn(conn, number)
    if found is None:
        raise TillError(f"no till {number}")
    if found.state is state:
        return False
    conn.execute(update(tills).where(tills.c.till_number == number).values(state=state.value))
    action = "till.suspend" if state is TillState.SUSPENDED else "till.resume"
    record_txn(conn, env.actor, action, found.msisdn, f"till {number}", now_ns)
    return True


@click.group()
def till() -> None:
    """Merchant tills (Buy Goods): customers pay them with TILL <till> <amount> <PIN>."""


@till.command("add")
@click.argument("number", metavar="TILL")
@click.option("--phone", required=True, help="The merchant's phone: gets an SMS per payment.")
@click.option("--name", required=True, help=f"The shop's name, up to {NAME_MAX_CHARS} characters.")
@PIN_OPTION
@LANGUAGE_OPTION
@admin_options()
def till_add(
    number: str, phone: str, name: str, pin: str | None, language: str, env: AdminEnv
) -> None:
    """Register the merchant at --phone with its merchant wallet and till number TILL."""
    wanted = till_number(number)
    merchant = NewIdentity(env.msisdn(phone), till_name(name), read_pin(pin), language)
    env.run(lambda conn: add_till_txn(conn, env, wanted, merchant, now_ns()))
    click.echo(f"till {wanted} ({merchant.name}): merchant {merchant.msisdn}")


@till.command("list")
@admin_options(audited=False)
def till_list(env: AdminEnv) -> None:
    """Every till: number, name, merchant phone, state, balance."""

    def work(conn: Connection) -> list[tuple[Till, int]]:
        return [(found, _balance_txn(conn, found.msisdn)) for found in list_tills_txn(conn)]

    found = env.run(work, write=False)
    if not found:
        click.echo("no tills yet")
        return
    table = Table(box=box.SIMPLE, title="tills")
    for heading in ("till", "name", "merchant", "state", "balance"):
        table.add_column(heading, justify="right" if heading == "balance" else "left")
    for entry, balance_minor in found:
        cells = (entry.till_number, entry.name, entry.msisdn, entry.state.value,
                 env.money(balance_minor))  # fmt: skip
        table.add_row(*(Text(cell) for cell in cells))
    console().print(table)


@till.command("show")
@click.argument("number", metavar="TILL")
@admin_options(audited=False)
def till_show(number: str, env: AdminEnv) -> None:
    """One till: its merchant, state, balance and the last payments."""
    wanted = till_number(number)

    def work(conn: Connection):
        found = get_till_txn(conn, wanted)
        if found is None:
            raise TillError(f"no till {wanted}")
        moves = recent_moves_txn(conn, found.msisdn, _SHOWN_MOVES)
        return found, _balance_txn(conn, found.msisdn), moves

    found, balance_minor, moves = env.run(work, write=False)
    timezone = env.config.money.timezone
    table = Table(box=box.SIMPLE, show_header=False, title=f"till {found.till_number}")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for field, value in (
        ("name", found.name), ("merchant", found.msisdn), ("state", found.state.value),
        ("balance", env.money(balance_minor)), ("created", local_time(found.created_at_ns, timezone)),
        ("created by", found.created_by),
    ):  # fmt: skip
        table.add_row(Text(field), Text(value))
    out = console()
    out.print(table)
    out.print(moves_table(moves, env.currency, timezone) if moves else "no payments yet")


def _state_command(name: str, state: TillState, done: str) -> click.Command:
    @till.command(name)
    @click.argument("number", metavar="TILL")
    @admin_options()
    def change(number: str, env: AdminEnv) -> None:
        wanted = till_number(number)
        changed = env.run(lambda conn: set_till_state_txn(conn, env, wanted, state, now_ns()))
        click.echo(
            f"till {wanted} {done}" if changed else f"till {wanted} was already {state.value}"
        )

    change.help = f"{name.capitalize()} TILL (recorded in the audit log)."
    return change


suspend = _state_command("suspend", TillState.SUSPENDED, "suspended: it takes no payments")
resume = _state_command("resume", TillState.ACTIVE, "active again")


def _balance_txn(conn: Connection, msisdn: str) -> int:
    found = get_subscriber_txn(conn, msisdn)
    balance = get_balance(conn, found.account_id) if found is not None else None
    return balance.available if balance is not None else 0
