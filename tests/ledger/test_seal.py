"""ledger.seal: the tail check and the seal comparison (SQLite and PostgreSQL), and the seal file."""

from __future__ import annotations

import json
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, select, update

from ledger import (
    Account,
    CreateTransferResult,
    ExportedHead,
    Transfer,
    check_ledger,
    create_accounts,
    create_transfers,
    make_engine,
    upgrade,
)
from ledger.schema import HEAD_ROW_ID, ledger_head, transfers
from ledger.seal import LEDGER_CHAIN, Mark, check_tail, compare_with_seal
from ledger.seal_file import Seal, SealFileError, read_seal, write_seal

WHEN = "2026-12-01 10:00:00Z"


def post(conn: Connection, first_id: int, count: int, at_ns: int = 10) -> None:
    if first_id == 1:
        create_accounts(conn, [Account(1, "KES"), Account(2, "KES")], 0)
    batch = [
        Transfer(i, 1, 2, i, "KES", user_data=f"t{i}") for i in range(first_id, first_id + count)
    ]
    results = create_transfers(conn, batch, at_ns)
    assert set(results) == {CreateTransferResult.OK}


def head(conn: Connection) -> Mark:
    return LEDGER_CHAIN.head(conn)


def rewind(conn: Connection, count: int) -> None:
    """The database as an older copy of it was: transfers after `count` gone, the head row then."""
    conn.execute(delete(transfers).where(transfers.c.seq > count))
    stored = conn.execute(select(transfers.c.hash).where(transfers.c.seq == count)).scalar_one()
    conn.execute(
        update(ledger_head)
        .where(ledger_head.c.id == HEAD_ROW_ID)
        .values(transfer_count=count, head_hash=stored)
    )


@pytest.fixture
def ledger_of_20(engine: Engine) -> Engine:
    with engine.begin() as conn:
        post(conn, 1, 20)
    return engine


def test_an_empty_and_a_whole_ledger_pass_the_tail_check(engine: Engine) -> None:
    with engine.begin() as conn:
        empty = check_tail(conn, LEDGER_CHAIN, 5)
        post(conn, 1, 20)
        for tail in (0, 1, 5, 20, 1000):
            verdict = check_tail(conn, LEDGER_CHAIN, tail)
            assert verdict.problem is None and verdict.rehashed == min(tail, 20)
    assert (empty.problem, empty.head.count) == (None, 0)


def test_an_edited_transfer_in_the_tail_is_named(ledger_of_20: Engine) -> None:
    with ledger_of_20.begin() as conn:
        conn.execute(update(transfers).where(transfers.c.seq == 17).values(amount=1700))
        found = check_tail(conn, LEDGER_CHAIN, 5).problem
        before_the_tail = check_tail(conn, LEDGER_CHAIN, 3).problem
    assert found == "ledger: hash chain breaks at transfer 17: a row was edited, lost or damaged"
    assert before_the_tail is None  # bounded: older links are `smscore ledger check`'s


def test_a_lost_last_transfer_and_an_edited_head_row_are_named(ledger_of_20: Engine) -> None:
    with ledger_of_20.begin() as conn:
        conn.execute(delete(transfers).where(transfers.c.seq == 20))
        lost = check_tail(conn, LEDGER_CHAIN, 5).problem
        rewind(conn, 19)
        conn.execute(update(ledger_head).values(head_hash=bytes(32)))
        edited = check_tail(conn, LEDGER_CHAIN, 5).problem
    assert lost == (
        "ledger: the head row counts 20 transfers but the last stored is number 19: rows were "
        "deleted or written past the head"
    )
    assert edited.startswith("ledger: the head row (19 / 0000000000000000…) is not the last link")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(11, 20),
    column=st.sampled_from(["amount", "code", "user_data", "timestamp_ns", "hash", "flags"]),
)
def test_any_edit_of_any_tail_transfer_is_found(
    ledger_of_20: Engine, seq: int, column: str
) -> None:
    edits = {"user_data": "edited", "hash": b"\x01" * 32, "code": 7000 + seq, "flags": 1 << 20}
    value = edits.get(column, 2**40 + seq)
    with ledger_of_20.connect() as conn, conn.begin() as transaction:
        conn.execute(update(transfers).where(transfers.c.seq == seq).values({column: value}))
        problem = check_tail(conn, LEDGER_CHAIN, 10).problem
        transaction.rollback()
    assert problem is not None and problem.startswith("ledger: ")


