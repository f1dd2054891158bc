"""The tariff: customer fees, agent commission and KYC-tier limits, loaded from a TOML file.

`load_tariff(path)` reads and validates the file (None: the built-in default_tariff.toml, the same
tariff as the documented etc/tariff.toml); a problem is a `TariffError` of one line,
`<file>: <key path>: <problem>`. The format is in daemon.money.tariff_file.

Lookups work in integer minor units. An amount outside every band of a table raises `NoBand`; a valid
tariff's bands cover every amount from the command's minimum to the largest per-transaction limit, so
callers that check the limits first (daemon.money.limits) never see it, and treat it as over the
per-transaction limit if they do. A command without a table (DEPOSIT and COLLECT fees by default)
costs nothing.
"""

from __future__ import annotations

import bisect
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from daemon.commands.money import format_amount
from daemon.money.tariff_file import (
    TIERS,
    Problem,
    TariffFile,
    TierFile,
    band_tables,
    tariff_problems,
)

DEFAULT_TARIFF = "default_tariff.toml"  # in this package
_DEFAULT_WHERE = f"daemon/money/{DEFAULT_TARIFF}"
FEE_COMMANDS = ("SEND", "WITHDRAW", "DEPOSIT", "COLLECT", "PAY", "TILL", "BUY")
COMMISSION_COMMANDS = ("DEPOSIT", "WITHDRAW", "COLLECT")
MERCHANT_FEE_COMMANDS = ("TILL",)
MINIMUM_COMMANDS = ("SEND", "DEPOSIT", "WITHDRAW", "PAY", "TILL", "BUY", "REQUEST")


class TariffError(Exception):
    """A tariff file problem, already phrased as one line for the operator."""


class UnknownCommand(ValueError):
    """The tariff has nothing to say about this command (a caller's bug, not a subscriber's)."""


class NoBand(LookupError):
    """No band of the table covers the amount: refuse it (it is outside the limits)."""

    def __init__(self, table: str, amount_minor: int, lowest_minor: int, highest_minor: int):
        super().__init__(
            f"{table}: no band for {format_amount(amount_minor)} "
            f"(bands cover {format_amount(lowest_minor)} to {format_amount(highest_minor)})"
        )
        self.amount_minor = amount_minor
        self.lowest_minor = lowest_minor
        self.highest_minor = highest_minor


class RecipientKind(StrEnum):
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"  # a SEND that becomes a voucher


@dataclass(frozen=True, slots=True)
class Band:
    """Amounts lo_minor..hi_minor (both included) are charged charge_minor."""

    lo_minor: int
    hi_minor: int
    charge_minor: int


def _band_start(band: Band) -> int:
    return band.lo_minor


@dataclass(frozen=True, slots=True)
class BandTable:
    name: str  # e.g. "fees.send_registered", for messages
    bands: tuple[Band, ...]  # contiguous, ascending; () = nothing is charged

    def charge_minor(self, amount_minor: int) -> int:
        if not self.bands:
            return 0
        index = bisect.bisect_right(self.bands, amount_minor, key=_band_start) - 1
        if index < 0 or amount_minor > self.bands[index].hi_minor:
            raise NoBand(self.name, amount_minor, self.bands[0].lo_minor, self.bands[-1].hi_minor)
        return self.bands[index].charge_minor


@dataclass(frozen=True, slots=True)
class TierLimits:
    per_transaction_max_minor: int
    daily_value_max_minor: int
    daily_count_max: int
    balance_max_minor: int


