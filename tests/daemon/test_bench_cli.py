"""`smscore bench` says it needs a source checkout, and stops in one line without one."""

from click.testing import CliRunner

from daemon.cli import main


def test_help_says_the_benchmarks_need_a_source_checkout():
    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code == 0 and "Needs a source checkout" in result.output


def test_without_the_benchmarks_directory_it_stops_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("daemon.bench_cli.BENCHMARKS_DIR", tmp_path)
    for command in (["bench", "codec"], ["bench", "e2e", "--duration", "1"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        [line] = result.output.splitlines()
        assert line.startswith(f"smscore bench: {tmp_path}/") and "source checkout" in line
