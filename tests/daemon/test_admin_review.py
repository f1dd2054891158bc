"""`smscore admin review list|release|reject` and `smscore admin simswap` through click's runner, on
holds made by SMS through the TranProc: the queue, each decision's effect and audit entry, a decision
asked twice refused in one line (exit 2) with nothing posted twice, a SIM swap recorded and imported."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from daemon.admin.cli import admin
from daemon.outbox import OutboxStatus
from daemon.security.sim_swaps import swaps_of_txn
from daemon.subscribers import PEPPER_BYTES
from tests.daemon.fraud_world import (
    ALICE,
    BOB,
    KES,
    WALLET,
    actions,
    fraud_world,
    holds,
    move_of,
    swap_sim,
)


@pytest.fixture
def world(engine):
    world = fraud_world(engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.check()


@pytest.fixture
def cli(world, tmp_path):
    pepper = tmp_path / "pepper"  # the World's own pepper: a released SEND may make a voucher code
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


def held_send(world) -> int:
    swap_sim(world, ALICE)
    world.sms(ALICE, "SEND 0712000002 5000 1234")
    [hold] = holds(world)
    return hold.id


def one_line_refusal(result, problem: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert problem in result.output and "Traceback" not in result.output


def test_the_queue_lists_held_payments(world, cli):
    assert cli("review", "list").output == "no held holds\n"
    hold_id = held_send(world)
    result = cli("review", "list")
    assert result.exit_code == 0, result.output
    ref = move_of(world, holds(world)[0].move_id).ref
    for shown in (str(hold_id), ref, ALICE, BOB, "KES 5,000.00", "sim_swap", "held"):
        assert shown in result.output


def test_the_queue_shows_when_each_hold_expires(world, cli):
    held_send(world)  # at 2025-12-01 15:00 in Nairobi; [fraud] hold_expiry_hours = 72
    listed = cli("review", "list").output
    assert "expires" in listed and "2025-12-04 15:00:00" in listed, listed
    assert "amount over KES 1,000.00" in listed


def test_release_posts_once_and_twice_is_one_line(world, cli):
    hold_id = held_send(world)
    result = cli("review", "release", str(hold_id), "--actor", "carol")
    assert result.exit_code == 0, result.output
    assert f"released hold {hold_id}" in result.output and "pending" in result.output
    assert "Confirmed. KES 5,000.00 sent" in world.last_to(ALICE)
    world.receipts(OutboxStatus.DELIVERED)
    assert world.balance(BOB) == 5000 * KES
    again = cli("review", "release", str(hold_id))
    one_line_refusal(again, f"hold {hold_id} was released already, by carol")
    world.receipts(OutboxStatus.DELIVERED)
    assert world.balance(BOB) == 5000 * KES
    [audited] = actions(world, "fraud.release")
    assert audited.actor == "carol" and audited.target == ALICE


def test_reject_moves_nothing(world, cli):
    hold_id = held_send(world)
    result = cli("review", "reject", str(hold_id), "--reason", "caller failed ID check")
    assert result.exit_code == 0 and "nothing moved" in result.output, result.output
    assert world.balance(ALICE) == WALLET and world.balance(BOB) == 0
    assert "refused after a security check" in world.last_to(ALICE)
    assert "caller failed ID check" in actions(world, "fraud.reject")[0].detail
    one_line_refusal(cli("review", "reject", str(hold_id)), "rejected already")
    assert cli("review", "list", "--state", "rejected").output.count("rejected") >= 2


def test_an_unknown_hold_is_one_line(cli):
    one_line_refusal(cli("review", "release", "999"), "no hold 999")


def test_simswap_records_once_and_holds_a_large_send(world, cli):
    # The World's clock reads 2025-12-01 15:00 in Nairobi: the SIM changed an hour before.
    result = cli("simswap", "0712 000 001", "--at", "2025-12-01T14:00", "--actor", "carol")
    assert result.exit_code == 0 and "recorded" in result.output, result.output
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 500 1234")  # small: allowed
    assert "held for a security check" in world.sms(ALICE, "SEND 0712000002 5000 1234")
    [audited] = actions(world, "simswap")
    assert (audited.actor, audited.target) == ("carol", ALICE)


def test_simswap_at_a_time_and_bad_input(world, cli):
    result = cli("simswap", ALICE, "--at", "2025-11-01T10:00")
    assert result.exit_code == 0 and "recorded" in result.output
    assert "was recorded already" in cli("simswap", ALICE, "--at", "2025-11-01T10:00").output
    one_line_refusal(cli("simswap", ALICE, "--at", "last week"), "--at 'last week'")
    one_line_refusal(cli("simswap", "12"), "MSISDN '12'")
    one_line_refusal(cli("simswap", "import"), "give the feed file")


def test_simswap_import_is_all_or_nothing_and_idempotent(world, cli, tmp_path):
    feed = tmp_path / "carrier.csv"
    feed.write_text("msisdn,swapped_at\n0712000001,2025-12-01T09:00\n0712000002,soon\n")
    one_line_refusal(cli("simswap", "import", str(feed)), "line 3: swapped_at 'soon'")
    with world.engine.begin() as conn:
        assert swaps_of_txn(conn, ALICE) == []
    feed.write_text("msisdn,swapped_at\n0712000001,2025-12-01T09:00\n0712000002,1764570600\n")
    result = cli("simswap", "import", str(feed))
    assert result.exit_code == 0 and "2 SIM change(s), 2 new" in result.output, result.output
    assert "0 new, 2 already recorded" in cli("simswap", "import", str(feed)).output
    assert len(actions(world, "simswap")) == 2
