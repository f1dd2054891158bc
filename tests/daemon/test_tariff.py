"""The tariff: band lookups at their edges, every file problem as one line naming file and key, the
documented etc/tariff.toml equal to the built-in one, and `tariff show`."""

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from daemon.money.tariff import (
    NoBand,
    RecipientKind,
    TariffError,
    TierLimits,
    UnknownCommand,
    load_tariff,
    parse_tariff,
)
from daemon.money.tariff_cli import show_tariff, tariff

DOCUMENTED = Path(__file__).resolve().parents[2] / "etc" / "tariff.toml"
DEFAULT_TEXT = DOCUMENTED.read_text(encoding="utf-8")
UNREGISTERED = RecipientKind.UNREGISTERED
KES = 100  # minor units per shilling


@pytest.fixture(scope="module")
def default():
    return load_tariff(None)


def test_documented_file_is_the_built_in_tariff(default):
    assert load_tariff(DOCUMENTED) == default


@pytest.mark.parametrize(
    ("command", "amount_minor", "recipient", "fee_minor"),
    [
        ("SEND", 1 * KES, RecipientKind.REGISTERED, 0),
        ("SEND", 100 * KES + 99, RecipientKind.REGISTERED, 0),  # a band's max includes its cents
        ("SEND", 101 * KES, RecipientKind.REGISTERED, 6 * KES),
        ("SEND", 500 * KES + 50, RecipientKind.REGISTERED, 6 * KES),
        ("SEND", 501 * KES, RecipientKind.REGISTERED, 12 * KES),
        ("SEND", 250_000 * KES, RecipientKind.REGISTERED, 120 * KES),
        ("SEND", 100 * KES, UNREGISTERED, 10 * KES),  # a voucher costs more
        ("SEND", 101 * KES, UNREGISTERED, 30 * KES),
        ("WITHDRAW", 50 * KES, RecipientKind.REGISTERED, 10 * KES),
        ("WITHDRAW", 101 * KES, UNREGISTERED, 28 * KES),  # the recipient kind is SEND's only
        ("DEPOSIT", 70_000 * KES, RecipientKind.REGISTERED, 0),  # no table: free
        ("COLLECT", 5 * KES, RecipientKind.REGISTERED, 0),
    ],
)
def test_fee_bands_at_their_edges(default, command, amount_minor, recipient, fee_minor):
    assert default.fee_minor(command, amount_minor, recipient) == fee_minor


@pytest.mark.parametrize(
    ("command", "amount_minor", "commission_minor"),
    [
        ("DEPOSIT", 50 * KES, 2 * KES),
        ("DEPOSIT", 101 * KES, 10 * KES),
        ("WITHDRAW", 1_000 * KES + 99, 15 * KES),
        ("WITHDRAW", 1_001 * KES, 18 * KES),
        ("COLLECT", 1 * KES, 5 * KES),
    ],
)
def test_commission_bands_at_their_edges(default, command, amount_minor, commission_minor):
    assert default.commission_minor(command, amount_minor) == commission_minor


@pytest.mark.parametrize(
    ("command", "amount_minor"),
    [("SEND", 99), ("SEND", 250_001 * KES), ("WITHDRAW", 49 * KES + 99)],
)
def test_amount_outside_every_band_is_no_band(default, command, amount_minor):
    with pytest.raises(NoBand) as caught:
        default.fee_minor(command, amount_minor)
    assert caught.value.amount_minor == amount_minor
    assert caught.value.lowest_minor <= default.minimum_minor(command)


def test_limits_and_minimums(default):
    assert default.limits(1) == TierLimits(20_000 * KES, 50_000 * KES, 20, 50_000 * KES)
    assert default.limits(3).per_transaction_max_minor == 250_000 * KES
    assert default.minimum_minor("SEND") == 1 * KES
    assert default.minimum_minor("WITHDRAW") == 50 * KES
    with pytest.raises(ValueError, match="no KYC tier 4"):
        default.limits(4)


@pytest.mark.parametrize(
    "lookup",
    [
        lambda t: t.fee_minor("BAL", 100),
        lambda t: t.commission_minor("SEND", 100),
        lambda t: t.minimum_minor("COLLECT"),
    ],
)
def test_a_command_the_tariff_does_not_price_is_a_caller_bug(default, lookup):
    with pytest.raises(UnknownCommand):
        lookup(default)


