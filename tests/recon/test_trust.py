"""Report 1: e-money issued against the trust account."""

import json

from click.testing import CliRunner

from daemon.cli import main
from daemon.commands import Role
from daemon.recon.trust import trust_report_txn
from tests.recon.books import Books, utc_ns


def _agent_with_float(books: Books) -> int:
    store = books.person("254712000100", Role.AGENT, "Mama Mboga", agent_number="100")
    books.issue("254712000100", store, 5_000_000, utc_ns("2025-12-01T09:00"))
    return store


def test_issued_equals_the_trust_account(books: Books) -> None:
    _agent_with_float(books)
    with books.engine.connect() as conn:
        report = trust_report_txn(conn)
    summary = dict(report.summary)
    assert report.ok, report.problems
    assert summary["trust_account_minor"] == summary["emoney_issued_minor"] == 5_000_000
    assert summary["difference_minor"] == 0
    assert ("e-money held", "agent_float", 5_000_000) in report.rows


def test_a_wallet_credited_behind_the_ledger_is_a_difference(books: Books, sqlite_url: str) -> None:
    store = _agent_with_float(books)
    books.corrupt_balance(store, 12_345)
    with books.engine.connect() as conn:
        report = trust_report_txn(conn)
    assert dict(report.summary)["difference_minor"] == -12_345
    assert report.problems == [
        "the trust account and the e-money issued differ by -12345 minor units"
    ]

    result = CliRunner().invoke(main, ["recon", "trust", "--db", sqlite_url, "--format", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["summary"]["difference_minor"] == -12_345


def test_cli_table_shows_both_and_exits_0(books: Books, sqlite_url: str) -> None:
    _agent_with_float(books)
    result = CliRunner().invoke(main, ["recon", "trust", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "trust account minor" not in result.output  # headings drop the unit suffix
    assert "trust account: KES 50,000.00" in result.output
    assert "emoney issued: KES 50,000.00" in result.output
    assert "difference: KES 0.00" in result.output
    assert "trust: balances" in result.output


def test_cli_bad_database_is_exit_2(tmp_path) -> None:
    missing = f"sqlite:///{tmp_path / 'none' / 'x.db'}"
    result = CliRunner().invoke(main, ["recon", "trust", "--db", missing])
    assert result.exit_code == 2, result.output
