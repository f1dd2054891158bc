"""The tariff file's format: pydantic models of its tables and the rules that span several keys.

Amounts are written in major units (KES), never as floats: a TOML integer (`fee = 30` is KES 30.00) or
a decimal string with at most two decimals (`fee = "12.50"`). Band bounds are whole units (integers):
a band `{ min = 101, max = 500 }` covers KES 101.00 up to KES 500.99, so the next band starts at 501
and every amount, cents included, falls in exactly one band. etc/tariff.toml documents every key.

Types and shapes are pydantic's (strict, unknown keys refused); `tariff_problems` then checks what
spans keys (bands contiguous and covering the amounts the limits allow, tiers ordered) and returns
each problem as (key path, text) so the loader can name the key, as daemon.config does.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from daemon.commands.money import MAX_AMOUNT_MINOR, MINOR_PER_MAJOR, format_amount

TIERS = (1, 2, 3)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_MAX_WHOLE = MAX_AMOUNT_MINOR // MINOR_PER_MAJOR


def _minor_from_major(value: Any) -> int:
    """`30` or `"30.50"` (KES) → 3000 or 3050; floats, negatives and other text are refused."""
    if isinstance(value, bool):
        raise ValueError("must be an amount, not true or false")
    if isinstance(value, float):
        raise ValueError(
            'a float is not exact: write whole units as an integer (30) or cents as a string ("30.50")'
        )
    if isinstance(value, int):
        minor = value * MINOR_PER_MAJOR
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        whole, _, cents = value.partition(".")
        minor = int(whole) * MINOR_PER_MAJOR + int(cents.ljust(2, "0"))
    elif isinstance(value, str):
        raise ValueError(f'not an amount: {value!r} (write e.g. 30 or "30.50")')
    else:
        raise ValueError('must be an amount such as 30 or "30.50"')
    if minor < 0:
        raise ValueError("must not be negative")
    if minor > MAX_AMOUNT_MINOR:
        raise ValueError(f"is above the largest amount, {format_amount(MAX_AMOUNT_MINOR)}")
    return minor


def _whole_units(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("band bounds are whole units, written as an integer (e.g. 500)")
    if not 0 <= value <= _MAX_WHOLE:
        raise ValueError(f"must be 0 to {_MAX_WHOLE:,}")
    return value


Minor = Annotated[int, BeforeValidator(_minor_from_major)]
PositiveMinor = Annotated[int, BeforeValidator(_minor_from_major), Field(gt=0)]
WholeUnits = Annotated[int, BeforeValidator(_whole_units)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Band(_Strict):
    min: WholeUnits
    max: WholeUnits

    @model_validator(mode="after")
    def _ordered(self) -> _Band:
        if self.min > self.max:
            raise ValueError(f"min {self.min:,} is above max {self.max:,}")
        return self

    @property
    def lo_minor(self) -> int:
        return self.min * MINOR_PER_MAJOR

    @property
    def hi_minor(self) -> int:  # the band's max covers its cents: 500 → 500.99
        return (self.max + 1) * MINOR_PER_MAJOR - 1


class FeeBand(_Band):
    fee: Minor

    @property
    def charge_minor(self) -> int:
        return self.fee


class CommissionBand(_Band):
    commission: Minor

    @property
    def charge_minor(self) -> int:
        return self.commission


FeeBands = list[FeeBand]
CommissionBands = list[CommissionBand]


class FeesFile(_Strict):
    send_registered: Annotated[FeeBands, Field(min_length=1)]
    send_unregistered: Annotated[FeeBands, Field(min_length=1)]  # a voucher, cashed at an agent
    withdraw: Annotated[FeeBands, Field(min_length=1)]
    deposit: FeeBands = []  # [] = free
    collect: FeeBands = []  # [] = free (the sender paid for the voucher)
    pay: FeeBands = []  # PAY (bills), paid by the customer; [] = free
    # A biller's own bands (by biller code, upper case), in place of `pay` for that biller.
    pay_by_biller: dict[str, Annotated[FeeBands, Field(min_length=1)]] = {}
    till: FeeBands = []  # TILL, paid by the customer; [] = free (the merchant pays, below)
    buy: FeeBands = []  # BUY (airtime); [] = free


class MerchantFeesFile(_Strict):
    till: FeeBands = []  # taken from each TILL payment the merchant receives; [] = none


class CommissionFile(_Strict):
    deposit: CommissionBands = []  # [] = no commission
    withdraw: CommissionBands = []
    collect: CommissionBands = []


class MinimumFile(_Strict):
    send: PositiveMinor
    deposit: PositiveMinor
    withdraw: PositiveMinor
    # Defaults are not validated, so they are minor units already (KES 1, and KES 5 of airtime).
    pay: PositiveMinor = 100
    till: PositiveMinor = 100
    buy: PositiveMinor = 500
    request: PositiveMinor = 100  # REQ


class TierFile(_Strict):
    per_transaction_max: PositiveMinor
    daily_value_max: PositiveMinor
    daily_count_max: Annotated[int, Field(ge=1, le=1_000_000)]
    balance_max: PositiveMinor


class TiersFile(_Strict):
    tier_1: TierFile = Field(alias="1")
    tier_2: TierFile = Field(alias="2")
    tier_3: TierFile = Field(alias="3")

    def tier(self, number: int) -> TierFile:
        return getattr(self, f"tier_{number}")


class TariffFile(_Strict):
    minimum: MinimumFile
    tiers: TiersFile
    fees: FeesFile
    commission: CommissionFile = CommissionFile()
    merchant_fees: MerchantFeesFile = MerchantFeesFile()


Problem = tuple[str, str]  # (key path, what is wrong)
_TIER_KEYS = ("per_transaction_max", "daily_value_max", "daily_count_max", "balance_max")


def tariff_problems(tariff: TariffFile) -> list[Problem]:
    """Every cross-key problem of a tariff whose keys each have the right type, first to last."""
    return (
        _tier_problems(tariff)
        + _merchant_fee_problems(tariff)
        + [
            problem
            for path, bands, floor_minor in band_tables(tariff)
            for problem in _band_problems(path, bands, floor_minor, _ceiling_minor(tariff))
        ]
    )


def band_tables(tariff: TariffFile) -> list[tuple[str, list[FeeBand] | list[CommissionBand], int]]:
    """(key path, bands, the smallest amount they must cover) of every non-empty band table."""
    fees, commission, minimum = tariff.fees, tariff.commission, tariff.minimum
    tables = [
        ("fees.send_registered", fees.send_registered, minimum.send),
        ("fees.send_unregistered", fees.send_unregistered, minimum.send),
        ("fees.withdraw", fees.withdraw, minimum.withdraw),
        ("fees.deposit", fees.deposit, minimum.deposit),
        ("fees.collect", fees.collect, minimum.send),  # a voucher is any amount a SEND may be
        ("fees.pay", fees.pay, minimum.pay),
        *(
            (f"fees.pay_by_biller.{code}", bands, minimum.pay)
            for code, bands in fees.pay_by_biller.items()
        ),
        ("fees.till", fees.till, minimum.till),
        ("fees.buy", fees.buy, minimum.buy),
        ("merchant_fees.till", tariff.merchant_fees.till, minimum.till),
        ("commission.deposit", commission.deposit, minimum.deposit),
        ("commission.withdraw", commission.withdraw, minimum.withdraw),
        ("commission.collect", commission.collect, minimum.send),
    ]
    return [table for table in tables if table[1]]


def _merchant_fee_problems(tariff: TariffFile) -> list[Problem]:
    """A merchant fee is taken out of the payment: it must be less than every amount of its band,
    or a merchant could receive nothing (or less than nothing) for a sale."""
    return [
        (
            f"merchant_fees.till.{index}",
            f"fee {format_amount(band.fee)} is not below the band's smallest amount "
            f"{format_amount(band.lo_minor)}: the merchant would receive nothing",
        )
        for index, band in enumerate(tariff.merchant_fees.till)
        if band.fee >= band.lo_minor
    ]


def _ceiling_minor(tariff: TariffFile) -> int:
    return max(tariff.tiers.tier(number).per_transaction_max for number in TIERS)


def _band_problems(
    path: str, bands: list[FeeBand] | list[CommissionBand], floor_minor: int, ceiling_minor: int
) -> list[Problem]:
    problems = []
    first, last = bands[0], bands[-1]
    if first.lo_minor > floor_minor:
        problems.append(
            (
                f"{path}.0",
                f"the first band starts at {first.min:,} but the minimum amount is "
                f"{format_amount(floor_minor)}: amounts below {first.min:,} have no band",
            )
        )
    for index, (before, band) in enumerate(itertools.pairwise(bands), start=1):
        if band.min > before.max + 1:
            problems.append(
                (
                    f"{path}.{index}",
                    f"band {band.min:,}-{band.max:,} starts at {band.min:,} but the band before "
                    f"ends at {before.max:,}: a gap (it should start at {before.max + 1:,})",
                )
            )
        elif band.min < before.max + 1:
            problems.append(
                (
                    f"{path}.{index}",
                    f"band {band.min:,}-{band.max:,} overlaps the band before "
                    f"({before.min:,}-{before.max:,}): it should start at {before.max + 1:,}",
                )
            )
    if last.hi_minor < ceiling_minor:
        problems.append(
            (
                f"{path}.{len(bands) - 1}",
                f"the last band ends at {last.max:,} but a tier allows "
                f"{format_amount(ceiling_minor)} per transaction: those amounts have no band",
            )
        )
    return problems


def _tier_problems(tariff: TariffFile) -> list[Problem]:
    problems = []
    for number in TIERS:
        tier = tariff.tiers.tier(number)
        if tier.per_transaction_max > tier.daily_value_max:
            problems.append(
                (f"tiers.{number}.per_transaction_max", "is above daily_value_max of the tier")
            )
        if number > 1:
            lower = tariff.tiers.tier(number - 1)
            problems.extend(
                (f"tiers.{number}.{key}", f"is below tier {number - 1}'s {key}")
                for key in _TIER_KEYS
                if getattr(tier, key) < getattr(lower, key)
            )
    tier_1 = tariff.tiers.tier(1)
    for command in ("send", "deposit", "withdraw", "pay", "till", "buy", "request"):
        if getattr(tariff.minimum, command) > tier_1.per_transaction_max:
            problems.append(
                (
                    f"minimum.{command}",
                    f"is above tier 1's per_transaction_max "
                    f"({format_amount(tier_1.per_transaction_max)}): tier 1 could never {command}",
                )
            )
    return problems
