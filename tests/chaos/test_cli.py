"""`smscore chaos` exits 1 on a failed verdict and prints the command that replays its seed; 0 on a
pass; 2 for a --keep-dir that holds something (the run's own work is faked here: test_chaos.py runs
the real thing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.chaos import cli
from daemon.chaos.run import Options
from daemon.cli import main


def fake_run(passed: bool):
    def run_chaos(options: Options, work: Path, plot_path: Path | None) -> dict:
        return {"seed": options.seed, "verdict": {"pass": passed, "checks": {}},
                "replay": cli.replay_command(options)}  # fmt: skip

    return run_chaos


@pytest.mark.parametrize(("passed", "code"), [(True, 0), (False, 1)])
def test_the_exit_code_follows_the_verdict_and_a_failure_names_its_replay(
    monkeypatch: pytest.MonkeyPatch, passed: bool, code: int
) -> None:
    monkeypatch.setattr(cli, "run_chaos", fake_run(passed))
    result = CliRunner().invoke(main, ["chaos", "--seed", "42", "--duration", "5", "--kills", "2"])
    assert result.exit_code == code, result.output
    replay = "smscore chaos --seed 42 --duration 5 --rate 8 --kills 2 --customers 30"
    assert json.loads(result.stdout)["replay"] == replay
    assert (f"replay with: {replay}" in result.stderr) is not passed


def test_a_keep_dir_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "old.db").write_text("x")
    result = CliRunner().invoke(main, ["chaos", "--keep-dir", str(tmp_path)])
    assert result.exit_code == 2 and "is not empty" in result.output


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_rate_that_is_no_finite_number_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # New-user trial: --rate nan passed FloatRange, sent nothing and reported a passing verdict.
    monkeypatch.setattr(cli, "run_chaos", fake_run(True))
    result = CliRunner().invoke(main, ["chaos", "--rate", value, "--duration", "1"])
    assert result.exit_code == 2 and "not a finite number" in result.output
