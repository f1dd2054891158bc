"""`smscore demo --exit-after N`, the README's first command, tells the mobile-money story end to end
(the money story, then payments: bills, a till, a request to pay, airtime, a reversal staff approve,
then USSD: Bob walks the *334# menu, his balance and a SEND to Alice), and tells it again on the next
run."""

import re
import socket
import subprocess
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from daemon.chart import SystemAccount, wallet_account_id
from daemon.cli import main
from daemon.commands.money import format_amount
from daemon.demo.story import (
    ALICE,
    BILLER,
    BOB,
    CHAPTERS,
    MERCHANT,
    STEPS,
    StaffStep,
    Step,
    UssdStep,
)
from daemon.money.tariff import RecipientKind, load_tariff
from daemon.schema import billers
from ledger import get_balance, make_engine
from tests.e2e.harness import SMSCORE, free_port

STORY_BUDGET_S = 30.0  # the whole story, fresh state to ledger check
# The payments chapter's columns after its people and biller: the airtime provider's and fees.
_PAYMENT_SYSTEM_SHOWN = (SystemAccount.AIRTIME_SETTLEMENT, SystemAccount.FEE_INCOME)


def _demo(state_dir: Path, *extra: str, status_port: int | None = None):
    command = [
        str(SMSCORE), "demo", "--state-dir", str(state_dir), "--sim-http", "127.0.0.1:0",
        "--status-listen", f"127.0.0.1:{status_port or free_port()}",
        "--api-listen", "127.0.0.1:0", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=state_dir.parent)


def _balance_rows(stdout: str) -> list[list[str]]:
    """Each balance table's row, as printed: in the money story Agent, Alice, Bob, Carol, Fees,
    Commission, Vouchers; in the payments chapter Alice, Bob, Shop, KPLC, Airtime, Fees."""
    return [line.split()[1:] for line in stdout.splitlines() if re.match(r"^\s+KES\s+[\d-]", line)]


def _steps_told(stdout: str) -> list[str]:
    return re.findall(r"^\s*\d+\. (.*)$", stdout, re.MULTILINE)


def _expected_money_story_balances() -> tuple[int, int]:
    """Alice and Bob at the end of the money story, from the story and the tariff."""
    tariff = load_tariff(None)
    sent = 2 * (100_000 + tariff.fee_minor("SEND", 100_000, RecipientKind.REGISTERED))
    voucher = 50_000 + tariff.fee_minor("SEND", 50_000, RecipientKind.UNREGISTERED)
    alice = 500_000 - tariff.fee_minor("DEPOSIT", 500_000) - sent - voucher
    bob = 200_000 - 30_000 - tariff.fee_minor("WITHDRAW", 30_000)
    return alice, bob


def _expected_payment_balances() -> list[int]:
    """Alice, Bob, the shop, Kenya Power, the airtime provider at the end of the payments chapter:
    the bill, the till, the request and the airtime each with their fees; Bob's mistaken SEND is
    back (its fee is not)."""
    tariff = load_tariff(None)
    alice, bob = _expected_money_story_balances()
    alice -= 100_000 + tariff.fee_minor("PAY", 100_000, biller=BILLER)
    alice -= 35_000 + tariff.fee_minor("TILL", 35_000)  # the shop's request, paid to its till
    alice -= 10_000 + tariff.fee_minor("BUY", 10_000)
    bob -= 25_000 + tariff.fee_minor("TILL", 25_000)
    bob -= tariff.fee_minor("SEND", 40_000, RecipientKind.REGISTERED)
    shop = sum(amount - tariff.merchant_fee_minor("TILL", amount) for amount in (25_000, 35_000))
    return [alice, bob, shop, 100_000, 10_000]


def _expected_ussd_balances() -> list[int]:
    """Alice and Bob after the USSD chapter: Bob's balance costs nothing; his KES 200 to Alice
    costs him its fee."""
    alice, bob, *_ = _expected_payment_balances()
    fee = load_tariff(None).fee_minor("SEND", 20_000, RecipientKind.REGISTERED)
    return [alice + 20_000, bob - 20_000 - fee]


def _ledger_balances(state_dir: Path) -> list[str]:
    """The payments chapter's columns as the ledger has them after the story."""
    engine = make_engine(f"sqlite:///{state_dir / 'smscore.db'}")
    try:
        with engine.connect() as conn:
            query = select(billers.c.account_id).where(billers.c.code == BILLER)
            ids = [wallet_account_id(who.msisdn) for who in (ALICE, BOB, MERCHANT)]
            ids += [conn.execute(query).scalar_one(), *map(int, _PAYMENT_SYSTEM_SHOWN)]
            found = [get_balance(conn, account_id) for account_id in ids]
    finally:
        engine.dispose()
    return [format_amount(b.available) if b is not None else "-" for b in found]


def _chapter_rows(rows: list[list[str]]) -> list[list[list[str]]]:
    """The balance rows split by chapter: its opening table, then one per step."""
    split, first = [], 0
    for chapter in CHAPTERS:
        split.append(rows[first : first + len(chapter.steps) + 1])
        first += len(chapter.steps) + 1
    return split


def _block(stdout: str, number: int) -> list[str]:
    """What step `number` printed after its title: what was sent or typed, what phones received."""
    told = stdout.split(f"\n{number:2d}. ", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in told.splitlines()[1:]]


