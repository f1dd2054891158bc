"""`smscore bench send`, tiny: 200 accounts, 2 s at 50 SEND/s through the SMSC simulator and a real
daemon process on 127.0.0.1, in both modes; every check passes. Then the checker itself, on the kept
run: a second posting of a SEND, a lost confirmation and a doubled notice are each reported."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from benchmarks.send_checks import check, load_run
from daemon.chart import TransferCode, wallet_account_id
from ledger import Transfer, create_transfers

REPO = Path(__file__).resolve().parent.parent.parent
SENDS = 150  # 50/s for 1 s of warm-up and 2 s measured
RUN_TIMEOUT_S = 240


def bench_send(work: Path, *options: str) -> tuple[int, dict]:
    command = [sys.executable, "-m", "benchmarks.send", "--accounts", "200", "--rate", "50",
               "--duration", "2", "--warmup", "1", "--drain", "30", "--keep-dir", str(work),
               *options]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.stdout, done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory) -> tuple[Path, int, dict]:
    work = tmp_path_factory.mktemp("bench-send")
    return (work, *bench_send(work))


def test_every_send_is_answered_posted_and_told_exactly_once(kept_run):
    _, returncode, result = kept_run
    assert returncode == 0 and result["exactly_once"] is True, result.get("checks")
    assert result["mode"] == "post-on-delivery"
    assert result["sent"] == result["acknowledged"] == SENDS
    assert result["confirmations"] == result["notices"] == SENDS
    checks = result["checks"]
    assert checks["moves"] == SENDS and checks["problems"] == {}
    assert checks["ledger_check_ok"] and checks["trust_reconciles"]
    assert checks["inbox_by_status"] == {"done": SENDS}
    assert checks["outbox_by_status"] == {"delivered": 2 * SENDS}
    assert checks["wallets_minor"] + checks["fees_minor"] == checks["issued_minor"]
    # Each SEND: answered, then posted once its confirmation's receipt came, then the recipient told.
    assert result["reply_ms_p50"] <= result["posted_ms_p50"] <= result["told_ms_p50"]


def test_posted_at_once_the_checks_hold_too(tmp_path):
    returncode, result = bench_send(tmp_path, "--post-at-once")
    assert returncode == 0 and result["exactly_once"] is True, result.get("checks")
    assert result["mode"] == "post-at-once" and result["checks"]["moves"] == SENDS
    assert result["posted_ms_p50"] <= result["reply_ms_p50"]  # posted before the reply is sent


def copy_of(work: Path, into: Path) -> Path:
    shutil.copytree(work / "state", into / "state")
    shutil.copy(work / "send_run.json", into / "send_run.json")
    return into


def test_a_second_posting_of_a_send_is_caught_though_the_ledger_itself_is_sound(kept_run, tmp_path):
    work = copy_of(kept_run[0], tmp_path)
    expected, messages = load_run(work)
    db = work / "state" / "smscore.db"
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # the first move's principal once more, in its own id range
        base, ref, payer, payee, amount = conn.exec_driver_sql(
            "SELECT transfer_id_base, ref, payer_msisdn, payee_msisdn, amount_minor"
            " FROM moves ORDER BY id LIMIT 1"
        ).one()
        again = Transfer(id=base + 3, debit_account_id=wallet_account_id(payer),
                         credit_account_id=wallet_account_id(payee), amount=amount,
                         currency="KES", code=int(TransferCode.P2P), user_data=f"move:{ref}")  # fmt: skip
        create_transfers(conn, [again], 1)
    engine.dispose()
    report, _ = check(db, expected, messages)
    assert report["ledger_check_ok"] and report["trust_reconciles"]  # a valid transfer...
    assert not report["ok"]  # ...that posts a SEND twice
    assert report["problems"]["moves_whose_transfers_differ"] == 1
    assert report["problems"]["wallets_off"] == 2  # the payer's and the payee's


def test_a_lost_confirmation_and_a_doubled_notice_are_caught(kept_run):
    expected, messages = load_run(kept_run[0])
    confirmation = next(i for i, m in enumerate(messages) if " sent to " in m.text)
    notice = next(m for m in messages if " You have received " in m.text)
    phones = messages[:confirmation] + messages[confirmation + 1 :] + [replace(notice, at_s=0.0)]
    report, _ = check(kept_run[0] / "state" / "smscore.db", expected, phones)
    assert not report["ok"]
    assert report["problems"] == {
        "sends_without_exactly_one_confirmation": 1,
        "sends_without_exactly_one_notice": 1,
    }
