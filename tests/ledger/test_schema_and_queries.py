"""Migrations, engine settings and the read side (balances, statements, lookups)."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from ledger import (
    Account,
    AccountFlags,
    SchemaVersionError,
    Transfer,
    TransferFlags,
    create_accounts,
    create_transfers,
    get_balance,
    get_transfers,
    make_engine,
    require_current_schema,
    statement,
    transfers_by_user_data,
    upgrade,
)
from ledger.migrate import VERSION_TABLE
from ledger.schema import metadata

S = 1_000_000_000


def test_migrations_build_exactly_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        require_current_schema(conn)
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade(conn)
        require_current_schema(conn)


def test_empty_database_is_refused_with_a_clear_error(db_url: str) -> None:
    engine = make_engine(db_url)
    with pytest.raises(SchemaVersionError, match="smscore ledger init"), engine.connect() as conn:
        require_current_schema(conn)
    engine.dispose()


def test_sqlite_engine_settings(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        pragmas = [
            conn.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "secure_delete")
        ]
    assert pragmas == ["wal", 1, 2, 1]  # synchronous=FULL is 2
    with pytest.raises(ValueError, match="sqlite_begin"):
        make_engine("sqlite://", sqlite_begin="LATER")


@pytest.fixture
def history(engine: Engine) -> Engine:
    """Wallet 2 gets 100 at t=10 s, pays 30 at t=20 s, gets 5 (of a pending 8) at t=30 s."""
    with engine.begin() as conn:
        create_accounts(conn, [Account(1, "KES"), Account(2, "KES", user_data="wallet:254700000001"),
                               Account(3, "KES", flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)], 0)  # fmt: skip
        create_transfers(conn, [Transfer(1, 3, 2, 100, "KES", user_data="inbox:1")], 10 * S)
        create_transfers(conn, [Transfer(2, 2, 1, 30, "KES", user_data="inbox:2")], 20 * S)
        create_transfers(conn, [Transfer(3, 1, 2, 8, "KES", flags=TransferFlags.PENDING)], 25 * S)
        create_transfers(conn, [Transfer(4, amount=5, pending_id=3, flags=TransferFlags.POST_PENDING,
                                         user_data="inbox:2")], 30 * S)  # fmt: skip
    return engine


def test_balance_seen_from_the_normal_side(history: Engine) -> None:
    with history.connect() as conn:
        wallet, trust = get_balance(conn, 2), get_balance(conn, 3)
        assert get_balance(conn, 99) is None
    assert (wallet.posted, wallet.pending, wallet.available) == (75, 0, 75)
    assert (trust.posted, trust.available) == (100, 100)  # debit-normal


def test_statement_with_opening_and_running_balance(history: Engine) -> None:
    with history.connect() as conn:
        whole = statement(conn, 2, 0, 100 * S)
        later = statement(conn, 2, 15 * S, 100 * S)
        assert statement(conn, 99, 0, 1) is None
    assert [(line.transfer_id, line.balance) for line in whole.lines] == [
        (1, 100),
        (2, 70),
        (4, 75),
    ]
    assert (whole.opening_balance, whole.closing_balance) == (0, 75)
    assert later.opening_balance == 100
    assert [
        (line.debit_amount, line.credit_amount, line.counterparty_account_id)
        for line in later.lines
    ] == [
        (30, 0, 1),
        (0, 5, 1),
    ]


def test_statement_is_bounded(history: Engine) -> None:
    with history.connect() as conn:
        first = statement(conn, 2, 0, 100 * S, max_lines=1)
    assert first.truncated and len(first.lines) == 1 and first.closing_balance == 100


def test_lookup_by_id_and_user_data(history: Engine) -> None:
    with history.connect() as conn:
        found = get_transfers(conn, [1, 3, 42])
        by_message = transfers_by_user_data(conn, "inbox:2")
    assert sorted(found) == [1, 3]
    assert found[3].pending_status.name == "POSTED"
    assert [t.id for t in by_message] == [2, 4]
    assert by_message[1].pending_id == 3 and by_message[1].amount == 5


def test_a_failed_statement_does_not_show_its_parameters(db_url: str) -> None:
    # A statement that fails must not carry what it was given (an SMS with a PIN, say) into the
    # exception text and the logs that quote it.
    engine = make_engine(db_url)
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError) as failed, engine.begin() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": "BAL 7319"})
        assert "7319" not in str(failed.value)
    finally:
        engine.dispose()