@dataclass(frozen=True, slots=True)
class Tariff:
    fees: dict[tuple[str, RecipientKind], BandTable]
    commissions: dict[str, BandTable]
    tiers: dict[int, TierLimits]
    minimums_minor: dict[str, int]
    biller_fees: dict[str, BandTable] = field(default_factory=dict)  # by biller code
    merchant_fees: dict[str, BandTable] = field(default_factory=dict)

    def fee_minor(
        self,
        command: str,
        amount_minor: int,
        recipient: RecipientKind = RecipientKind.REGISTERED,
        *,
        biller: str | None = None,
    ) -> int:
        """The customer's fee; `recipient` matters only for SEND, `biller` (its code) only for PAY:
        a biller with its own bands pays by those. NoBand outside the bands."""
        if command not in FEE_COMMANDS:
            raise UnknownCommand(f"no fees for {command!r}")
        if command == "PAY" and biller is not None and biller.upper() in self.biller_fees:
            return self.biller_fees[biller.upper()].charge_minor(amount_minor)
        kind = recipient if command == "SEND" else RecipientKind.REGISTERED
        return self.fees[command, kind].charge_minor(amount_minor)

    def merchant_fee_minor(self, command: str, amount_minor: int) -> int:
        """What the merchant pays out of a payment it receives. NoBand outside the bands."""
        if command not in MERCHANT_FEE_COMMANDS:
            raise UnknownCommand(f"no merchant fee for {command!r}")
        return self.merchant_fees[command].charge_minor(amount_minor)

    def commission_minor(self, command: str, amount_minor: int) -> int:
        """The agent's commission. NoBand outside the bands."""
        if command not in COMMISSION_COMMANDS:
            raise UnknownCommand(f"no agent commission for {command!r}")
        return self.commissions[command].charge_minor(amount_minor)

    def limits(self, tier: int) -> TierLimits:
        if tier not in self.tiers:
            raise ValueError(f"no KYC tier {tier!r} (tiers are {', '.join(map(str, TIERS))})")
        return self.tiers[tier]

    def minimum_minor(self, command: str) -> int:
        if command not in MINIMUM_COMMANDS:
            raise UnknownCommand(f"no minimum amount for {command!r}")
        return self.minimums_minor[command]


def load_tariff(path: Path | None) -> Tariff:
    """Read and validate a tariff file; None: the built-in default. TariffError on any problem."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_TARIFF).read_text(encoding="utf-8")
        return parse_tariff(text, _DEFAULT_WHERE)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TariffError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TariffError(f"{where}: cannot read: {exc}") from None
    return parse_tariff(text, where)


def parse_tariff(text: str, where: str = "<tariff>") -> Tariff:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(f"{where}: not valid TOML: {exc}") from None
    try:
        file = TariffFile.model_validate(data)
    except ValidationError as exc:
        raise TariffError(_pydantic_problem(where, exc)) from None
    problems = tariff_problems(file)
    if problems:
        raise TariffError(_one_line(where, problems[0], len(problems) - 1))
    return _tariff_of(file)


def _pydantic_problem(where: str, exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "missing (every tariff names it)"
    return _one_line(where, (key, message), exc.error_count() - 1)


def _one_line(where: str, problem: Problem, others: int) -> str:
    key, message = problem
    more = f" (and {others} more)" if others else ""
    return f"{where}: {key}: {message}{more}"


def _tariff_of(file: TariffFile) -> Tariff:
    tables = {
        path: BandTable(
            path, tuple(Band(band.lo_minor, band.hi_minor, band.charge_minor) for band in bands)
        )
        for path, bands, _ in band_tables(file)
    }

    def table(path: str) -> BandTable:
        return tables.get(path, BandTable(path, ()))

    fees = {
        ("SEND", RecipientKind.REGISTERED): table("fees.send_registered"),
        ("SEND", RecipientKind.UNREGISTERED): table("fees.send_unregistered"),
        **{
            (command, RecipientKind.REGISTERED): table(f"fees.{command.lower()}")
            for command in FEE_COMMANDS[1:]
        },
    }
    return Tariff(
        fees=fees,
        commissions={
            command: table(f"commission.{command.lower()}") for command in COMMISSION_COMMANDS
        },
        tiers={number: _limits_of(file.tiers.tier(number)) for number in TIERS},
        minimums_minor={
            command: getattr(file.minimum, command.lower()) for command in MINIMUM_COMMANDS
        },
        biller_fees={
            code.upper(): table(f"fees.pay_by_biller.{code}") for code in file.fees.pay_by_biller
        },
        merchant_fees={
            command: table(f"merchant_fees.{command.lower()}") for command in MERCHANT_FEE_COMMANDS
        },
    )


def _limits_of(tier: TierFile) -> TierLimits:
    return TierLimits(
        per_transaction_max_minor=tier.per_transaction_max,
        daily_value_max_minor=tier.daily_value_max,
        daily_count_max=tier.daily_count_max,
        balance_max_minor=tier.balance_max,
    )
