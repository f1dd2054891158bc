"""`smscore bench workload NAME`, tiny: each workload a few seconds at a low rate against a real daemon
process and the simulator on 127.0.0.1; the JSON has every figure and exactly-once holds. Then the
check itself on a kept mix run: a second posting, a move left open, an answer delivered twice and an
answer the phone never got are each reported."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from benchmarks.answers import check_answers, check_postings
from benchmarks.workload_run import load_run
from daemon.chart import TransferCode, wallet_account_id
from ledger import Transfer, create_transfers

REPO = Path(__file__).resolve().parent.parent.parent
RUN_TIMEOUT_S = 240
RATE, DURATION_S, WARMUP_S = 20, 2, 1
MOS = RATE * (DURATION_S + WARMUP_S)


def bench_workload(name: str, *options: str) -> tuple[subprocess.CompletedProcess, dict]:
    command = [sys.executable, "-m", "benchmarks", "workload", name, "--rate", str(RATE),
               "--duration", str(DURATION_S), "--warmup", str(WARMUP_S), "--accounts", "200",
               "--drain", "60", *options]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.stdout, done.stderr[-3000:]
    return done, json.loads(done.stdout)  # stdout is not a TTY: JSON only, no progress


def assert_figures(result: dict) -> None:
    assert result["offered_rate_per_s"] == RATE
    assert 0 < result["sustained_rate_per_s"] <= 2 * RATE
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    daemon = result["daemon"]
    assert daemon["cpu_ms_per_mo"] > 0 and daemon["peak_rss_mib"] > 20 and daemon["exit"] == 0
    assert daemon["cpu_ms_per_mo_in_window"] > 0 and daemon["idle_cpu_ms_per_s"] >= 0
    assert result["sms_per_request"] >= 1
    for key in ("loadavg_start", "loadavg_end"):
        assert len(result[key]) == 3 and all(value >= 0 for value in result[key])
    assert result["seed"]["accounts"] == 200 and result["seed"]["seed_s"] > 0


@pytest.fixture(scope="module")
def kept_mix(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict]:
    work = tmp_path_factory.mktemp("bench-mix")
    done, result = bench_workload("mix", "--keep-dir", str(work))
    return work, done, result


def test_the_mix_answers_every_mo_and_posts_every_money_command_exactly_once(kept_mix):
    _, done, result = kept_mix
    assert done.returncode == 0 and result["exactly_once"]["ok"], result["exactly_once"]
    assert_figures(result)
    assert "\x1b[" not in done.stderr  # no progress drawn: stdout is not a terminal
    kinds = result["sent_by_kind"]
    assert sum(kinds.values()) == MOS and {"SEND", "BAL", "DEPOSIT", "PAY", "BUY"} <= set(kinds)
    answers = result["exactly_once"]["answers"]
    assert answers["mo_count"] == MOS and answers["problems"] == {}
    postings = result["exactly_once"]["postings"]
    money = sum(kinds.get(kind, 0) for kind in ("SEND", "DEPOSIT", "WITHDRAW", "PAY", "BUY"))
    assert postings["moves_by_state"] == {"posted": money}
    assert postings["ledger_check_ok"] and postings["trust_reconciles"]
    assert result["sms_per_request"] > 1  # notices to payees, receipts of bills


@pytest.mark.parametrize("name", ["bal", "send", "mix-encrypted", "ussd"])
def test_each_workload_is_answered_exactly_once(name):
    done, result = bench_workload(name)
    assert done.returncode == 0 and result["exactly_once"]["ok"], result["exactly_once"]
    assert result["workload"] == name
    assert_figures(result)
    postings = result["exactly_once"]["postings"]
    if name == "bal":
        assert postings["moves"] == 0 and result["sms_per_request"] == 1
    if name == "send":
        assert postings["moves_by_state"] == {"posted": MOS} and result["sms_per_request"] == 2
    if name == "mix-encrypted":
        assert result["seed"]["devices"] > 0
    if name == "ussd":
        assert result["rate_unit"] == "dialogues" and result["answered"] == MOS
        answers = result["exactly_once"]["answers"]
        assert answers["daemon_sessions"] == {"ended": MOS} and answers["completed"] == MOS
        assert result["daemon"]["cpu_ms_per_dialogue"] > result["daemon"]["cpu_ms_per_mo"]


def copy_of(work: Path, into: Path) -> Path:
    shutil.copytree(work / "state", into / "state")
    shutil.copy(work / "workload_run.json", into / "workload_run.json")
    return into / "state" / "smscore.db"


def test_the_kept_run_checks_again_as_it_did(kept_mix):
    work = kept_mix[0]
    senders, delivered = load_run(work)
    assert check_answers(work / "state" / "smscore.db", senders, delivered).report["ok"]
    assert check_postings(work / "state" / "smscore.db")["ok"]


def test_an_answer_delivered_twice_or_never_is_caught(kept_mix, tmp_path):
    db = copy_of(kept_mix[0], tmp_path)
    senders, delivered = load_run(tmp_path)
    twice = check_answers(db, senders, [*delivered, delivered[0]]).report["problems"]
    assert twice["outbox_rows_delivered_twice"]["count"] == 1
    never = check_answers(db, senders, delivered[1:]).report["problems"]
    assert never["mos_without_exactly_one_answer"]["count"] >= 1
    unanswered = check_answers(db, [*senders, senders[0]], delivered).report["problems"]
    assert unanswered["mos_without_inbox_row"]["count"] == 1


def test_a_second_posting_and_a_move_left_open_are_caught(kept_mix, tmp_path):
    db = copy_of(kept_mix[0], tmp_path)
    with sqlite3.connect(db) as conn:
        ref = conn.execute(
            "SELECT ref FROM moves WHERE state = 'posted' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        conn.execute("UPDATE moves SET state = 'pending' WHERE ref = ?", (ref,))
    problems = check_postings(db)["problems"]
    assert problems["moves_left_open"]["samples"] == [f"{ref}: pending"]
    assert problems["moves_not_posted_exactly_once"]["count"] == 1  # posted, but not final


def test_a_send_posted_twice_through_the_ledger_is_caught(kept_mix, tmp_path):
    db = copy_of(kept_mix[0], tmp_path)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # the principal once more, a valid transfer in the move's id range
        ref, base, payer, payee, amount, legs = conn.exec_driver_sql(
            "SELECT ref, transfer_id_base, payer_msisdn, payee_msisdn, amount_minor, legs"
            " FROM moves WHERE kind = 'send' ORDER BY id LIMIT 1"
        ).one()
        again = Transfer(id=base + 3, debit_account_id=wallet_account_id(payer),
                         credit_account_id=wallet_account_id(payee), amount=amount,
                         currency="KES", code=int(TransferCode.P2P), user_data=f"move:{ref}")  # fmt: skip
        create_transfers(conn, [again], 1)
    engine.dispose()
    report = check_postings(db)
    assert report["ledger_check_ok"] and report["trust_reconciles"]  # a sound ledger...
    assert not report["ok"]  # ...that posts a SEND twice
    [sample] = report["problems"]["moves_not_posted_exactly_once"]["samples"]
    assert sample == f"{ref} (posted): {legs + 1} of {legs} legs"
