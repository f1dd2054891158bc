"""`smscore subscriber …`: register subscribers (with wallet, PIN and an opening balance issued as a move,
recorded in the audit log) and list them. Agent stores and assistants are `smscore admin`'s."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from sqlalchemy import Connection

from daemon.admin.env import (
    PIN_OPTION,
    AdminCliError,
    AdminEnv,
    admin_options,
    now_ns,
    parse_amount,
    pin_hasher_txn,
    read_pin,
)
from daemon.audit import record_txn
from daemon.commands.money import format_money
from daemon.commands.registry import Role
from daemon.money.issue import Issue, issue_txn
from daemon.money.moves import MoveKind
from daemon.replies import LANGUAGES
from daemon.subscribers import create_subscriber_txn, list_subscribers_txn
from ledger import get_balance

_SET_UP_BY_ADMIN = (Role.AGENT, Role.ASSISTANT)


@click.group("subscriber")
def subscriber() -> None:
    """Register and list mobile-money subscribers."""


@subscriber.command("add")
@click.argument("msisdn")
@PIN_OPTION
@click.option("--name", default="", help="The subscriber's name.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role if r is not Role.UNREGISTERED]),
    default="customer",
)
@click.option("--language", type=click.Choice(LANGUAGES), default="en")
@click.option(
    "--deposit",
    metavar="AMOUNT",
    help="Opening balance issued from the trust account, e.g. 1,000.50.",
)
@admin_options()
def add(
    msisdn: str,
    pin: str | None,
    name: str,
    role: str,
    language: str,
    deposit: str | None,
    env: AdminEnv,
) -> None:
    """Register MSISDN (any usual form: 0712…, +254712…), open its wallet, optionally fund it."""
    if Role(role) in _SET_UP_BY_ADMIN:
        raise AdminCliError(f"--role {role}: use `smscore admin {role} add` (a store needs its agent "
                            "number, an assistant its store)")  # fmt: skip
    number = env.msisdn(msisdn)
    amount = parse_amount(deposit, "--deposit") if deposit else 0
    pin = read_pin(pin)
    registration = Registration(number, pin, name, Role(role), language, amount)
    available = env.run(lambda conn: register_txn(conn, env, registration))
    click.echo(f"registered {number} ({role}), balance {env.money(available)}")


@dataclass(frozen=True, slots=True)
class Registration:
    """What `subscriber add` registers (the PIN in clear: hashed before it is stored)."""

    number: str  # normalised MSISDN
    pin: str = field(repr=False)
    name: str
    role: Role
    language: str
    deposit_minor: int  # 0: no opening deposit


def register_txn(conn: Connection, env: AdminEnv, registration: Registration) -> int:
    """Create the subscriber and its wallet, fund it (an ISSUE move), record it in the audit log;
    returns the available balance (minor units)."""
    at_ns = now_ns()
    hasher = pin_hasher_txn(conn, env.config, at_ns)
    number = registration.number
    created = create_subscriber_txn(
        conn, number, pin=registration.pin, hasher=hasher, currency=env.currency, now_ns=at_ns,
        name=registration.name, role=registration.role, language=registration.language,
        registered_by=f"staff:{env.actor}",
    )  # fmt: skip
    detail = f"role {registration.role.value}, name {registration.name!r}"
    if registration.deposit_minor:
        detail += f", opening balance {env.money(registration.deposit_minor)}"
    audit_id = record_txn(conn, env.actor, "subscriber.add", number, detail, at_ns)
    if registration.deposit_minor:
        issue = Issue(
            MoveKind.ISSUE, number, created.account_id, registration.deposit_minor, audit_id
        )
        issue_txn(conn, issue, env.currency, at_ns)
    balance = get_balance(conn, created.account_id)
    return balance.available if balance else 0


@subscriber.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@admin_options(audited=False)
def list_command(limit: int, env: AdminEnv) -> None:
    """Print subscribers: number, role, language, PIN state, available balance, name."""

    def work(conn: Connection) -> list[tuple]:
        rows = []
        for found in list_subscribers_txn(conn, limit):
            balance = get_balance(conn, found.account_id)
            money = format_money(balance.available, balance.currency) if balance else "-"
            pin = (
                "locked"
                if found.locked_until_ns > now_ns()
                else ("set" if found.pin_hmac else "none")
            )
            rows.append((found.msisdn, found.role.value, found.language, pin, money, found.name))
        return rows

    for row in env.run(work, write=False):
        click.echo("\t".join(row))