def _assert_step_told(number: int, step: Step | StaffStep | UssdStep, lines: list[str]) -> None:
    if isinstance(step, StaffStep):
        typed = [line for line in lines if line.startswith("staff$ smscore admin ")]
        assert len(typed) == len(step.commands), lines
    elif isinstance(step, UssdStep):
        _assert_dialogue_told(step, lines)
    else:
        # Each message gets its reply under it: the sender's phone shows an SMS before the next
        # step (the rollback's confirmation never reaches it; the "did not go through" SMS does).
        assert f"{step.sender.msisdn} -> 12345: " in lines[0]
        replies = [line for line in lines if f"{step.sender.msisdn} <- 12345: " in line]
        assert replies and re.search(step.expect, replies[0]), lines
    for who, pattern in step.told:  # every other SMS the step must bring came in the step
        got = [line for line in lines if f"{who.msisdn} <- 12345: " in line]
        assert any(re.search(pattern, line) for line in got), (number, who.label, lines)


def _assert_dialogue_told(step: UssdStep, lines: list[str]) -> None:
    """The dial, then each screen drawn as a phone's (a box titled with the code) with what was
    typed under it, the last screen saying what the step expects."""
    assert lines[0] == f"{step.sender.label:<6}{step.sender.msisdn} dials {step.code}"
    typed = [line.split("types ", 1)[1] for line in lines if " types " in line]
    assert typed == list(step.answers), lines
    tops = [line for line in lines if line.startswith(f"╭─ {step.code} ─")]
    assert len(tops) == len(step.answers) + 1, lines
    last_box = lines[max(i for i, line in enumerate(lines) if line.startswith("╭─")) :]
    inside = [line.strip("│ ") for line in last_box if line.startswith("│")]
    assert re.search(step.expect, " ".join(inside)), lines
    widths = {len(line) for line in lines if line[:1] in "╭│╰"}
    assert len(widths) == 1, lines  # every screen the same width, like a phone's


def _assert_story_told(stdout: str) -> None:
    assert "!!" not in stdout, stdout
    assert _steps_told(stdout) == [step.title for step in STEPS]
    for number, step in enumerate(STEPS, 1):
        _assert_step_told(number, step, _block(stdout, number))
    assert "(Alice's phone is off: the reply is not delivered)" in stdout
    assert re.search(r"trust reconciles: e-money issued KES 50,000\.00", stdout)
    # Every staff action is in the audit log: the agent store, then each command staff typed.
    staff_commands = sum(len(step.commands) for step in STEPS if isinstance(step, StaffStep))
    assert re.search(
        rf"\n    audit log OK: {1 + staff_commands} entries, head [0-9a-f]{{64}}\n", stdout
    )
    assert re.search(r"\n    ledger ok: \d+ transfers, head [0-9a-f]{64}\n", stdout)
    told_in_s = float(re.search(r"The story ran as told in ([\d.]+) s\.", stdout).group(1))
    assert told_in_s < STORY_BUDGET_S


def test_demo_tells_the_story_and_the_next_run_tells_it_afresh(tmp_path) -> None:
    state_dir = tmp_path / "demo"
    for run in ("first", "second"):
        result = _demo(state_dir, "--exit-after", "0")
        assert result.returncode == 0, f"{run} run:\n{result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr
        _assert_story_told(result.stdout)
        rows = _balance_rows(result.stdout)
        assert len(rows) == len(STEPS) + len(CHAPTERS)  # a table per chapter opening and step
        money_rows, payment_rows, ussd_rows = _chapter_rows(rows)
        # Nobody but the agent store exists before the story: the second run starts afresh.
        assert money_rows[0] == ["50,000.00", "-", "-", "-", "0.00", "0.00", "0.00"]
        alice, bob = _expected_money_story_balances()
        assert money_rows[-1][1:4] == [format_amount(alice), format_amount(bob), "-"]
        assert money_rows[-1][6] == "0.00"  # Carol's voucher was collected
        # The shop and Kenya Power have no account until staff set them up.
        assert payment_rows[0][:4] == [format_amount(alice), format_amount(bob), "-", "-"]
        assert payment_rows[-1][:5] == [format_amount(v) for v in _expected_payment_balances()]
        # USSD: Bob's balance moves nothing; his SEND from the menu moves it once.
        assert ussd_rows[0][:2] == payment_rows[-1][:2] == ussd_rows[1][:2]
        # What the last table shows is what the ledger holds, and what the story adds up to.
        ledger = _ledger_balances(state_dir)
        assert (
            ussd_rows[-1][:2] == ledger[:2] == [format_amount(v) for v in _expected_ussd_balances()]
        )
        assert ussd_rows[-1][2] == ledger[-1]  # the fees


def test_demo_will_not_empty_a_directory_it_did_not_make(tmp_path) -> None:
    state_dir = tmp_path / "mine"
    state_dir.mkdir()
    (state_dir / "notes.txt").write_text("keep me")
    # In this process: the refusal comes before the reactor or the simulator is touched.
    result = CliRunner().invoke(main, ["demo", "--state-dir", str(state_dir), "--exit-after", "0"])
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"smscore: --state-dir {state_dir}: holds files the demo did not make")
    assert (state_dir / "notes.txt").read_text() == "keep me"


def test_demo_stops_with_one_line_when_its_status_port_is_taken(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _demo(tmp_path / "demo", "--exit-after", "5", status_port=port)
    assert result.returncode == 1
    assert result.stdout == ""  # no banner advertising a port it does not have
    [line] = result.stderr.splitlines()
    assert line.startswith(f"smscore: status.listen 127.0.0.1:{port}: ") and "in use" in line
