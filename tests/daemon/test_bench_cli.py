"""`smscore bench` runs the installed `benchmarks` package, and stops in one line without it."""

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
