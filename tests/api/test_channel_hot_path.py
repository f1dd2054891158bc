"""The move observer's cost when nobody has a channel (most subscribers): one indexed SELECT per
move change, and nothing else: no event written, no balance read, no key used."""

from __future__ import annotations

import pytest

from daemon.channels import observer
from daemon.money.moves import MoveState, get_move_txn
from daemon.outbox import OutboxStatus
from ledger import make_engine
from tests.api.channels import ALICE, BOB, KES, ChannelWorld


@pytest.fixture
def world(tmp_path, sqlite_migrated_url):
    engine = make_engine(sqlite_migrated_url)  # SQLite: its trace counts SQL
    world = ChannelWorld(engine, tmp_path)
    world.add(ALICE, balance_minor=1000 * KES)
    world.add(BOB)
    yield world
    world.close()
    engine.dispose()


def test_no_channel_costs_one_select_per_move_change(world, monkeypatch):
    seen = []
    real = observer.observe_move

    def counted(conn, move, previous, currency, now_ns):
        statements: list[str] = []
        driver = conn.connection.dbapi_connection
        driver.set_trace_callback(statements.append)
        try:
            real(conn, move, previous, currency, now_ns)
        finally:
            driver.set_trace_callback(None)
        seen.append((move.state, statements))

    def never(*_args, **_kwargs):
        raise AssertionError("nothing more is done for a move without channels")

    monkeypatch.setattr(observer, "posting_event", never)
    monkeypatch.setattr(observer, "write_event_txn", never)
    observer.unregister_observer()
    monkeypatch.setattr(observer, "observe_move", counted)
    observer.register_observer()
    try:
        world.sms(ALICE, "SEND 0712000002 100 1234")
        world.receipts(OutboxStatus.DELIVERED)
    finally:
        observer.unregister_observer()
    assert [state for state, _ in seen] == [MoveState.PENDING, MoveState.POSTED]
    for _, statements in seen:
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
        assert "channels" in statements[0]


def test_the_observer_is_not_called_for_a_held_move_or_a_release_from_held(world):
    calls = []

    def spy(conn, move, previous, currency, now_ns):
        calls.append(move.state)

    from daemon.money.moves import add_move_observer, release_move_txn, remove_move_observer
    from tests.api.test_channel_events import _held

    add_move_observer(spy)
    try:
        with world.engine.begin() as conn:
            move = _held(conn, world)
            release_move_txn(conn, get_move_txn(conn, move.id), MoveState.DECLINED, "KES", 1)
    finally:
        remove_move_observer(spy)
    assert calls == []
