"""Report 2: the trust account against the bank's statement (MT940, camt.053, CSV)."""

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from daemon.cli import main
from daemon.commands import Role
from daemon.money.moves import MoveKind
from daemon.recon.bank import bank_report_txn
from daemon.recon.statement import (
    StatementError,
    StatementFormat,
    read_statement,
    signed_amount_minor,
)
from tests.recon.books import TZ, Books, utc_ns
from tests.recon.conftest import DATA

STATEMENTS = ["trust-2025-12-01.sta", "trust-2025-12-01.xml", "trust-2025-12-01.csv"]


def _day_of_business(books: Books) -> dict[str, object]:
    """What the fixture statements show: KES 1,000,000 issued before 1 Dec; on 1 Dec ACME's
    deposit (bank reference DEP-0042) and e-float to an agent store."""
    customer = books.person("254700000001")
    books.issue("254700000001", customer, 100_000_000, utc_ns("2025-11-30T08:00"),
                kind=MoveKind.ISSUE, action="subscriber.add")  # fmt: skip
    acme = books.person("254700000900", Role.BILLER, "ACME")
    deposit = books.issue(
        "254700000900", acme, 5_000_000, utc_ns("2025-12-01T07:00"), kind=MoveKind.ISSUE,
        action="business.deposit",
        detail="e-money KES 50,000.00 paid into the trust account, bank reference DEP-0042",
    )  # fmt: skip
    store = books.person("254712000100", Role.AGENT, "Mama Mboga", agent_number="100")
    float_move = books.issue("254712000100", store, 2_000_000, utc_ns("2025-12-01T08:00"))
    return {"store": store, "deposit": deposit, "float": float_move}


def _report(books: Books, path: Path, **options):
    statement = read_statement(path, "KES")
    with books.engine.connect() as conn:
        return bank_report_txn(conn, statement, TZ, **options)


@pytest.mark.parametrize("name", STATEMENTS)
def test_every_format_reconciles_the_same_day(books: Books, name: str) -> None:
    _day_of_business(books)
    closing = {"bank_closing_minor": 107_000_000} if name.endswith(".csv") else {}
    report = _report(books, DATA / name, **closing)
    assert report.ok, report.problems
    matched = [(row[0], row[1], row[4]) for row in report.rows]
    assert matched == [("matched", "reference", 5_000_000), ("matched", "amount+date", 2_000_000)]
    summary = dict(report.summary)
    assert summary["book_closing_minor"] == summary["bank_closing_minor"] == 107_000_000
    if not name.endswith(".csv"):
        assert summary["book_opening_minor"] == summary["bank_opening_minor"] == 100_000_000


def test_camt_pending_entries_are_not_booked_lines() -> None:
    statement = read_statement(DATA / "trust-2025-12-01.xml", "KES")
    assert statement.format is StatementFormat.CAMT053
    assert [line.amount_minor for line in statement.lines] == [5_000_000, 2_000_000]
    assert statement.lines[0].bank_reference == "FT25335A1"
    assert "DEP-0042" in statement.lines[0].reference


def test_an_unknown_bank_line_and_an_unpaid_issue_are_listed(books: Books) -> None:
    found = _day_of_business(books)
    extra = books.issue("254712000100", found["store"], 300_000, utc_ns("2025-12-01T12:00"))
    report = _report(books, DATA / "trust-2025-12-01-unknown.csv", bank_closing_minor=107_750_000)
    statuses = [(row[0], row[4], row[7]) for row in report.rows]
    assert ("bank only", 750_000, None) in statuses
    assert ("book only", None, 300_000) in statuses
    book_only = next(row for row in report.rows if row[0] == "book only")
    assert extra.ref in book_only[8] and book_only[9] == extra.leg_id(0)
    assert report.problems == [
        "closing balances differ: book 107300000, bank 107750000 (minor units)",
        "1 bank line(s) match no trust-account posting",
        "1 trust-account posting(s) match no bank line",
    ]


def test_the_move_ref_picks_the_posting_among_equal_amounts(books: Books, tmp_path: Path) -> None:
    store = books.person("254712000100", Role.AGENT, agent_number="100")
    first = books.issue("254712000100", store, 1_000_000, utc_ns("2025-12-01T06:00"))
    second = books.issue("254712000100", store, 1_000_000, utc_ns("2025-12-01T07:00"))
    statement = tmp_path / "bank.csv"
    statement.write_text(f"date,amount,reference\n2025-12-01,10000.00,FLOAT {second.ref.lower()}\n")
    report = _report(books, statement)
    [matched, left] = report.rows
    assert matched[:2] == ("matched", "reference") and matched[9] == second.leg_id(0)
    assert left[0] == "book only" and left[9] == first.leg_id(0)
    assert not report.ok


def test_the_window_bounds_how_far_apart_lines_may_be(books: Books, tmp_path: Path) -> None:
    store = books.person("254712000100", Role.AGENT, agent_number="100")
    books.issue("254712000100", store, 1_000_000, utc_ns("2025-12-01T06:00"))
    statement = tmp_path / "bank.csv"
    statement.write_text("date,amount,reference\n2025-12-03,10000.00,LATE CREDIT\n")
    period = (date(2025, 12, 1), date(2025, 12, 3))
    assert _report(books, statement, window_days=2, period=period).ok
    late = _report(books, statement, window_days=1, period=period)
    assert [row[0] for row in late.rows] == ["bank only", "book only"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("date,amount,reference\n2025-12-01,10.005,X\n", "not like 50000.00"),
        ("date,amount,reference\n2025-12-01,1e3,X\n", "not like 50000.00"),
        ("date,amount,reference\n01/12/2025,10.00,X\n", "not like 2025-12-01"),
        ("day,amount\n2025-12-01,10.00\n", "missing: date, reference"),
    ],
)
def test_a_bad_csv_names_the_file_and_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(text)
    with pytest.raises(StatementError, match=problem):
        read_statement(path, "KES")


def test_a_statement_in_another_currency_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "usd.sta"
    path.write_text((DATA / "trust-2025-12-01.sta").read_text().replace("KES", "USD"))
    with pytest.raises(StatementError, match="in USD, the service in KES"):
        read_statement(path, "KES")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_amounts_are_read_exactly(minor: int) -> None:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    assert signed_amount_minor(f"{sign}{whole}.{cents:02d}", "x") == minor


def test_cli_exit_codes(books: Books, sqlite_url: str, tmp_path: Path) -> None:
    _day_of_business(books)
    runner = CliRunner()
    ok = runner.invoke(main, ["recon", "bank", str(DATA / STATEMENTS[0]), "--db", sqlite_url])
    assert ok.exit_code == 0, ok.output
    assert "bank: balances" in ok.output and "DEP-0042" in ok.output
    unknown = str(DATA / "trust-2025-12-01-unknown.csv")
    found = runner.invoke(main, ["recon", "bank", unknown, "--db", sqlite_url, "--format", "csv"])
    assert found.exit_code == 1
    assert "bank only,,3,2025-12-01,750000,UNIDENTIFIED CASH DEPOSIT FT25335A9" in found.output
    bad = tmp_path / "bad.csv"
    bad.write_text("date,amount,reference\n2025-12-01,ten,X\n")
    refused = runner.invoke(main, ["recon", "bank", str(bad), "--db", sqlite_url])
    assert refused.exit_code == 2 and "bad.csv line 2: amount 'ten'" in refused.output
