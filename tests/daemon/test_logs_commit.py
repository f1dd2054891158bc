"""daemon.committed (the lines of daemon.log_lines): written once the COMMIT returned
(daemon.db.transaction): never for a COMMIT that failed, a rollback, a savepoint rolled back, and
never handed from one checkout of a pooled connection to the next."""

import gc

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from daemon import committed, log_lines
from daemon.db import run_in_transaction, transaction
from daemon.log_lines import after_commit


@pytest.fixture
def said():
    log_lines.activate()
    yield []
    log_lines.deactivate()


@pytest.fixture
def engine():
    """One in-memory SQLite connection for every checkout (StaticPool), so a line left on the
    pooled connection would meet the next transaction; a foreign key checked at COMMIT."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys = ON"))
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES "
                "parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    yield engine
    engine.dispose()


def orphan_txn(conn, said, line):
    """Work whose COMMIT fails: the deferred foreign key is checked only then."""
    after_commit(conn, "mo-1", lambda: said.append(line))
    conn.execute(text("INSERT INTO child (id, parent_id) VALUES (1, 42)"))


def test_a_line_waits_for_the_commit_to_return(said, engine):
    with transaction(engine) as conn:
        after_commit(conn, "mo-1", lambda: said.append("one"))
        conn.execute(text("select 1"))
        assert said == []
    assert said == ["one"]


def test_a_commit_that_fails_writes_nothing_and_leaves_nothing_for_the_next(said, engine):
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        run_in_transaction(engine, 0, "orphan", orphan_txn, said, "never committed")
    assert said == []  # SQLAlchemy's commit event had fired: the line was ready before COMMIT
    run_in_transaction(
        engine, 0, "next", lambda conn: after_commit(conn, "mo-2", lambda: said.append("next"))
    )
    assert said == ["next"]


def test_a_rollback_drops_the_lines_and_the_next_commit_writes_only_its_own(said, engine):
    def failing_txn(conn):
        after_commit(conn, "mo-1", lambda: said.append("undone"))
        raise RuntimeError("the work fails after its line was built")

    with pytest.raises(RuntimeError):
        run_in_transaction(engine, 0, "failing", failing_txn)
    with transaction(engine) as conn:
        after_commit(conn, "mo-2", lambda: said.append("kept"))
    assert said == ["kept"]


def test_a_checkout_ended_without_a_rollback_hands_no_line_to_the_next(said, engine):
    conn = engine.connect()
    conn.begin()
    after_commit(conn, "mo-9", lambda: said.append("leaked"))
    del conn  # dropped unclosed: the pool resets the DBAPI connection, no rollback event
    gc.collect()
    with transaction(engine) as conn:
        conn.execute(text("select 1"))
    assert said == []


def test_a_savepoint_rolled_back_drops_its_lines_only(said, engine):
    with transaction(engine) as conn:
        after_commit(conn, "a", lambda: said.append("before"))
        with conn.begin_nested():
            after_commit(conn, "b", lambda: said.append("kept"))
        savepoint = conn.begin_nested()
        after_commit(conn, "c", lambda: said.append("undone"))
        with conn.begin_nested():
            after_commit(conn, "d", lambda: said.append("undone inside"))
        savepoint.rollback()
        after_commit(conn, "e", lambda: said.append("after"))
    assert said == ["before", "kept", "after"]


def test_a_plain_engine_begin_writes_nothing(said, engine):
    """Outside daemon.db.transaction nobody learns that the COMMIT returned: nothing is written
    (the daemon's work all goes through run_interaction)."""
    with engine.begin() as conn:
        after_commit(conn, "mo-1", lambda: said.append("unknown fate"))
    assert said == []


def test_nothing_is_kept_when_the_lines_are_off(engine):
    with transaction(engine) as conn:
        after_commit(conn, "mo-1", lambda: pytest.fail("logged while inactive"))
        assert conn not in committed._PENDING
