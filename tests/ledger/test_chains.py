"""Several hash chains on PostgreSQL (ledger.batch): concurrent writers take different head rows
and never queue on one; accounts are locked in ascending order (A→B and B→A never deadlock); the
pending state, the idempotency check and account creation are exact without a shared head; the
check and the seal see an edit, a deletion or a reordering in any chain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, Engine, delete, select, update

from daemon.seal_guard import findings_txn
from ledger import (
    Account,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
    TransferFlags,
    check_ledger,
    create_accounts,
    create_transfers,
    expire_pending_transfers,
    export_head,
    get_accounts,
    make_engine,
    upgrade,
)
from ledger.batch import take_chain
from ledger.check import ExportedHead
from ledger.schema import ledger_head, transfers
from ledger.seal import ledger_chains
from ledger.seal_file import Seal
from tests.daemon.pg_locks import wait_until_blocked
from tests.pg import postgres_database

NS = 1_000_000_000
OK = CreateTransferResult.OK


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    with postgres_database(pg_url) as url:
        engine = make_engine(url)
        with engine.begin() as conn:
            upgrade(conn)
            create_accounts(conn, [Account(i, "KES") for i in range(1, 5)], 0)
        yield engine
        engine.dispose()


def post(conn: Connection, first_id: int, count: int, debit: int = 1, credit: int = 2) -> None:
    batch = [Transfer(i, debit, credit, 10, "KES") for i in range(first_id, first_id + count)]
    assert create_transfers(conn, batch, 5 * NS) == [OK] * count


def two_chains(pg: Engine) -> tuple[int, int]:
    """Two writers at once: 5 transfers on one chain, 3 on another; their chain numbers."""
    with pg.connect() as first, pg.connect() as second:
        open_first = first.begin()
        post(first, 1, 5)
        with second.begin():  # does not wait for `first`: it takes another head row
            post(second, 100, 3, debit=3, credit=4)
            chains = (take_chain(first).chain, take_chain(second).chain)
        open_first.commit()
    return chains


def test_a_second_writer_takes_another_chain_and_does_not_wait(pg: Engine) -> None:
    assert two_chains(pg) == (1, 2)
    with pg.connect() as conn:
        report = check_ledger(conn)
        rows = conn.execute(select(transfers.c.chain, transfers.c.chain_seq).order_by("seq"))
        heads = conn.execute(select(ledger_head.c.id, ledger_head.c.transfer_count)).all()
        exported = export_head(conn)
    assert report.ok, report.violations
    assert rows.all() == [(1, n) for n in range(1, 6)] + [(2, n) for n in range(1, 4)]
    assert sorted(heads) == [(1, 5), (2, 3)]
    assert (report.transfer_count, exported.transfer_count) == (8, 8)
    assert ExportedHead.from_dict(exported.to_dict()) == exported
    assert report.head_hash_hex == exported.head_hash_hex


def test_a_connection_keeps_to_its_chain(pg: Engine) -> None:
    two_chains(pg)
    with pg.connect() as conn:  # a new connection from the pool: the one `second` was, or not
        with conn.begin():
            post(conn, 200, 1, debit=3, credit=4)
            used = take_chain(conn).chain
        with conn.begin():
            post(conn, 300, 1, debit=3, credit=4)
            assert take_chain(conn).chain == used


@pytest.mark.parametrize("damage", ["edit", "delete", "reorder", "head"])
def test_damage_in_the_second_chain_is_found(pg: Engine, damage: str) -> None:
    two_chains(pg)
    with pg.connect() as conn:
        seal = Seal({c.name: c.head(conn) for c in ledger_chains(conn)}, 0, "db")
    in_chain_2 = transfers.c.chain == 2
    with pg.begin() as conn:
        if damage == "edit":
            conn.execute(
                update(transfers).where(in_chain_2, transfers.c.chain_seq == 2).values(amount=9)
            )
        elif damage == "delete":
            conn.execute(delete(transfers).where(in_chain_2, transfers.c.chain_seq == 2))
        elif damage == "reorder":  # links 2 and 3 trade places
            conn.execute(
                update(transfers).where(in_chain_2, transfers.c.chain_seq == 2).values(chain_seq=-3)
            )
            conn.execute(
                update(transfers).where(in_chain_2, transfers.c.chain_seq == 3).values(chain_seq=2)
            )
            conn.execute(
                update(transfers).where(in_chain_2, transfers.c.chain_seq == -3).values(chain_seq=3)
            )
        else:  # the chain's head row and its last link gone, as an older copy would be
            conn.execute(delete(transfers).where(in_chain_2, transfers.c.chain_seq == 3))
            conn.execute(delete(ledger_head).where(ledger_head.c.id == 2))
    with pg.connect() as conn:
        report = check_ledger(conn)
        found = findings_txn(conn, seal, 10)
    assert not report.ok
    assert found and all(line.startswith("ledger chain 2: ") for line in found), found
    if damage != "head":
        assert (report.first_broken_chain, report.first_broken_seq) == (2, 2)
        assert "ledger chain 2: hash chain breaks at transfer seq 2" in [
            v.detail for v in report.violations
        ]
    else:
        assert "ledger chain 2: 2 transfers but no head row" in [
            v.detail for v in report.violations
        ]


def test_a_to_b_and_b_to_a_at_once_never_deadlock(pg: Engine) -> None:
    """The second locks the accounts in the same (ascending) order, so it waits holding nothing."""
    with pg.connect() as first, ThreadPoolExecutor(1) as pool:
        open_first = first.begin()
        post(first, 1, 1, debit=1, credit=2)

        def b_to_a() -> list[CreateTransferResult]:
            with pg.begin() as conn:
                return create_transfers(conn, [Transfer(2, 2, 1, 7, "KES")], 5 * NS)

        waiting = pool.submit(b_to_a)
        wait_until_blocked(pg)
        post(first, 3, 1, debit=2, credit=1)  # would deadlock if the other held account 2
        open_first.commit()
        assert waiting.result(timeout=60) == [OK]


def test_many_writers_a_to_b_and_b_to_a(pg: Engine) -> None:
    start = threading.Barrier(4)

    def writer(index: int) -> None:
        start.wait()
        for n in range(25):
            debit, credit = (1, 2) if (index + n) % 2 else (2, 1)
            with pg.begin() as conn:  # no retry here: a deadlock would raise
                tid = 1000 * (index + 1) + n
                assert create_transfers(conn, [Transfer(tid, debit, credit, 1, "KES")], NS) == [OK]

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(writer, i) for i in range(4)]:
            future.result(timeout=120)
    with pg.connect() as conn:
        assert check_ledger(conn).ok
        balances = get_accounts(conn, [1, 2])
    assert balances[1].debits_posted + balances[2].debits_posted == 100


def test_a_post_and_the_expiry_of_the_same_pending_transfer(pg: Engine) -> None:
    pending = Transfer(1, 1, 2, 50, "KES", flags=TransferFlags.PENDING, timeout_s=1)
    with pg.begin() as conn:
        assert create_transfers(conn, [pending], 0) == [OK]
    with pg.connect() as poster, ThreadPoolExecutor(1) as pool:
        open_post = poster.begin()
        post_of_it = Transfer(2, pending_id=1, flags=TransferFlags.POST_PENDING)
        assert create_transfers(poster, [post_of_it], NS // 2) == [OK]

        def expire() -> list[int]:
            with pg.begin() as conn:
                return expire_pending_transfers(conn, 2 * NS)

        expiring = pool.submit(expire)
        wait_until_blocked(pg)  # on the accounts the post holds
        open_post.commit()
        assert expiring.result(timeout=60) == []  # it was posted meanwhile: not expired too
    with pg.connect() as conn:
        assert check_ledger(conn).ok
        assert get_accounts(conn, [2])[2].credits_posted == 50


def test_the_same_transfer_twice_at_once_is_one_transfer(pg: Engine) -> None:
    with pg.connect() as first, ThreadPoolExecutor(1) as pool:
        open_first = first.begin()
        post(first, 7, 1)

        def again() -> list[CreateTransferResult]:
            with pg.begin() as conn:
                return create_transfers(conn, [Transfer(7, 1, 2, 10, "KES")], 5 * NS)

        waiting = pool.submit(again)
        wait_until_blocked(pg)
        open_first.commit()
        assert waiting.result(timeout=60) == [CreateTransferResult.EXISTS]


def test_the_same_account_created_twice_at_once(pg: Engine) -> None:
    with pg.connect() as first, ThreadPoolExecutor(1) as pool:
        open_first = first.begin()
        assert create_accounts(first, [Account(9, "KES")], 0) == [CreateAccountResult.OK]

        def again() -> list[CreateAccountResult]:
            with pg.begin() as conn:
                return create_accounts(conn, [Account(9, "KES"), Account(10, "USD")], 0)

        def other() -> list[CreateAccountResult]:
            with pg.begin() as conn:
                return create_accounts(conn, [Account(9, "USD")], 0)

        waiting = pool.submit(again)
        wait_until_blocked(pg)
        open_first.commit()
        assert waiting.result(timeout=60) == [CreateAccountResult.EXISTS, CreateAccountResult.OK]
        assert other() == [CreateAccountResult.EXISTS_WITH_DIFFERENT_FIELDS]
