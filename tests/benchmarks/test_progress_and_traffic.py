"""The progress display (on a terminal only), the CLI's one-line refusals, what the workloads text,
and the bulk seeder's rows (as the daemon writes a subscriber)."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from benchmarks import progress, traffic
from benchmarks.bulk_seed import seed_customers
from daemon.cli import main
from daemon.money.account_rules import luhn_valid


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_when_stdout_and_stderr_are_terminals():
    assert progress.wanted(Terminal(), Terminal())
    assert not progress.wanted(io.StringIO(), Terminal())  # stdout piped: JSON only
    assert not progress.wanted(Terminal(), io.StringIO())


def test_the_display_shows_offered_answered_and_p99_and_nothing_when_off():
    shown = Terminal()
    display = progress.Display("bal @ 200/s", 1000, True, stream=shown)
    display.update({"offered": 400, "answered": 390, "p99_ms": 87.4})
    display.stop()
    text = shown.getvalue()
    assert "bal @ 200/s" in text and "400/1000" in text and "390" in text and "87 ms" in text
    silent = io.StringIO()
    off = progress.Display("bal", 1000, False, stream=silent)
    off.update({"offered": 400, "answered": 390, "p99_ms": 87.4})
    off.stop()
    assert silent.getvalue() == ""


def test_the_cli_without_a_terminal_decides_no_progress(monkeypatch):
    seen = {}

    def fake_main(plan, json_out):
        seen["plan"] = plan
        print(json.dumps({"ok": True}))
        return 0

    monkeypatch.setattr("benchmarks.workload.main", fake_main)
    result = CliRunner().invoke(
        main, ["bench", "workload", "bal", "--rate", "5", "--duration", "1"]
    )
    assert result.exit_code == 0 and json.loads(result.output) == {"ok": True}
    assert seen["plan"].progress is False and seen["plan"].workload == "bal"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["nope"], "no workload 'nope'"),
        (["bal", "--rate", "0"], "--rate and --duration must be positive"),
        (["send", "--accounts", "1"], "--accounts must be at least 2"),
    ],
)
def test_a_bad_workload_option_is_one_line_and_exit_2(options, says):
    result = CliRunner().invoke(main, ["bench", "workload", *options])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith("smscore bench: ") and says in line


def test_the_old_bench_commands_are_still_there():
    result = CliRunner().invoke(main, ["bench", "--help"])
    for name in ("e2e", "send", "soak", "codec", "crypto", "workload", "sweep"):
        assert f"  {name} " in result.output, name


def test_the_mix_follows_its_weights_and_never_repeats_a_money_command():
    mos = traffic.plan_mix(1000, 20_000, seed=3)
    kinds = Counter(mo.kind for mo in mos)
    for kind, weight in traffic.MIX_WEIGHTS:
        assert abs(kinds[kind] / len(mos) - weight / 100) < 0.015, kind
    money = [(mo.sender, mo.text) for mo in mos if mo.kind in traffic.MONEY_KINDS]
    assert len(money) == len(set(money))
    assert traffic.plan_mix(1000, 20_000, seed=3) == mos  # the same seed, the same MOs
    assert traffic.plan_mix(1000, 20_000, seed=4) != mos
    for mo in mos:
        if mo.kind == "PAY":
            assert luhn_valid(mo.text.split()[2])
        if mo.kind == "SEND":
            assert mo.text.split()[1] != mo.sender
        if mo.kind == "MALFORMED":
            assert traffic.AGENT_PIN not in mo.text and "1234" not in mo.text


def test_bulk_seeded_customers_are_rows_as_the_daemon_writes_them(tmp_path):
    from daemon.components import pin_hasher
    from daemon.config import load_config
    from daemon.subscribers import create_subscriber_txn

    config_path = tmp_path / "smscore.toml"
    config_path.write_text(f'[service]\nstate_dir = "{(tmp_path / "state").as_posix()}"\n')
    assert seed_customers(config_path, 5, opening_minor=12_345, chunk_size=2) > 0
    config = load_config(config_path)
    engine = create_engine(config.database_url)
    with engine.begin() as conn:
        made = create_subscriber_txn(conn, "254799000001", hasher=pin_hasher(config),
                                     currency="KES", now_ns=time.time_ns(), pin="1234")  # fmt: skip
        rows = {
            row.msisdn: row._asdict() for row in conn.exec_driver_sql("SELECT * FROM subscribers")
        }
        balances = dict(conn.exec_driver_sql(
            "SELECT id, credits_posted - debits_posted FROM ledger_accounts"
        ).fetchall())  # fmt: skip
    engine.dispose()
    assert len(rows) == 6
    theirs = rows.pop(made.msisdn)
    varying = ("msisdn", "account_id", "pin_hmac", "created_at_ns")
    for msisdn, row in rows.items():
        assert {k: v for k, v in row.items() if k not in varying} == {
            k: v for k, v in theirs.items() if k not in varying
        }
        assert pin_hasher(config).matches(msisdn, "1234", row["pin_hmac"])
        assert balances[row["account_id"]] == 12_345
    assert Path(config.service.state_dir, "smscore.db").exists()


def _dialogue(seen: int, ended: bool, state: str = "ended"):
    from types import SimpleNamespace

    from benchmarks.ussd_load import Dialogue

    screens = [SimpleNamespace(text="Sent.", final=ended, at_s=1.0)]
    session = SimpleNamespace(msisdn="254711000001", state=state, screens=screens)
    return Dialogue(7, "SEND", ["0711000002", "250", "1234"], session, 0.0, seen=seen,
                    ended_at_s=1.0 if ended else None)  # fmt: skip


def test_a_ussd_send_completed_posts_once_and_one_cut_off_posts_nothing():
    from benchmarks.answers import Problems
    from benchmarks.ussd_load import UssdLoad, choice_number

    key = ("254711000001", "254711000002", 25_000)
    cases = [  # (screens seen, ended, posted moves) -> problems
        ((5, True, 1), {}),
        ((5, True, 0), {"completed_sends_not_posted_exactly_once": 1}),
        ((5, True, 2), {"completed_sends_not_posted_exactly_once": 1}),
        ((4, False, 0), {}),  # the network cut it off: nothing moved, as it should be
        ((4, False, 1), {"sends_cut_off_but_posted": 1}),
        (
            (6, True, 1),
            {"dialogues_with_screens_beyond_their_steps": 1, "sends_cut_off_but_posted": 1},
        ),  # not its steps: not completed either
    ]
    for (seen, ended, posted), wanted in cases:
        problems, moves = Problems(), Counter({key: posted} if posted else {})
        UssdLoad._check_dialogue(_dialogue(seen, ended), moves, problems)
        assert dict(problems.counts) == wanted, (seen, ended, posted)
        assert key not in moves  # matched moves are taken: a leftover one is of no dialogue
    assert choice_number("Mobile money\n1. Send money\n6. My balance", "My balance") == "6"
    with pytest.raises(LookupError):
        choice_number("Mobile money\n1. Send money", "My balance")
