"""`tariff show`: the fee, commission and limit tables as the daemon reads them, as rich tables.

The tariff is the config's [money] tariff_file (or the built-in one), or --tariff-file; amounts are
shown in the config's currency. A broken config or tariff file is one line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from daemon.commands.money import format_money
from daemon.config import ConfigError, load_config
from daemon.money.tariff import (
    COMMISSION_COMMANDS,
    MINIMUM_COMMANDS,
    BandTable,
    RecipientKind,
    Tariff,
    TariffError,
    load_tariff,
)
from daemon.money.tariff_file import TIERS

_FEE_TABLES = (
    ("SEND", RecipientKind.REGISTERED, "SEND to a registered number"),
    ("SEND", RecipientKind.UNREGISTERED, "SEND to an unregistered number (voucher)"),
    ("WITHDRAW", RecipientKind.REGISTERED, "WITHDRAW at an agent"),
    ("DEPOSIT", RecipientKind.REGISTERED, "DEPOSIT at an agent"),
    ("COLLECT", RecipientKind.REGISTERED, "COLLECT a voucher at an agent"),
)


class TariffCliError(click.ClickException):
    exit_code = 2


def show_tariff(console: Console, tariff: Tariff, currency: str) -> None:
    """Prints the limits, minimum amounts, customer fees and agent commission of `tariff`."""
    console.print(_limits_table(tariff, currency))
    console.print(_minimums_table(tariff, currency))
    for command, kind, title in _FEE_TABLES:
        _print_bands(console, f"Fee: {title}", "Fee", tariff.fees[command, kind], currency)
    for command in COMMISSION_COMMANDS:
        table = tariff.commissions[command]
        _print_bands(console, f"Agent commission: {command}", "Commission", table, currency)


def _limits_table(tariff: Tariff, currency: str) -> Table:
    table = Table(title="Limits by KYC tier")
    table.add_column("Limit")
    for number in TIERS:
        table.add_column(f"Tier {number}", justify="right")
    limits = [tariff.limits(number) for number in TIERS]
    rows = (
        ("Per transaction", [format_money(t.per_transaction_max_minor, currency) for t in limits]),
        ("Per day, value", [format_money(t.daily_value_max_minor, currency) for t in limits]),
        ("Per day, transactions", [f"{t.daily_count_max:,}" for t in limits]),
        ("Maximum balance", [format_money(t.balance_max_minor, currency) for t in limits]),
    )
    for name, cells in rows:
        table.add_row(name, *cells)
    return table


def _minimums_table(tariff: Tariff, currency: str) -> Table:
    table = Table(title="Minimum amounts")
    table.add_column("Command")
    table.add_column("Minimum", justify="right")
    for command in MINIMUM_COMMANDS:
        table.add_row(command, format_money(tariff.minimum_minor(command), currency))
    return table


def _print_bands(
    console: Console, title: str, charge: str, bands: BandTable, currency: str
) -> None:
    if not bands.bands:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    table.add_column("From", justify="right")
    table.add_column("To", justify="right")
    table.add_column(charge, justify="right")
    for band in bands.bands:
        table.add_row(
            format_money(band.lo_minor, currency),
            format_money(band.hi_minor, currency),
            format_money(band.charge_minor, currency),
        )
    console.print(table)


@click.group("tariff")
def tariff() -> None:
    """The tariff: customer fees, agent commission and KYC-tier limits."""


@tariff.command("show")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SMSCORE_CONFIG",
    help="The daemon's TOML config: its [money] tariff_file and [service] currency.",
)
@click.option(
    "--tariff-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A tariff file to show instead of the config's (check one before deploying it).",
)
def show(config_path: Path | None, tariff_file: Path | None) -> None:
    """Show the fee, commission and limit tables the daemon would use."""
    try:
        config = load_config(config_path)
        loaded = load_tariff(tariff_file or config.money.tariff_file)
    except (ConfigError, TariffError) as exc:
        raise TariffCliError(str(exc)) from None
    show_tariff(Console(), loaded, config.service.currency)
