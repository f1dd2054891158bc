"""daemon.seal_guard: the start-up step (refuse, accept, seal) and the seal the daemon keeps
(SQLite and PostgreSQL), with the audit log's chain beside the ledger's."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from twisted.internet.task import Clock

from daemon.audit import list_txn, record_txn
from daemon.config import Config, build_config
from daemon.db import Database, InlineDatabase
from daemon.migrate import upgrade_all
from daemon.schema import audit_log
from daemon.seal_guard import (
    ACCEPT_ACTION,
    LedgerStateError,
    SealKeeper,
    guard_ledger,
    seal_path,
)
from ledger import make_engine
from ledger.schema import transfers
from ledger.seal_file import read_seal
from tests.ledger.test_seal import post, rewind

NOW_NS = 1_796_119_200 * 10**9  # 2026-12-01 10:00:00Z


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[tuple[Config, Engine]]:
    state = tmp_path / "state"
    state.mkdir()
    config = build_config({"service": {"state_dir": str(state)}, "database": {"url": db_url}})
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upgrade_all(conn)
        post(conn, 1, 20)
        record_txn(conn, "alice", "subscriber.add", "254700000001", "", NOW_NS)
    yield config, engine
    engine.dispose()


def guard(config: Config, engine: Engine, accept: bool = False, at_ns: int = NOW_NS):
    return guard_ledger(config, Database(None, engine), at_ns, accept)


def test_the_first_start_seals_and_the_next_compares(world) -> None:
    config, engine = world
    first = guard(config, engine)
    assert first.first_seal and first.found == []
    seal = read_seal(seal_path(config))
    assert seal == first.seal and seal.ledger.count == 20
    assert seal.marks["audit log"].count == 1
    with engine.begin() as conn:
        post(conn, 21, 2)  # the daemon ran on: a descendant
    again = guard(config, engine, at_ns=NOW_NS + 1)
    assert (again.first_seal, again.found, again.seal.ledger.count) == (False, [], 22)


def test_an_older_copy_is_refused_in_one_line_then_accepted_and_audited(world) -> None:
    config, engine = world
    guard(config, engine)
    with engine.begin() as conn:
        rewind(conn, 12)  # what a restored backup of an hour ago holds
    with pytest.raises(LedgerStateError) as refused:
        guard(config, engine)
    line = str(refused.value)
    assert line == (
        "ledger: 12 transfers, fewer than the 20 sealed at 2026-12-01 10:00:00Z: restored from an "
        f"older copy, or its last commits were lost (seal file {seal_path(config)}); start with "
        "--accept-ledger-state to run on it anyway"
    )
    assert read_seal(seal_path(config)).ledger.count == 20  # refused: the evidence is kept
    accepted = guard(config, engine, accept=True, at_ns=NOW_NS + 5)
    assert accepted.found == [line.split(" (seal file")[0]]
    with engine.connect() as conn:
        [entry, _added] = list_txn(conn)
    assert (entry.action, entry.target) == (ACCEPT_ACTION, "ledger")
    assert "fewer than the 20 sealed" in entry.detail
    resealed = read_seal(seal_path(config))
    assert resealed.ledger.count == 12 and resealed.marks["audit log"].count == 2
    assert guard(config, engine, at_ns=NOW_NS + 6).found == []  # accepted once, not every start


def test_a_damaged_tail_is_refused_and_stays_accepted_as_the_ledger_grows(world) -> None:
    config, engine = world
    guard(config, engine)
    with engine.begin() as conn:
        conn.execute(update(transfers).where(transfers.c.seq == 19).values(amount=1))
    with pytest.raises(LedgerStateError, match="ledger: hash chain breaks at transfer 19"):
        guard(config, engine)
    guard(config, engine, accept=True)
    with engine.begin() as conn:
        post(conn, 21, 3)
    assert guard(config, engine).found == []


def test_an_edited_audit_entry_and_a_damaged_seal_file_are_refused(world) -> None:
    config, engine = world
    guard(config, engine)
    with engine.begin() as conn:
        conn.execute(update(audit_log).values(actor="mallory"))
    with pytest.raises(LedgerStateError, match=r"^audit log: hash chain breaks at entry 1: "):
        guard(config, engine)
    path = seal_path(config)
    path.write_text('{"format": "smscore seal v1"}')
    with pytest.raises(LedgerStateError, match=f"^{re.escape(f'seal file {path}: damaged: ')}"):
        guard(config, engine)


def test_a_rewritten_database_is_refused(world) -> None:
    config, engine = world
    guard(config, engine)
    with engine.begin() as conn:
        rewind(conn, 15)
        post(conn, 500, 8)  # another history, longer than the sealed one
    with pytest.raises(LedgerStateError, match="does not descend from the seal of 2026-12-01"):
        guard(config, engine)


def test_the_keeper_seals_when_the_head_moved_and_at_stop(world) -> None:
    config, engine = world
    seal = guard(config, engine).seal
    clock = Clock()
    keeper = SealKeeper(clock, InlineDatabase(engine), seal_path(config), seal, interval_s=5.0)
    keeper.start()
    clock.advance(0)
    assert keeper.counters == {"runs": 1, "failures": 0, "seals": 0}  # nothing moved: no write
    with engine.begin() as conn:
        post(conn, 21, 4)
    clock.advance(4.9)
    assert read_seal(seal_path(config)).ledger.count == 20  # not yet: every 5 s
    clock.advance(0.1)
    assert read_seal(seal_path(config)).ledger.count == 24 and keeper.counters["seals"] == 1
    with engine.begin() as conn:
        post(conn, 25, 1)
    keeper.stop()
    assert read_seal(seal_path(config)).ledger.count == 25  # the clean stop seals
    clock.advance(60)
    assert keeper.counters["runs"] == 3  # stopped: no more runs


def test_an_interval_of_0_seals_only_at_stop(world) -> None:
    config, engine = world
    seal = guard(config, engine).seal
    clock = Clock()
    keeper = SealKeeper(clock, InlineDatabase(engine), seal_path(config), seal, interval_s=0)
    keeper.start()
    with engine.begin() as conn:
        post(conn, 21, 1)
    clock.advance(3600)
    assert keeper.counters["runs"] == 0
    keeper.stop()
    assert read_seal(seal_path(config)).ledger.count == 21


def test_the_first_start_makes_the_state_directory_like_the_pepper(world, tmp_path) -> None:
    config, engine = world
    state = tmp_path / "new" / "state"
    config = config.model_copy(
        update={"service": config.service.model_copy(update={"state_dir": state})}
    )
    assert guard(config, engine).first_seal
    assert read_seal(state / "ledger.seal").ledger.count == 20
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
