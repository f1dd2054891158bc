"""Report 4: the outbox against delivery receipts."""

from click.testing import CliRunner
from sqlalchemy import insert

from daemon.cli import main
from daemon.recon.outbox import outbox_report_txn
from daemon.schema import early_receipts, outbox, outbox_parts
from tests.recon.books import NS, TZ, Books, utc_ns

NOW = utc_ns("2025-12-01T12:00")
TIMEOUT_NS = 3600 * NS


def _sms(books: Books, status: str, created_ns: int, parts: list[tuple[str, int]] = (),
         ussd: bool = False) -> int:  # fmt: skip
    with books.engine.begin() as conn:
        row_id = conn.execute(insert(outbox).values(
            created_at_ns=created_ns, source_addr="12345", destination_addr="254700000001",
            text="hello", status=status, attempts=1, next_attempt_at_ns=created_ns,
            parts_total=len(parts), holds_code=False, ussd_op=2 if ussd else None,
        )).inserted_primary_key[0]  # fmt: skip
        for part_no, (part_status, submitted_ns) in enumerate(parts, start=1):
            conn.execute(insert(outbox_parts).values(
                outbox_id=row_id, part_no=part_no, bind_name="smsc1",
                message_id=f"{row_id}-{part_no}", message_key=f"{row_id}{part_no}",
                status=part_status, submitted_at_ns=submitted_ns,
            ))  # fmt: skip
    return row_id


def _clean_traffic(books: Books) -> None:
    an_hour_ago = NOW - TIMEOUT_NS - NS
    _sms(books, "delivered", an_hour_ago, [("delivered", an_hour_ago), ("delivered", an_hour_ago)])
    _sms(books, "failed", an_hour_ago, [("failed", an_hour_ago)])
    _sms(books, "undeliverable", an_hour_ago)
    _sms(books, "queued", NOW - NS)
    _sms(books, "submitted", NOW - 60 * NS, [("submitted", NOW - 60 * NS)])  # receipt not due yet
    _sms(books, "submitted", an_hour_ago, [("submitted", an_hour_ago)], ussd=True)  # no receipts


def _report(books: Books, **options):
    with books.engine.connect() as conn:
        return outbox_report_txn(conn, NOW, TIMEOUT_NS, TZ, **options)


def test_every_message_has_its_outcome(books: Books) -> None:
    _clean_traffic(books)
    report = _report(books)
    assert report.ok, report.problems
    counts = {row[0]: row[1] for row in report.rows}
    assert counts == {
        "not sent yet (queued)": 1, "being sent (in flight)": 0, "sent, receipt awaited": 2,
        "delivered": 1, "failed (receipt)": 1, "undeliverable": 1,
        "unknown: no receipt after the timeout": 0,
    }  # fmt: skip


def test_no_receipt_after_the_timeout_is_unknown(books: Books, sqlite_url: str) -> None:
    _clean_traffic(books)
    late = NOW - TIMEOUT_NS - 5 * NS
    lost = _sms(books, "submitted", late, [("delivered", late), ("submitted", late)])
    report = _report(books)
    counts = {row[0]: row[1] for row in report.rows}
    assert counts["unknown: no receipt after the timeout"] == 1
    assert counts["sent, receipt awaited"] == 2
    assert report.problems == [
        f"1 message(s) sent with no receipt after the timeout: outbox ids {lost}"
    ]
    assert _report(books, receipts_requested=False).ok  # none was asked for: none is missing
    result = CliRunner().invoke(
        main,
        ["recon", "outbox", "--db", sqlite_url, "--at", "2025-12-01T15:00"],  # Nairobi time
    )
    assert result.exit_code == 1 and f"outbox ids {lost}" in result.output


def test_a_status_that_disagrees_with_its_receipts_is_found(books: Books) -> None:
    _clean_traffic(books)
    t = NOW - 10 * NS
    short = _sms(books, "delivered", t, [("delivered", t), ("failed", t)])
    stuck = _sms(books, "submitted", t, [("delivered", t)])
    with books.engine.begin() as conn:
        conn.execute(insert(early_receipts).values(
            bind_name="smsc1", message_key="999", stat="DELIVRD", err="000",
            received_at_ns=NOW - TIMEOUT_NS - NS,
        ))  # fmt: skip
    report = _report(books)
    assert report.problems == [
        f"2 message(s) whose status disagrees with their parts' receipts: outbox ids {short}, {stuck}",
        "1 receipt(s) matched no message for longer than the timeout (is the sweeper running?)",
    ]


def test_a_period_counts_only_its_messages(books: Books) -> None:
    _clean_traffic(books)
    report = _report(books, from_ns=NOW - 10 * NS, to_ns=NOW)
    assert dict(report.summary)["messages"] == 1  # the queued one
