"""What every staff command shares: the config from --config/--db/--state-dir, the operator (--actor),
one transaction per command, numbers and amounts as people write them, the PIN option, and errors as
one line with exit code 2 (never a traceback)."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from daemon.audit import AuditError, check_actor, operator_name
from daemon.channels.events import activate_channels
from daemon.channels.keys import ChannelKeyError
from daemon.chart import ChartError, ensure_chart_txn
from daemon.commands.money import MoneyError, format_money, parse_money_minor
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.commands.normalise import normalise_text
from daemon.config import Config, ConfigError
from daemon.db import first_line
from daemon.migrate import upgrade_all
from daemon.money.issue import IssueRefused
from daemon.run_cli import config_from_options, state_dir_option
from daemon.secret_files import create_private_file
from daemon.security.receipt_keys import ReceiptKeyError
from daemon.security.signing import activate
from daemon.subscribers import (
    PepperError,
    PinHasher,
    SubscriberError,
    is_weak_pin,
    load_pepper_txn,
    pepper_path,
)
from ledger import DatabaseNotFound, make_engine, sqlite_file

T = TypeVar("T")
_PIN_DIGITS = (4, 6)
# Refusals raised inside a command's transaction that are already one line for the operator.
_ONE_LINE_ERRORS = (ChartError, SubscriberError, PepperError, IssueRefused, AuditError)


class AdminCliError(click.ClickException):
    exit_code = 2


def now_ns() -> int:
    # A staff action happens now: the CLI is an entry point, where the real clock is read.
    return time.time_ns()


def load_config(config_path: Path | None, db_url: str | None, state_dir: Path | None) -> Config:
    try:
        return config_from_options(config_path, db=db_url, state_dir=state_dir)
    except ConfigError as exc:
        raise AdminCliError(str(exc)) from None


def one_line_refusals(
    work: Callable[[Connection], T], refusals: tuple[type[Exception], ...]
) -> Callable[[Connection], T]:
    """`work` with `refusals` raised inside it (so its transaction is undone) turned into a one-line
    AdminCliError for the operator."""

    def refusing(conn: Connection) -> T:
        try:
            return work(conn)
        except refusals as exc:
            raise AdminCliError(str(exc)) from None

    return refusing


def _sqlite_path(url: str) -> Path | None:
    try:
        return sqlite_file(url)
    except ArgumentError:  # make_engine says so below
        return None


def run_txn(config: Config, work: Callable[[Connection], T], write: bool = True) -> T:
    """`work(conn)` in one transaction; only a writer creates the state directory or a SQLite file,
    and brings the schema up to date first."""
    url = config.database_url
    if write and url.startswith("sqlite:") and not config.database.url:
        database = config.service.state_dir / "smscore.db"
        if not database.exists():  # a new, empty one: say so, it may not be the daemon's
            click.echo(
                f"note: no database at {database} yet: creating it (the daemon's is wherever its "
                "--config or --state-dir says)",
                err=True,
            )
    if write and (path := _sqlite_path(url)) is not None and not path.exists():
        create_private_file(path)  # 0600 in a 0700 directory, as `smscore run` makes it
    try:
        # A reader must not hold SQLite's write lock while the daemon posts.
        engine = make_engine(url, sqlite_begin="IMMEDIATE" if write else "DEFERRED", create=write)
    except ArgumentError:
        raise AdminCliError(f"--db: not a database URL: {url!r}") from None
    except DatabaseNotFound as exc:
        raise AdminCliError(str(exc)) from None
    try:
        with engine.begin() as conn:
            if write:
                upgrade_all(conn)
            return work(conn)
    except SQLAlchemyError as exc:
        raise AdminCliError(
            f"database {engine.url.render_as_string()}: {first_line(exc)}"
        ) from None
    except _ONE_LINE_ERRORS as exc:
        raise AdminCliError(str(exc)) from None
    finally:
        engine.dispose()


def activate_receipts(config: Config) -> None:
    """The receipt keys of `config` loaded, when the daemon has made them (its first start does);
    and the business API's money observers registered, so a staff command that posts a payment
    (review release of a held merchantpay) moves its API request on in the same transaction."""
    import daemon.api.merchantpay  # noqa: F401 (its observers; imported only when needed)

    try:
        activate(config, now_ns(), create=False)
    except (ReceiptKeyError, OSError) as exc:
        raise AdminCliError(f"receipt keys: {exc}") from None
    try:  # and the channel keys: a move or a revocation it makes is told on the channels
        activate_channels(config, create=False)
    except (ChannelKeyError, OSError) as exc:
        raise AdminCliError(f"channel keys: {exc}") from None


def numbering(config: Config) -> Numbering:
    return Numbering(config.service.region)


def parse_msisdn(written: str, config: Config) -> str:
    try:
        return normalize_msisdn(written, numbering(config))
    except MsisdnError as exc:
        raise AdminCliError(
            f"MSISDN {written!r}: not a phone number of region {config.service.region} ({exc.reason})"
        ) from None


def parse_amount(written: str, what: str) -> int:
    """Minor units of `written` (1,000.50, 500/=, "KES 1,500.00" as an SMS shows it...); `what`
    names the argument in the error."""
    try:
        return parse_money_minor(re.sub(r"^([A-Za-z]{3})\s+", r"\1", written.strip()))
    except MoneyError as exc:
        raise AdminCliError(f"{what} {written!r}: not an amount ({exc.reason})") from None


def pin_hasher_txn(conn: Connection, config: Config, at_ns: int) -> PinHasher:
    """The PIN hasher, its pepper checked against the database before anything is written; the
    chart of accounts made sure of (a store's float or a wallet is about to be opened)."""
    path = pepper_path(config)
    hasher = PinHasher(load_pepper_txn(conn, path, at_ns), source=path)
    ensure_chart_txn(conn, config.service.currency, at_ns)
    return hasher


@dataclass(frozen=True, slots=True)
class AdminEnv:
    """The config and the operator of one staff command."""

    config: Config
    actor: str  # who is recorded in the audit log

    @property
    def currency(self) -> str:
        return self.config.service.currency

    def run(self, work: Callable[[Connection], T], write: bool = True) -> T:
        if write:  # a writer may post a move and tell its parties: its notices are signed
            activate_receipts(self.config)
        return run_txn(self.config, work, write)

    def msisdn(self, written: str) -> str:
        return parse_msisdn(written, self.config)

    def money(self, amount_minor: int) -> str:
        return format_money(amount_minor, self.currency)


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
ACTOR_OPTION = click.option(
    "--actor",
    metavar="NAME",
    help="Who is recorded in the audit log (default: the operating-system user).",
)


def admin_options(audited: bool = True) -> Callable[[Callable[..., Any]], click.Command]:
    """Adds --config, --db, --state-dir (and --actor when the command changes something) to a
    click command function, which receives them as one `env: AdminEnv` argument."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_env(
            *args: Any,
            config_path: Path | None,
            db_url: str | None,
            state_dir: Path | None,
            actor: str | None = None,
            **kwargs: Any,
        ) -> Any:
            who = operator_name() if actor is None else actor
            if audited:
                try:
                    who = check_actor(who)
                except AuditError as exc:
                    raise AdminCliError(f"--actor: {exc}") from None
            env = AdminEnv(load_config(config_path, db_url, state_dir), who)
            return command(*args, env=env, **kwargs)

        options = [CONFIG_OPTION, DB_OPTION, state_dir_option] + ([ACTOR_OPTION] if audited else [])
        for option in reversed(options):
            with_env = option(with_env)
        return with_env

    return decorate


PIN_PROMPT = "PIN"  # what the prompt asks, and what its refusals name


def valid_pin(written: str, source: str = "--pin") -> str:
    """The PIN as digits; AdminCliError (one line naming `source`, the option or the prompt, never
    echoing the PIN) if it is not 4 to 6 digits or too easy to guess."""
    pin = normalise_text(written)  # the same digits an SMS may carry (fullwidth, Arabic-Indic...)
    if not (pin.isascii() and pin.isdigit() and _PIN_DIGITS[0] <= len(pin) <= _PIN_DIGITS[1]):
        raise AdminCliError(f"{source}: a PIN is 4 to 6 digits")
    if is_weak_pin(pin):  # the same rule as PIN over SMS
        raise AdminCliError(f"{source}: too easy to guess (one digit repeated, or a run like 4567)")
    return pin


def read_pin(given: str | None) -> str:
    """The --pin given, else asked for twice without echo (asked again until it is a PIN). Called
    after the other arguments are checked, so a typo in a number does not cost a PIN entry."""
    if given is not None:
        return valid_pin(given)

    def checked(written: str) -> str:
        try:
            return valid_pin(written, source=PIN_PROMPT)
        except AdminCliError as exc:
            raise click.UsageError(exc.message) from None  # click's prompt asks again

    return click.prompt(PIN_PROMPT, hide_input=True, confirmation_prompt=True, value_proc=checked)


PIN_OPTION = click.option(
    "--pin",
    metavar="PIN",
    help="4-6 digits; asked for (hidden, twice) when not given, which keeps it out of shell history.",
)
