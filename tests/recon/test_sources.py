"""Report 6: ledger transfers with no source message (on SQLite and PostgreSQL)."""

from click.testing import CliRunner
from sqlalchemy import insert

from daemon.chart import TransferCode
from daemon.cli import main
from daemon.money.moves import Leg, MoveKind
from daemon.recon.sources import sources_report_txn
from daemon.schema import vouchers
from tests.recon.books import TZ, Books, utc_ns

T0 = utc_ns("2025-12-01T09:00")


def _sourced_traffic(books: Books) -> tuple[int, int]:
    """An issue by staff (audit entry), a SEND from an SMS (inbox row), a voucher returned by the
    sweeper (its voucher row)."""
    payer, payee = books.person("254700000001"), books.person("254700000002")
    books.issue("254700000001", payer, 1_000_000, T0, kind=MoveKind.ISSUE, action="subscriber.add")
    inbox_id = books.mo("254700000001", "SEND 0700000002 500", T0)
    leg = Leg(payer, payee, 50_000, TransferCode.P2P)
    books.move(MoveKind.SEND, "254700000001", "254700000002", [leg], T0, inbox_id=inbox_id)
    out = books.move(MoveKind.VOUCHER, "254700000001", None,
                     [Leg(payer, 4, 10_000, TransferCode.VOUCHER)], T0, inbox_id=inbox_id)  # fmt: skip
    back = books.move(MoveKind.VOUCHER_RETURN, None, "254700000001",
                      [Leg(4, payer, 10_000, TransferCode.VOUCHER)], T0)  # fmt: skip
    with books.engine.begin() as conn:
        conn.execute(insert(vouchers).values(
            move_id=out.id, sender_msisdn="254700000001", recipient_msisdn="254799999999",
            amount_minor=10_000, code_hmac=b"x" * 32, state="returned", created_at_ns=T0,
            expires_at_ns=T0, closed_at_ns=T0, closed_by_move_id=back.id,
        ))  # fmt: skip
    return payer, inbox_id


def test_every_transfer_has_a_source(any_books: Books) -> None:
    _sourced_traffic(any_books)
    with any_books.engine.connect() as conn:
        report = sources_report_txn(conn, TZ)
    assert report.ok, report.rows
    assert dict(report.summary) == {"transfers_checked": 4, "without_source": 0}


def test_postings_without_a_source_are_listed(any_books: Books) -> None:
    payer, _ = _sourced_traffic(any_books)
    payee = any_books.person("254700000003")
    leg = Leg(payer, payee, 50_000, TransferCode.P2P)  # no MO, no staff action, no API request
    orphan = any_books.move(MoveKind.SEND, "254700000001", "254700000003", [leg], T0)
    raw = any_books.raw_deposit(payer, 7_000, T0)
    with any_books.engine.connect() as conn:
        report = sources_report_txn(conn, TZ)
    problems = [(row[4], row[8]) for row in report.rows]
    assert problems == [
        (50_000, "the move has no recorded source"),
        (7_000, "no move: posted outside the move records"),
    ]
    assert report.rows[0][0] == orphan.leg_id(0) and report.rows[0][7] == f"{orphan.ref} (send)"
    assert report.rows[1][0] == raw and report.rows[1][7] == "by hand"
    assert report.problems == ["2 ledger transfer(s) with no source message"]


def test_cli_lists_and_exits_1(books: Books, sqlite_url: str) -> None:
    payer, _ = _sourced_traffic(books)
    assert CliRunner().invoke(main, ["recon", "sources", "--db", sqlite_url]).exit_code == 0
    books.raw_deposit(payer, 7_000, T0)
    result = CliRunner().invoke(main, ["recon", "sources", "--db", sqlite_url, "--format", "json"])
    assert result.exit_code == 1
    assert '"without_source": 1' in result.output