def test_a_value_no_transfer_can_hold_is_a_break_not_a_crash(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    with engine.begin() as conn:
        upgrade(conn)
        post(conn, 1, 3)
        conn.execute(update(transfers).where(transfers.c.seq == 2).values(code=2**40))  # SQLite
        problem = check_tail(conn, LEDGER_CHAIN, 5).problem
        full = check_ledger(conn)
    engine.dispose()
    assert problem == "ledger: hash chain breaks at transfer 2: a row was edited, lost or damaged"
    assert full.first_broken_seq == 2  # the full walk too, rather than a traceback


def test_the_seal_finds_an_older_copy_and_a_rewritten_one(ledger_of_20: Engine) -> None:
    with ledger_of_20.connect() as conn, conn.begin() as transaction:
        sealed = head(conn)
        assert compare_with_seal(conn, LEDGER_CHAIN, sealed, WHEN) is None
        post(conn, 21, 3)  # a descendant: transfers after the seal
        assert compare_with_seal(conn, LEDGER_CHAIN, sealed, WHEN) is None
        rewind(conn, 15)
        older = compare_with_seal(conn, LEDGER_CHAIN, sealed, WHEN)
        assert check_tail(conn, LEDGER_CHAIN, 5).problem is None  # consistent: only the seal knows
        post(conn, 100, 10)  # written after the restore: more transfers than sealed, another head
        rewritten = compare_with_seal(conn, LEDGER_CHAIN, sealed, WHEN)
        transaction.rollback()
    assert older == (
        f"ledger: 15 transfers, fewer than the 20 sealed at {WHEN}: restored from an older copy, "
        "or its last commits were lost"
    )
    assert rewritten.startswith("ledger: head 25 / ") and f"seal of {WHEN} (20 / " in rewritten
    assert rewritten.endswith("another database, or rewritten since")


def test_an_accepted_break_is_not_found_again(ledger_of_20: Engine) -> None:
    with ledger_of_20.begin() as conn:
        conn.execute(update(transfers).where(transfers.c.seq == 20).values(hash=b"\x02" * 32))
        assert check_tail(conn, LEDGER_CHAIN, 5).problem is not None
        accepted = head(conn)  # what the operator accepted (the head row, as new links chain)
        assert check_tail(conn, LEDGER_CHAIN, 5, accepted).problem is None
        post(conn, 21, 4)
        assert check_tail(conn, LEDGER_CHAIN, 5, accepted).problem is None
        assert check_tail(conn, LEDGER_CHAIN, 5).problem is not None  # without it: still broken
        conn.execute(update(transfers).where(transfers.c.seq == 23).values(amount=5))
        after = check_tail(conn, LEDGER_CHAIN, 5, accepted).problem
        assert check_ledger(conn).first_broken_seq == 20  # the full check still tells the truth
    assert after.startswith("ledger: hash chain breaks at transfer 23")


def test_the_seal_file_is_private_atomic_and_an_export_head_file(tmp_path, ledger_of_20) -> None:
    (tmp_path / "seals").mkdir()
    path = tmp_path / "seals" / "ledger.seal"
    with ledger_of_20.connect() as conn:
        mark = head(conn)
    seal = Seal({"ledger": mark, "audit log": Mark(3, b"\x07" * 32)}, 1_796_119_200 * 10**9, "db")
    assert read_seal(path) is None
    write_seal(path, seal)
    write_seal(path, seal)  # over the old one
    assert read_seal(path) == seal
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["ledger.seal"]  # no partial file left
    data = json.loads(path.read_text())
    assert data["sealed_at"] == "2026-12-01 10:00:00Z"
    assert ExportedHead.from_dict(data) == ExportedHead(20, mark.head_hash.hex())


@pytest.mark.parametrize(
    "text", ["{", '{"format": "other"}', '{"format": "smscore seal v1", "chains": {}}']
)
def test_a_damaged_seal_file_is_one_line_naming_it(tmp_path, text: str) -> None:
    path = tmp_path / "ledger.seal"
    path.write_text(text)
    with pytest.raises(SealFileError) as raised:
        read_seal(path)
    assert str(raised.value).startswith(f"seal file {path}: damaged: ")
    assert "\n" not in str(raised.value)
    with pytest.raises(SealFileError, match="cannot write it"):
        write_seal(tmp_path / "missing-dir" / "x.seal", Seal({"ledger": Mark(0, bytes(32))}, 0))
