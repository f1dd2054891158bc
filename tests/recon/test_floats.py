"""Report 3: each agent store's float for a day."""

from datetime import date

from click.testing import CliRunner

from daemon.cli import main
from daemon.commands import Role
from daemon.money.moves import MoveKind
from daemon.recon.floats import float_report_txn
from tests.recon.books import TZ, Books, deposit_leg, utc_ns

DAY = date(2025, 12, 1)  # in Nairobi: 2025-11-30T21:00 to 2025-12-01T21:00 UTC


def _store_day(books: Books) -> tuple[int, int]:
    store = books.person("254712000100", Role.AGENT, "Mama Mboga", agent_number="100")
    customer = books.person("254700000001")
    books.issue("254712000100", store, 5_000_000, utc_ns("2025-11-30T12:00"))  # the day before
    books.issue("254712000100", store, 1_000_000, utc_ns("2025-12-01T06:00"))  # in
    leg = deposit_leg(store, customer, 300_000)  # cash in: float out to the customer
    books.move(MoveKind.DEPOSIT, "254712000100", "254700000001", [leg], utc_ns("2025-12-01T07:00"))
    late = deposit_leg(store, customer, 50_000)  # 22:00 UTC is 1 am the next day in Nairobi
    books.move(MoveKind.DEPOSIT, "254712000100", "254700000001", [late], utc_ns("2025-12-01T22:00"))
    return store, customer


def test_opening_in_out_closing(books: Books) -> None:
    _store_day(books)
    with books.engine.connect() as conn:
        report = float_report_txn(conn, DAY, TZ)
    assert report.ok, report.problems
    [row] = report.rows
    assert row[:9] == ("254712000100", "100", "Mama Mboga", 5_000_000, 1_000_000, 300_000,
                       5_700_000, 1_000_000, 2)  # fmt: skip
    assert row[9] == 5_650_000  # what the ledger holds now, after the next day's deposit


def test_a_float_balance_that_disagrees_with_its_transfers_is_found(
    books: Books, sqlite_url
) -> None:
    store, _ = _store_day(books)
    books.corrupt_balance(store, 1_000)
    with books.engine.connect() as conn:
        report = float_report_txn(conn, DAY, TZ)
    assert report.problems == [
        "254712000100: the ledger keeps a balance of 5651000, its transfers add up to 5650000 "
        "(minor units)"
    ]
    args = ["recon", "float", "--day", "2025-12-01", "--db", sqlite_url, "--format", "csv"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert (
        "254712000100,100,Mama Mboga,5000000,1000000,300000,5700000,1000000,2,5651000"
        in result.output
    )


def test_cli_bad_day_is_exit_2(books: Books, sqlite_url) -> None:
    result = CliRunner().invoke(main, ["recon", "float", "--day", "1/12/25", "--db", sqlite_url])
    assert result.exit_code == 2 and "not a day like 2025-12-01" in result.output
