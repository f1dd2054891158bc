"""smscore_postings_total{kind, result}: every posting of a money move counted once its
transaction committed, from the move observer (so from every path that posts or voids); a
transaction rolled back, or a TranProc row whose work was undone, counts nothing."""

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, insert

from daemon import committed
from daemon.chart import (
    SystemAccount,
    TransferCode,
    deposit_txn,
    ensure_chart_txn,
    open_wallet_txn,
    wallet_account_id,
)
from daemon.commands import Role
from daemon.log_lines import mo_lines_txn
from daemon.migrate import upgrade_all
from daemon.money.moves import (
    Leg,
    MoveKind,
    MoveRequest,
    MoveState,
    open_move_txn,
    post_move_txn,
    release_move_txn,
)
from daemon.schema import inbox
from ledger import make_engine
from tests.daemon.metrics_world import build_daemon, scrape, value

NOW = 1_790_000_000 * 10**9
ALICE, BOB = "254712000001", "254712000002"
POSTINGS = "smscore_postings_total"
INBOX_ROW = {
    "received_at_ns": NOW, "bind_name": "sim", "source_addr": ALICE, "destination_addr": "12345",
    "data_coding": 0, "payload": b"SEND", "text": "SEND", "status": "new", "attempts": 0,
}  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
        ensure_chart_txn(conn, "KES", NOW)
        for msisdn in (ALICE, BOB):
            open_wallet_txn(conn, msisdn, Role.CUSTOMER, "KES", NOW)
        deposit_txn(
            conn, wallet_account_id(ALICE), 100_000, "KES", NOW, transfer_id=7, user_data="test"
        )
    yield engine
    engine.dispose()


@pytest.fixture
def daemon(tmp_path, engine):
    before = set(committed._users)  # other daemons of this test process may be listening too
    daemon = build_daemon(tmp_path, engine)
    [component] = [c for c in daemon.components if c.name == "metrics.postings"]
    component.start()
    assert set(committed._users) > before
    yield daemon
    component.stop()
    assert set(committed._users) == before  # this counter no longer listens


def send(kind=MoveKind.SEND, inbox_id=None) -> MoveRequest:
    alice, bob = wallet_account_id(ALICE), wallet_account_id(BOB)
    legs = [
        Leg(alice, bob, 1_000, TransferCode.P2P),
        Leg(alice, int(SystemAccount.FEE_INCOME), 50, TransferCode.FEE),
    ]
    return MoveRequest(kind, ALICE, BOB, 1_000, legs, fee_minor=50, inbox_id=inbox_id)


def run(daemon, fn, *args):
    box: list = []
    daemon.db.run_interaction("test", fn, *args).addBoth(box.append)
    [result] = box
    return result


def counted(daemon, kind="send"):
    samples = scrape(daemon)
    results = ("reserved", "posted", "voided", "declined", "expired")
    return {r: value(samples, POSTINGS, kind=kind, result=r) for r in results}


def test_each_posting_is_counted_by_kind_and_result(daemon, engine):
    def open_txn(conn, state):
        return open_move_txn(conn, send(), currency="KES", now_ns=NOW, state=state)

    run(daemon, open_txn, MoveState.POSTED)
    reserved = [run(daemon, open_txn, MoveState.PENDING) for _ in range(4)]
    run(daemon, lambda conn: post_move_txn(conn, reserved[0], "KES", NOW))
    for move, end in zip(
        reserved[1:], [MoveState.VOIDED, MoveState.DECLINED, MoveState.EXPIRED], strict=True
    ):
        run(daemon, lambda conn, m=move, e=end: release_move_txn(conn, m, e, "KES", NOW))
    run(
        daemon,
        lambda conn: open_move_txn(conn, send(MoveKind.BILL), currency="KES", now_ns=NOW),
    )
    assert counted(daemon) == {"reserved": 4, "posted": 2, "voided": 1, "declined": 1, "expired": 1}
    assert counted(daemon, "bill")["posted"] == 1


def test_a_transaction_rolled_back_counts_nothing(daemon, engine):
    def failing_txn(conn):
        open_move_txn(conn, send(), currency="KES", now_ns=NOW)
        raise RuntimeError("the work fails after the posting")

    failure = run(daemon, failing_txn)
    assert failure.check(RuntimeError)
    assert counted(daemon)["posted"] == 0


def test_a_tranproc_row_undone_by_its_savepoint_counts_nothing(daemon, engine):
    """The TranProc's raw savepoint is invisible to SQLAlchemy: the failed row's MO line call
    drops the row's waiting counts too, with the log lines off."""

    def batch_txn(conn):
        for row_id in (5, 6):
            conn.execute(insert(inbox).values(id=row_id, **INBOX_ROW, dedupe_key=f"k{row_id}"))
        open_move_txn(conn, send(inbox_id=5), currency="KES", now_ns=NOW)
        open_move_txn(conn, send(inbox_id=6), currency="KES", now_ns=NOW)
        rows = [
            SimpleNamespace(id=n, bind_name="smsc1", source_addr=ALICE, destination_addr="1")
            for n in (5, 6)
        ]
        outcomes = [
            SimpleNamespace(row_id=5, status="failed", command="SEND", error=None),
            SimpleNamespace(row_id=6, status="done", command="SEND", error=None),
        ]
        mo_lines_txn(conn, rows, outcomes)

    assert run(daemon, batch_txn) is None
    assert counted(daemon)["posted"] == 1


def test_a_stopped_counter_counts_nothing_more(daemon, engine):
    [component] = [c for c in daemon.components if c.name == "metrics.postings"]
    component.stop()
    run(daemon, lambda conn: open_move_txn(conn, send(), currency="KES", now_ns=NOW))
    assert counted(daemon)["posted"] == 0
    component.start()  # for the fixture's stop
