"""The checker finds tampering, loss and broken invariants, and names the first broken chain row."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, delete, update

from ledger import (
    Account,
    ExpectedHeadError,
    ExportedHead,
    Transfer,
    TransferFlags,
    check_ledger,
    create_accounts,
    create_transfers,
    export_head,
)
from ledger.schema import accounts, pending_transfers, transfers


@pytest.fixture
def ledger10(engine: Engine) -> Engine:
    """Ten transfers between accounts 1 and 2, the last one pending."""
    with engine.begin() as conn:
        create_accounts(conn, [Account(1, "KES"), Account(2, "KES")], now_ns=0)
        batch = [Transfer(i, 1, 2, 10 * i, "KES") for i in range(1, 10)]
        batch.append(Transfer(10, 1, 2, 5, "KES", flags=TransferFlags.PENDING))
        create_transfers(conn, batch, now_ns=1)
    return engine


def report_of(engine: Engine, expected: ExportedHead | None = None):
    with engine.connect() as conn:
        return check_ledger(conn, expected_head=expected)


def tamper(engine: Engine, work) -> None:
    with engine.begin() as conn:
        work(conn)


def test_clean_ledger_passes(ledger10: Engine) -> None:
    report = report_of(ledger10)
    assert report.ok and report.transfer_count == 10 and report.first_broken_seq is None


def test_the_connection_still_writes_after_a_check(ledger10: Engine) -> None:
    # The check streams the chain; on PostgreSQL a streaming option left on the connection would
    # turn the next INSERT into a server-side cursor, which the server refuses.
    with ledger10.begin() as conn:
        assert check_ledger(conn).ok
        [result] = create_transfers(conn, [Transfer(11, 1, 2, 7, "KES")], now_ns=2)
    assert result.value == "ok" and report_of(ledger10).transfer_count == 11


def test_edited_amount_breaks_the_chain_at_that_row(ledger10: Engine) -> None:
    def edit(conn: Connection) -> None:
        conn.execute(update(transfers).where(transfers.c.id == 4).values(amount=41))
        conn.execute(update(accounts).where(accounts.c.id == 1).values(debits_posted=451))
        conn.execute(update(accounts).where(accounts.c.id == 2).values(credits_posted=451))

    tamper(ledger10, edit)
    report = report_of(ledger10)
    assert report.first_broken_seq == 4
    assert [v.rule for v in report.violations] == ["chain"]


def test_deleted_row_breaks_the_chain_and_the_head(ledger10: Engine) -> None:
    tamper(ledger10, lambda conn: conn.execute(delete(transfers).where(transfers.c.id == 7)))
    report = report_of(ledger10)
    assert report.first_broken_seq == 7
    assert {v.rule for v in report.violations} == {"chain", "head", "balance"}


def test_lost_tail_is_caught_by_the_exported_head(ledger10: Engine) -> None:
    with ledger10.connect() as conn:
        exported = export_head(conn)

    def lose_tail_consistently(conn: Connection) -> None:
        conn.execute(delete(pending_transfers))
        conn.execute(delete(transfers).where(transfers.c.id >= 9))
        conn.execute(
            update(accounts).where(accounts.c.id == 1).values(debits_posted=360, debits_pending=0)
        )
        conn.execute(
            update(accounts).where(accounts.c.id == 2).values(credits_posted=360, credits_pending=0)
        )
        from ledger.schema import ledger_head

        head_hash = conn.execute(transfers.select().where(transfers.c.seq == 8)).one().hash
        conn.execute(update(ledger_head).values(transfer_count=8, head_hash=head_hash))

    tamper(ledger10, lose_tail_consistently)
    assert report_of(ledger10).ok  # internally consistent: only the exported head can tell
    report = report_of(ledger10, expected=exported)
    assert [v.rule for v in report.violations] == ["head"]
    assert "older copy" in report.violations[0].detail


def test_exported_head_from_another_history_is_a_fork(ledger10: Engine) -> None:
    forged = ExportedHead(5, "ab" * 32)
    report = report_of(ledger10, expected=forged)
    assert [v.rule for v in report.violations] == ["head"]
    with ledger10.connect() as conn:
        exported = export_head(conn)
    assert report_of(ledger10, expected=exported).ok


def test_balance_edit_without_transfer_is_found(ledger10: Engine) -> None:
    tamper(
        ledger10,
        lambda conn: conn.execute(
            update(accounts).where(accounts.c.id == 2).values(credits_posted=1)
        ),
    )
    rules = [v.rule for v in report_of(ledger10).violations]
    assert rules == ["balance", "currency"]


def test_pending_state_without_reservation_is_found(ledger10: Engine) -> None:
    def void_behind_the_back(conn: Connection) -> None:
        conn.execute(update(pending_transfers).values(status=3))

    tamper(ledger10, void_behind_the_back)
    rules = {v.rule for v in report_of(ledger10).violations}
    assert rules == {"pending", "balance"}


def test_bad_exported_head_is_a_typed_error() -> None:
    with pytest.raises(ExpectedHeadError):
        ExportedHead.from_dict({"transfer_count": 1, "head_hash": "zz"})
    assert ExportedHead.from_dict({"transfer_count": 1, "head_hash": "00" * 32}).transfer_count == 1
