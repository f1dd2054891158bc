"""The audit chain under concurrent writers on PostgreSQL (one chain, never a fork, no wait on a
ledger head), and d0006 chaining the entries of an existing log."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, select

import ledger
from daemon.audit import record_txn
from daemon.audit_chain import head_txn, verify_audit_chain_txn
from daemon.migrate import VERSION_TABLE, upgrade_daemon
from daemon.schema import audit_log
from ledger.batch import take_chain
from ledger.migrate import alembic_config
from tests.daemon.pg_locks import wait_until_blocked

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
THREADS = 6
APPENDS_PER_THREAD = 10


def writer(engine: Engine, index: int, start: threading.Barrier) -> list[int]:
    start.wait()
    ids = []
    for n in range(APPENDS_PER_THREAD):
        with engine.begin() as conn:
            ids.append(record_txn(conn, f"op{index}", "test.append", "", f"{index}/{n}", NOW + n))
    return ids


def test_concurrent_appends_stay_one_chain(pg_engine):
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(writer, pg_engine, i, start) for i in range(THREADS)]
        ids = [entry for future in futures for entry in future.result(timeout=120)]
    total = THREADS * APPENDS_PER_THREAD
    with pg_engine.connect() as conn:
        seqs = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars().all()
        assert verify_audit_chain_txn(conn) is None
        assert head_txn(conn).entry_count == total
    assert sorted(ids) == list(range(1, total + 1)) and seqs == list(range(1, total + 1))


def test_a_second_writer_waits_for_the_head_then_chains_after_it(pg_engine):
    with pg_engine.connect() as first, ThreadPoolExecutor(1) as pool:
        transaction = first.begin()
        first_id = record_txn(first, "ops", "test.first", "", "", NOW)

        def second() -> int:
            with pg_engine.begin() as conn:
                return record_txn(conn, "kyc", "test.second", "", "", NOW + 1)

        waiting = pool.submit(second)
        wait_until_blocked(pg_engine)
        assert not waiting.done()
        transaction.commit()
        second_id = waiting.result(timeout=60)
    with pg_engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.id, audit_log.c.seq).order_by(audit_log.c.seq))
        assert rows.all() == [(first_id, 1), (second_id, 2)]
        assert verify_audit_chain_txn(conn) is None


def test_audit_then_ledger_and_ledger_then_audit_do_not_wait_on_a_ledger_head(pg_engine):
    """A staff action that records then posts, and a batch that posts then records a lockout: the
    ledger has a chain per concurrent writer (ledger.batch), so the staff action takes a chain of
    its own and commits while the batch is still open; the batch's entry chains after it."""
    with pg_engine.connect() as poster:
        transaction = poster.begin()
        poster_chain = take_chain(poster).chain  # a batch posting money

        with pg_engine.begin() as conn:  # would block for ever behind one shared head row
            staff_id = record_txn(conn, "ops", "test.staff", "", "", NOW)
            staff_chain = take_chain(conn).chain
        lockout = record_txn(poster, "system", "pin.lockout", "254712000200", "", NOW + 1)
        transaction.commit()
    with pg_engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.id).order_by(audit_log.c.seq)).scalars().all()
        assert verify_audit_chain_txn(conn) is None
    assert rows == [staff_id, lockout] and staff_chain != poster_chain


# --- d0006 on a log written before it

OLD_ENTRIES = [  # ids with a gap, as rolled-back inserts leave on PostgreSQL
    (1, NOW, "ops", "agent.add", "254712000100", "store 'Duka'"),
    (2, NOW + NS, "kyc", "subscriber.tier", "254712000200", "tier 1 -> 2"),
    (5, NOW + 2 * NS, "ops", "subscriber.freeze", "254712000200", "state active -> frozen"),
]
_old_log = sa.table(
    "audit_log",
    *(sa.column(name) for name in ("id", "at_ns", "actor", "action", "target", "detail")),
)


def test_d0006_chains_the_entries_already_in_the_log(db_url):
    engine = ledger.make_engine(db_url)
    try:
        with engine.begin() as conn:
            ledger.upgrade(conn)
            upgrade_daemon(conn)
            # Down to d0005 and its log without the chain, as a database written before d0006.
            command.downgrade(alembic_config(conn, "daemon:migrations", VERSION_TABLE), "d0005")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_log")}
            assert not {"seq", "hash"} & columns
            assert not sa.inspect(conn).has_table("audit_head")
            keys = ("id", "at_ns", "actor", "action", "target", "detail")
            conn.execute(
                _old_log.insert(), [dict(zip(keys, row, strict=True)) for row in OLD_ENTRIES]
            )
        with engine.begin() as conn:
            upgrade_daemon(conn)
            rows = conn.execute(select(audit_log.c.id, audit_log.c.seq).order_by(audit_log.c.id))
            assert rows.all() == [(1, 1), (2, 2), (5, 3)]
            assert verify_audit_chain_txn(conn) is None
            head = head_txn(conn)
            assert (head.entry_count, head.last_id) == (3, 5)
            new_id = record_txn(
                conn, "ops", "subscriber.unfreeze", "254712000200", "", NOW + 3 * NS
            )
            assert new_id == 6
            assert verify_audit_chain_txn(conn) is None
        with engine.begin() as conn:  # the migrated entries are chained: an edit shows
            conn.execute(
                sa.update(audit_log).where(audit_log.c.id == 2).values(detail="tier 1 -> 3")
            )
            found = verify_audit_chain_txn(conn)
            assert found is not None and (found.seq, found.entry_id) == (2, 2)
    finally:
        engine.dispose()
