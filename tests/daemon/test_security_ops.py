"""What staff see of the security features: the SIM swap audit detail in ISO 8601 UTC, and
`smscore admin subscriber show` with an active SIM-swap cooldown and the app devices."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from daemon.admin.cli import admin
from daemon.config import build_config
from daemon.money.tariff import load_tariff
from daemon.security.otp_codes import needs_amount_otp
from daemon.security.sim_swaps import Swap, iso_utc, record_swap_txn
from daemon.subscribers import PEPPER_BYTES
from tests.daemon.fraud_world import ALICE, BOB, WALLET, actions, enrol_device, fraud_world

NS = 10**9
KES = 100


@pytest.fixture
def world(engine):
    world = fraud_world(engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    return world


@pytest.fixture
def cli(world, tmp_path):
    pepper = tmp_path / "pepper"
    pepper.write_text((b"w" * PEPPER_BYTES).hex() + "\n")
    pepper.chmod(0o600)
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{pepper}"\n')
    where = [
        "--db",
        world.engine.url.render_as_string(hide_password=False),
        "--config",
        str(config),
    ]

    def run(*args: str):
        return CliRunner().invoke(admin, [*args, *where])

    return run


def test_iso_utc() -> None:
    assert iso_utc(1_764_590_400 * NS + 999) == "2025-12-01T12:00:00Z"


def test_the_simswap_audit_detail_reads_as_a_utc_time(world, cli) -> None:
    # 14:00 in Nairobi (the [money] timezone) is 11:00 UTC.
    assert cli("simswap", ALICE, "--at", "2025-12-01T14:00", "--actor", "carol").exit_code == 0
    [audited] = actions(world, "simswap")
    assert audited.detail == "SIM changed at 2025-12-01T11:00:00Z, from staff:carol"


def test_a_feed_s_swap_is_audited_in_utc_too(world) -> None:
    with world.engine.begin() as conn:
        record_swap_txn(
            conn, Swap(BOB, 1_764_570_600 * NS), "feed:carrier.csv", "ops", world.now_ns
        )
    [audited] = actions(world, "simswap")
    assert audited.detail == "SIM changed at 2025-12-01T06:30:00Z, from feed:carrier.csv"
    assert not re.search(r"\b\d{10}\b", audited.detail)  # no Unix time


def _field(output: str, name: str) -> str:
    [line] = [line for line in output.splitlines() if line.strip().startswith(name)]
    return line.strip().removeprefix(name).strip()


def test_show_has_the_sim_swap_cooldown_and_app_devices(world, cli) -> None:
    assert "none in the last 48 h" in _field(cli("subscriber", "show", ALICE).output, "SIM swap")
    assert _field(cli("subscriber", "show", ALICE).output, "app devices") == "none"
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 3600)) + "+00:00"
    assert cli("simswap", ALICE, "--at", an_hour_ago).exit_code == 0
    enrol_device(world, ALICE)
    enrol_device(world, ALICE, state="revoked")
    shown = cli("subscriber", "show", ALICE).output
    swap = _field(shown, "SIM swap")
    assert swap.startswith("cooldown: changed ") and " until " in swap, shown
    assert "money out above KES 1,000.00 waits for review" in swap
    assert _field(shown, "app devices") == "1 active, 1 revoked (smscore admin device list)"


def test_show_says_when_the_sim_swap_rule_is_off(engine, tmp_path) -> None:
    world = fraud_world(engine, fraud={"sim_swap": {"enabled": False}})
    world.add(ALICE, balance_minor=WALLET)
    config = tmp_path / "smscore.toml"
    pepper = tmp_path / "pepper"
    pepper.write_text((b"w" * PEPPER_BYTES).hex() + "\n")
    pepper.chmod(0o600)
    config.write_text(
        f'[security]\npin_pepper_file = "{pepper}"\n[fraud.sim_swap]\nenabled = false\n'
    )
    url = world.engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(
        admin, ["subscriber", "show", ALICE, "--db", url, "--config", str(config)]
    )
    assert "rule off" in _field(shown.output, "SIM swap"), shown.output


def test_the_default_otp_threshold_sits_between_yes_no_and_the_top_tier() -> None:
    config = build_config({})
    threshold = config.security.otp_amount_above_minor
    assert threshold == 50_000 * KES
    assert config.money.confirm_above_minor < threshold
    top = max(load_tariff(None).tiers.values(), key=lambda tier: tier.per_transaction_max_minor)
    assert threshold < top.per_transaction_max_minor
    assert needs_amount_otp(threshold + 1, config.security)
    assert not needs_amount_otp(threshold, config.security)