def test_decimal_strings_carry_cents():
    text = DEFAULT_TEXT.replace(
        "{ min = 101, max = 500, fee = 6 }", '{ min = 101, max = 500, fee = "6.50" }'
    )
    assert parse_tariff(text).fee_minor("SEND", 200 * KES) == 650


def _edit(old: str, new: str) -> str:
    assert old in DEFAULT_TEXT, old
    return DEFAULT_TEXT.replace(old, new, 1)


REG_BAND_1 = "{ min = 101, max = 500, fee = 6 }"
WITHDRAW_BAND_0 = "{ min = 50, max = 100, fee = 10 }"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (_edit(REG_BAND_1, "{ min = 120, max = 500, fee = 6 }"), "fees.send_registered.1", "band 120-500 starts at 120 but the band before ends at 100: a gap (it should start at 101)"),
        (_edit(REG_BAND_1, "{ min = 90, max = 500, fee = 6 }"), "fees.send_registered.1", "band 90-500 overlaps the band before (1-100): it should start at 101"),
        (_edit(REG_BAND_1, "{ min = 600, max = 500, fee = 6 }"), "fees.send_registered.1", "min 600 is above max 500"),
        (_edit(WITHDRAW_BAND_0, "{ min = 60, max = 100, fee = 10 }"), "fees.withdraw.0", "the first band starts at 60 but the minimum amount is 50.00"),
        (_edit("{ min = 50_001, max = 250_000, fee = 120 }", "{ min = 50_001, max = 200_000, fee = 120 }"), "fees.send_registered.8", "the last band ends at 200,000 but a tier allows 250,000.00 per transaction"),
        (_edit("[fees]", "[fees]\ncolour = 1"), "fees.colour", "unknown key"),
        (_edit(REG_BAND_1, "{ min = 101, max = 500, fee = 6, vat = 1 }"), "fees.send_registered.1.vat", "unknown key"),
        (_edit(WITHDRAW_BAND_0, "{ min = 50, max = 100, fee = -10 }"), "fees.withdraw.0.fee", "must not be negative"),
        (_edit(WITHDRAW_BAND_0, "{ min = 50, max = 100, fee = 10.5 }"), "fees.withdraw.0.fee", "a float is not exact"),
        (_edit(WITHDRAW_BAND_0, '{ min = 50, max = 100, fee = "10,50" }'), "fees.withdraw.0.fee", "not an amount: '10,50'"),
        (_edit(WITHDRAW_BAND_0, '{ min = 50.0, max = 100, fee = 10 }'), "fees.withdraw.0.min", "band bounds are whole units"),
        (_edit("withdraw = 50 ", "withdraw = true "), "minimum.withdraw", "must be an amount, not true or false"),
        (_edit("daily_count_max = 20\n", "daily_count_max = 0\n"), "tiers.1.daily_count_max", "greater than or equal to 1"),
        (_edit("per_transaction_max = 70_000", "per_transaction_max = 10_000"), "tiers.2.per_transaction_max", "is below tier 1's per_transaction_max"),
        (_edit("daily_value_max = 50_000", "daily_value_max = 10_000"), "tiers.1.per_transaction_max", "is above daily_value_max of the tier"),
        (_edit("withdraw = 50 ", "withdraw = 30_000 "), "minimum.withdraw", "is above tier 1's per_transaction_max (20,000.00): tier 1 could never withdraw"),
        (_edit("[tiers.3]", "[tiers.4]"), "tiers.3", "missing"),
        (_edit("{ min = 201, max = 1_000, fee = 2 }", "{ min = 201, max = 1_000, fee = 201 }"), "merchant_fees.till.1", "fee 201.00 is not below the band's smallest amount 201.00"),
    ],
)  # fmt: skip
def test_each_problem_is_one_line_naming_file_and_key(tmp_path, text, key, problem):
    path = tmp_path / "tariff.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TariffError) as caught:
        load_tariff(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message and "\n" not in message


def test_several_problems_name_the_first_and_count_the_rest():
    text = _edit(REG_BAND_1, "{ min = 120, max = 500, fee = 6 }").replace(
        "{ min = 101, max = 1_000, fee = 28 }", "{ min = 90, max = 1_000, fee = 28 }"
    )
    with pytest.raises(
        TariffError, match=r"^t\.toml: fees\.send_registered\.1: .* \(and 1 more\)$"
    ):
        parse_tariff(text, "t.toml")


def test_unreadable_files(tmp_path):
    with pytest.raises(TariffError, match=r"missing\.toml: file not found"):
        load_tariff(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[fees\nwithdraw = 1")
    with pytest.raises(TariffError, match=r"broken\.toml: not valid TOML"):
        load_tariff(broken)


def _tariff_text(cuts: list[int], charges: list[int]) -> str:
    """The default tariff with its send_registered bands replaced: bands from 1 to 250,000 split
    after each of `cuts` (whole shillings)."""
    bounds = [1, *(cut + 1 for cut in cuts), 250_001]
    bands = ",\n".join(
        f"    {{ min = {lo}, max = {hi - 1}, fee = {fee} }}"
        for lo, hi, fee in zip(bounds, bounds[1:], charges, strict=False)
    )
    start = DEFAULT_TEXT.index("send_registered = [")
    end = DEFAULT_TEXT.index("]", start)
    return DEFAULT_TEXT[:start] + f"send_registered = [\n{bands}\n" + DEFAULT_TEXT[end:]


_cuts = st.lists(st.integers(1, 249_999), max_size=12, unique=True).map(sorted)


@settings(max_examples=60, deadline=None)
@given(
    cuts=_cuts,
    charges=st.lists(st.integers(0, 500), min_size=13, max_size=13),
    amount_minor=st.integers(1 * KES, 250_000 * KES + 99),
)
def test_every_amount_in_range_falls_in_exactly_one_band(cuts, charges, amount_minor):
    loaded = parse_tariff(_tariff_text(cuts, charges))
    bands = loaded.fees["SEND", RecipientKind.REGISTERED].bands
    holding = [band for band in bands if band.lo_minor <= amount_minor <= band.hi_minor]
    assert len(holding) == 1
    assert loaded.fee_minor("SEND", amount_minor) == holding[0].charge_minor


@settings(max_examples=60, deadline=None)
@given(cuts=_cuts.filter(bool), data=st.data())
def test_a_band_moved_off_its_neighbour_is_named(cuts, data):
    """Moving one band's start by any amount leaves a gap or an overlap: that band is named."""
    text = _tariff_text(cuts, [7] * 13)
    index = data.draw(st.integers(1, len(cuts)))
    start = cuts[index - 1] + 1
    end = cuts[index] if index < len(cuts) else 250_000
    shift = data.draw(st.integers(-start + 1, end - start).filter(bool))  # still min <= max
    old = f"{{ min = {start}, max ="
    text = text.replace(old, f"{{ min = {start + shift}, max =", 1)
    with pytest.raises(TariffError, match=rf"^t: fees\.send_registered\.{index}: band "):
        parse_tariff(text, "t")


def test_show_prints_every_table(default):
    out = io.StringIO()
    show_tariff(Console(file=out, width=120), default, "KES")
    printed = out.getvalue()
    assert "Limits by KYC tier" in printed and "KES 250,000.00" in printed
    assert "SEND to an unregistered number" in printed and "KES 350.00" in printed
    assert "Agent commission: COLLECT" in printed
    assert "Fee: DEPOSIT at an agent: none" in printed


def test_show_command_reads_the_config_and_refuses_a_broken_tariff(tmp_path):
    broken = tmp_path / "tariff.toml"
    broken.write_text(_edit(REG_BAND_1, "{ min = 120, max = 500, fee = 6 }"), encoding="utf-8")
    config = tmp_path / "smscore.toml"
    config.write_text(
        f'[service]\ncurrency = "TZS"\n[money]\ntariff_file = "{broken.as_posix()}"\n'
    )
    runner = CliRunner()
    result = runner.invoke(tariff, ["show", "--config", str(config)])
    assert result.exit_code == 2
    assert f"{broken}: fees.send_registered.1: band 120-500" in result.output
    good = runner.invoke(
        tariff, ["show", "--config", str(config), "--tariff-file", str(DOCUMENTED)]
    )
    assert good.exit_code == 0 and "TZS 120.00" in good.output
