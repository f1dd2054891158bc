"""`smscore bench` runs the installed `benchmarks` package, and stops in one line without it."""

import pytest
from click.testing import CliRunner

from daemon.bench_cli import load_benchmark
from daemon.cli import main


def test_the_benchmarks_are_a_package_the_cli_imports():
    assert load_benchmark("e2e").__name__ == "benchmarks.e2e"
    assert callable(load_benchmark("codec").main) and callable(load_benchmark("send").main)
    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code == 0 and "installed package" in result.output
    assert "Needs a source checkout" not in result.output
    assert "profile" in result.output and callable(load_benchmark("profile").main)


def test_without_the_benchmarks_package_it_stops_in_one_line(monkeypatch):
    monkeypatch.setattr("daemon.bench_cli.BENCHMARKS_PACKAGE", "no_such_benchmarks")
    for command in (["bench", "codec"], ["bench", "e2e", "--duration", "1"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        [line] = result.output.splitlines()
        assert line.startswith("smscore bench: no_such_benchmarks.") and "not installed" in line


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "workload", "bal", "--rate", "nan"],
        ["bench", "workload", "bal", "--duration", "inf"],
        ["bench", "sweep", "--workload", "bal", "--p99-bound-ms", "nan"],
    ],
)
def test_a_bench_number_that_is_not_finite_is_a_usage_error(args):
    # New-user trial: --rate nan reached the runner and ended in a traceback.
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "not a finite number" in result.output


@pytest.mark.parametrize("args", [["--rate", "nan"], ["--duration", "-5"], ["--sample-hz", "0"]])
def test_bench_profile_refuses_bad_numbers_before_running(args, capsys):
    with pytest.raises(SystemExit) as exited:
        load_benchmark("profile").main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: smscore bench profile") and "finite number" in err
