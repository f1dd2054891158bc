"""`smscore admin reversals list|approve|reject` through click's runner, on requests made by SMS
through the TranProc (tests.daemon.money_world): the queue, each decision's effect, its audit entry
and SMS, and a decision asked twice refused in one line with nothing posted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from daemon.admin.cli import admin
from daemon.admin.reversals import age
from daemon.schema import audit_log, moves
from tests.daemon.money_world import NS, World

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
KES = 100
WALLET = 10_000 * KES


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    world.add(CAROL, name="Carol Chebet")
    yield world
    world.check()


@pytest.fixture
def cli(world, tmp_path):
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    where = [
        "--db",
        world.engine.url.render_as_string(hide_password=False),
        "--config",
        str(config),
    ]

    def run(*args: str):
        return CliRunner().invoke(admin, ["reversals", *args, *where])

    return run


def asked(world, amount=500, spend_first=0):
    """Alice pays Bob `amount`, Bob spends `spend_first` of it, then Alice sends REVERSE: the ref."""
    ref = world.sms(ALICE, f"SEND 0712000002 {amount} 1234").split()[0]
    world.receipts()
    if spend_first:
        world.sms(BOB, f"SEND 0712000003 {spend_first} 1234")
        world.receipts()
    world.sms(ALICE, f"REVERSE {ref}")
    return ref


def count_moves(world) -> int:
    with world.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(moves)).scalar()


def audit_actions(world) -> list[tuple[str, str]]:
    with world.engine.begin() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    return [(row.actor, row.action) for row in rows]


def one_line_refusal(result, problem: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert problem in result.output and "Traceback" not in result.output


def test_the_queue_lists_open_requests(world, cli):
    result = cli("list")
    assert (result.exit_code, result.output) == (0, "no open reversals\n")
    held = asked(world)
    unfunded = asked(world, 300, spend_first=200)  # Bob has 300 free: 500 are held
    result = cli("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for heading in ("id", "ref", "asked", "payer", "recipient", "amount", "state", "age"):
        assert heading in lines[1] or heading in lines[2], result.output
    [held_line] = [line for line in lines if held in line]
    assert ALICE in held_line and BOB in held_line and "KES 500.00" in held_line
    assert "held" in held_line and "2025-12-01 15:00:00 EAT" in held_line
    [unfunded_line] = [line for line in lines if unfunded in line]
    assert "unfunded" in unfunded_line and "KES 300.00" in unfunded_line
    assert cli("list", "--state", "approved").output == "no approved reversals\n"


def test_approve_posts_once_and_tells_both(world, cli):
    ref = asked(world)
    result = cli("approve", ref.lower(), "--note", "both agreed", "--actor", "lead")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"approved: KES 500.00 of {ref} back to {ALICE}, ref ")
    assert result.output.endswith("; both parties told by SMS\n")
    refund_ref = result.output.split(", ref ")[1].split(";")[0]
    assert world.last_to(ALICE).startswith(f"{refund_ref} Confirmed. Reversal of {ref}:")
    assert "was given back to ALICE A." in world.last_to(BOB)
    assert audit_actions(world) == [("lead", "reversal.approve")]
    world.check()
    moved, sent = count_moves(world), len(world.outbox())
    one_line_refusal(cli("approve", ref), f"the reversal of {ref} was already approved on ")
    one_line_refusal(cli("reject", ref, "--reason", "late"), "already approved")
    assert (count_moves(world), len(world.outbox())) == (moved, sent)
    assert audit_actions(world) == [("lead", "reversal.approve")]
    listed = cli("list", "--state", "all").output
    assert "approved" in listed and ref in listed


def test_reject_releases_and_then_approve_is_refused(world, cli):
    ref = asked(world)
    missing = cli("reject", ref)
    assert missing.exit_code == 2 and "--reason" in missing.output
    one_line_refusal(cli("reject", ref, "--reason", "  "), "--reason: say why")
    result = cli("reject", ref, "--reason", "goods were delivered", "--actor", "lead")
    assert result.exit_code == 0, result.output
    assert (
        result.output == f"rejected: the reversal of {ref} (KES 500.00); both parties told by SMS\n"
    )
    assert world.balance(BOB) == 500 * KES
    assert "refused after review" in world.last_to(ALICE)
    moved = count_moves(world)
    one_line_refusal(cli("approve", ref), "already rejected")
    assert count_moves(world) == moved and world.balance(BOB) == 500 * KES
    assert audit_actions(world) == [("lead", "reversal.reject")]


def test_an_unfunded_request_that_still_cannot_be_held(world, cli):
    ref = asked(world, 500, spend_first=400)
    one_line_refusal(cli("approve", ref), "still cannot be held")
    assert "unfunded" in cli("list").output
    assert audit_actions(world) == []


def test_unknown_references(world, cli):
    one_line_refusal(cli("approve", "ABCDEFGHJK"), "no reversal was asked for this transaction")
    paid = world.sms(ALICE, "SEND 0712000002 100 1234").split()[0]
    world.receipts()
    one_line_refusal(cli("reject", paid, "--reason", "x"), "no reversal was asked")


@pytest.mark.parametrize(
    ("seconds", "shown"), [(59, "0m"), (61, "1m"), (3 * 3600 + 120, "3h 2m"), (50 * 3600, "2d 2h")]
)
def test_age(seconds, shown):
    assert age(10 * NS, 10 * NS + seconds * NS) == shown
