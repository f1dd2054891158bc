"""`smscore subscriber …`: register subscribers (with wallet, PIN and an opening deposit) and list them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from daemon.chart import (
    ChartError,
    deposit_txn,
    ensure_chart_txn,
    new_transfer_id,
)
from daemon.commands.money import MoneyError, format_money, parse_money_minor
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.commands.normalise import normalise_text
from daemon.commands.registry import Role
from daemon.config import Config, ConfigError
from daemon.db import first_line
from daemon.migrate import upgrade_all
from daemon.replies import LANGUAGES
from daemon.run_cli import config_from_options, state_dir_option
from daemon.subscribers import (
    PepperError,
    PinHasher,
    SubscriberError,
    create_subscriber_txn,
    list_subscribers_txn,
    load_pepper_txn,
    pepper_path,
)
from ledger import DatabaseNotFound, get_balance, make_engine

T = TypeVar("T")
_PIN_DIGITS = (4, 6)


class AdminCliError(click.ClickException):
    exit_code = 2


def _config(config_path: Path | None, db_url: str | None, state_dir: Path | None) -> Config:
    try:
        return config_from_options(config_path, db=db_url, state_dir=state_dir)
    except ConfigError as exc:
        raise AdminCliError(str(exc)) from None


def _run(config: Config, work: Callable[[Connection], T], write: bool = True) -> T:
    """`work(conn)` in one transaction; only a writer creates the state directory or a SQLite file."""
    url = config.database_url
    if write and url.startswith("sqlite:") and not config.database.url:
        config.service.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        # A reader must not hold SQLite's write lock while the daemon posts.
        engine = make_engine(url, sqlite_begin="IMMEDIATE" if write else "DEFERRED", create=write)
    except ArgumentError:
        raise AdminCliError(f"--db: not a database URL: {url!r}") from None
    except DatabaseNotFound as exc:
        raise AdminCliError(str(exc)) from None
    try:
        with engine.begin() as conn:
            return work(conn)
    except SQLAlchemyError as exc:
        raise AdminCliError(
            f"database {engine.url.render_as_string()}: {first_line(exc)}"
        ) from None
    except (ChartError, SubscriberError, PepperError) as exc:
        raise AdminCliError(str(exc)) from None
    finally:
        engine.dispose()


def _numbering(config: Config) -> Numbering:
    return Numbering(config.service.region)


def _now_ns() -> int:
    # An admin action happens now: the CLI is an entry point, where the real clock is read.
    return time.time_ns()


CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SMSCORE_CONFIG",
    help="The daemon's TOML config (database, country code, currency, PIN pepper file).",
)
DB_OPTION = click.option(
    "--db", "db_url", metavar="URL", help="Database URL (overrides the config)."
)


@click.group("subscriber")
def subscriber() -> None:
    """Register and list mobile-money subscribers."""


def _valid_pin(_ctx: click.Context, _param: click.Parameter, pin: str) -> str:
    pin = normalise_text(pin)  # the same digits an SMS may carry (fullwidth, Arabic-Indic...)
    if not (pin.isascii() and pin.isdigit() and _PIN_DIGITS[0] <= len(pin) <= _PIN_DIGITS[1]):
        raise click.BadParameter("a PIN is 4 to 6 digits")
    return pin


@subscriber.command("add")
@click.argument("msisdn")
@click.option(
    "--pin",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    callback=_valid_pin,
    help="4-6 digits; asked for (hidden) when not given, which keeps it out of shell history.",
)
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
@CONFIG_OPTION
@DB_OPTION
@state_dir_option
def add(
    msisdn: str,
    pin: str,
    name: str,
    role: str,
    language: str,
    deposit: str | None,
    config_path: Path | None,
    db_url: str | None,
    state_dir: Path | None,
) -> None:
    """Register MSISDN (any usual form: 0712…, +254712…), open its wallet, optionally fund it."""
    config = _config(config_path, db_url, state_dir)
    number = _parse_msisdn(msisdn, config)
    amount = _parse_deposit(deposit)
    registration = Registration(number, pin, name, Role(role), language, amount)
    available = _run(config, lambda conn: register_txn(conn, config, registration))
    currency = config.service.currency
    click.echo(f"registered {number} ({role}), balance {format_money(available, currency)}")


def _parse_msisdn(msisdn: str, config: Config) -> str:
    try:
        return normalize_msisdn(msisdn, _numbering(config))
    except MsisdnError as exc:
        raise AdminCliError(
            f"MSISDN {msisdn!r}: not a phone number of region {config.service.region} ({exc.reason})"
        ) from None


def _parse_deposit(deposit: str | None) -> int:
    try:
        return parse_money_minor(deposit) if deposit else 0
    except MoneyError as exc:
        raise AdminCliError(f"--deposit {deposit!r}: not an amount ({exc.reason})") from None


@dataclass(frozen=True, slots=True)
class Registration:
    """What `subscriber add` registers (the PIN in clear: hashed before it is stored)."""

    number: str  # normalised MSISDN
    pin: str = field(repr=False)
    name: str
    role: Role
    language: str
    deposit_minor: int  # 0: no opening deposit


def register_txn(conn: Connection, config: Config, registration: Registration) -> int:
    """Create the subscriber and its wallet, fund it; returns the available balance (minor units)."""
    now_ns = _now_ns()
    currency = config.service.currency
    upgrade_all(conn)
    # Checked against the database's pepper before anything is written (PepperMismatch).
    path = pepper_path(config)
    hasher = PinHasher(load_pepper_txn(conn, path, now_ns), source=path)
    ensure_chart_txn(conn, currency, now_ns)
    number = registration.number
    created = create_subscriber_txn(
        conn, number, pin=registration.pin, hasher=hasher, currency=currency, now_ns=now_ns,
        name=registration.name, role=registration.role, language=registration.language,
    )  # fmt: skip
    if registration.deposit_minor:
        deposit_txn(
            conn, created.account_id, registration.deposit_minor, currency, now_ns,
            transfer_id=new_transfer_id(), user_data=f"admin:deposit:{number}",
        )  # fmt: skip
    balance = get_balance(conn, created.account_id)
    return balance.available if balance else 0


@subscriber.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@CONFIG_OPTION
@DB_OPTION
@state_dir_option
def list_command(
    limit: int, config_path: Path | None, db_url: str | None, state_dir: Path | None
) -> None:
    """Print subscribers: number, role, language, PIN state, available balance, name."""
    config = _config(config_path, db_url, state_dir)

    def work(conn: Connection) -> list[tuple]:
        rows = []
        for found in list_subscribers_txn(conn, limit):
            balance = get_balance(conn, found.account_id)
            money = format_money(balance.available, balance.currency) if balance else "-"
            pin = (
                "locked"
                if found.locked_until_ns > _now_ns()
                else ("set" if found.pin_hmac else "none")
            )
            rows.append((found.msisdn, found.role.value, found.language, pin, money, found.name))
        return rows

    for row in _run(config, work, write=False):
        click.echo("\t".join(row))
