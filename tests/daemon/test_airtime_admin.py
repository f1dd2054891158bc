"""Late successes for staff: `smscore admin airtime list --late`, `resolve ID --charge|--write-off`
(audited, a new posted move, the trust account still reconciling) and the line `smscore ledger
check` prints while one waits."""

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon.admin.cli import admin
from daemon.cli import main
from daemon.money.airtime_orders import OrderState
from daemon.schema import audit_log, moves, outbox
from tests.daemon.airtime_world import FAILED, SUCCEEDED, AirtimeWorld
from tests.daemon.money_world import SHORT_CODE

ALICE = "254712000001"
KES = 100


@pytest.fixture
def world(engine):
    world = AirtimeWorld(engine)
    world.add(ALICE, balance_minor=1_000 * KES, name="Alice Atieno")
    yield world
    world.check()


def late_success(world) -> int:
    world.gateway.script(ALICE, FAILED, SUCCEEDED)
    world.sms(ALICE, "BUY 100 1234")
    assert world.work() == ["voided"]
    world.advance(30)
    assert world.work() == ["late_success"]
    return world.order().id


def admin_cli(world, *args):
    where = ["--db", world.engine.url.render_as_string(hide_password=False), "--actor", "ops"]
    return CliRunner().invoke(
        admin, [*args, *where] if args[1] == "resolve" else [*args, *where[:2]]
    )


def test_list_late_shows_the_order(world):
    order_id = late_success(world)
    result = admin_cli(world, "airtime", "list", "--late")
    assert result.exit_code == 0, result.output
    assert world.order().ref in result.output and "late_success" in result.output
    assert str(order_id) in result.output


def test_ledger_check_names_the_late_success_while_it_waits(world):
    late_success(world)
    url = world.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["ledger", "check", "--db", url])
    assert result.exit_code == 0, result.output
    assert "airtime: 1 late success(es), 100.00 given but not paid for" in result.output
    assert "trust reconciles" in result.output


def test_charge_takes_it_from_the_buyer_audited_and_told(world):
    order_id = late_success(world)
    result = admin_cli(world, "airtime", "resolve", str(order_id), "--charge")
    assert result.exit_code == 0, result.output
    assert "charged, KES 100.00" in result.output
    assert world.balance(ALICE) == 900 * KES
    assert world.state() is OrderState.CHARGED and world.order().resolved_move_id is not None
    assert "reached it after all, so KES 100.00 was taken now" in world.last_to(ALICE)
    with world.engine.begin() as conn:
        # From the number the buyer wrote BUY to (the admin's config names no sender of its own).
        told = conn.execute(select(outbox.c.source_addr).order_by(outbox.c.id.desc())).first()
        assert told.source_addr == SHORT_CODE
        [entry] = conn.execute(select(audit_log)).all()
        move = conn.execute(select(moves).where(moves.c.audit_id == entry.id)).one()
    assert (entry.actor, entry.action, entry.target) == ("ops", "airtime_charge", ALICE)
    assert (move.kind, move.state, move.amount_minor) == ("airtime", "posted", 100 * KES)
    again = admin_cli(world, "airtime", "resolve", str(order_id), "--write-off")
    assert again.exit_code == 2 and "is charged, not late_success" in again.output


def test_charge_is_refused_when_the_money_is_gone_and_write_off_works(world):
    order_id = late_success(world)
    world.sms(ALICE, "BUY 950 1234")  # spent meanwhile (reserved)
    refused = admin_cli(world, "airtime", "resolve", str(order_id), "--charge")
    assert refused.exit_code == 2 and "--write-off instead" in refused.output
    assert "Traceback" not in refused.output
    result = admin_cli(world, "airtime", "resolve", str(order_id), "--write-off")
    assert result.exit_code == 0, result.output
    assert world.orders()[0].state is OrderState.WRITTEN_OFF
    assert world.balance(ALICE) == 50 * KES  # the buyer pays nothing for the late airtime


def test_resolve_needs_a_choice_and_a_known_order(world):
    assert (
        "give one of --charge or --write-off" in admin_cli(world, "airtime", "resolve", "1").output
    )
    both = admin_cli(world, "airtime", "resolve", "1", "--charge", "--write-off")
    assert both.exit_code == 2 and "give one of --charge or --write-off" in both.output
    missing = admin_cli(world, "airtime", "resolve", "99", "--charge")
    assert missing.exit_code == 2 and "no airtime order 99" in missing.output
