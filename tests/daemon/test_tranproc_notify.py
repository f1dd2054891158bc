"""The TranProc wakes on PostgreSQL's LISTEN/NOTIFY (daemon.pg_notify): the inbox transaction
notifies at its commit only, and a commit in another process wakes a TranProc here without its
poll (the poll is the slow fallback). Real PostgreSQL; bounded waits, no sleeps."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time

import psycopg
from sqlalchemy import Engine, select
from twisted.internet.task import Clock

from daemon.commands.builtin import default_registry
from daemon.config import build_config
from daemon.db import InlineDatabase
from daemon.lis import IncomingMo, write_batch_txn
from daemon.pg_notify import CHANNEL, FALLBACK_POLL_S, InboxListener, conninfo
from daemon.schema import inbox
from daemon.subscribers import PEPPER_BYTES, PinHasher
from daemon.tranproc_service import TranProc

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
BOUND_S = 30.0  # a wake takes milliseconds; this only keeps a broken test from hanging
CONFIG = build_config({"tranproc": {"poll_interval_s": 0.2}})
MARKER = "smscore_test_marker"

# The other process: the LIS's inbox transaction, one MO, committed.
WRITER = """
import os
from daemon.lis import IncomingMo, write_batch_txn
from ledger import make_engine
engine = make_engine(os.environ["SMSCORE_TEST_DB"])
with engine.begin() as conn:
    mo = IncomingMo("bind", "254712000009", "12345", 0, b"HELP", None)
    assert write_batch_txn(conn, [mo], [], None, int(os.environ["SMSCORE_TEST_NOW"]), b"s" * 32)
engine.dispose()
"""


class ThreadedClock(Clock):
    """task.Clock, and callFromThread queued for the test's thread to run."""

    def __init__(self) -> None:
        super().__init__()
        self.from_threads: queue.Queue = queue.Queue()

    def callFromThread(self, f, *args, **kwargs) -> None:
        self.from_threads.put((f, args, kwargs))

    def run_next_from_thread(self) -> None:
        f, args, kwargs = self.from_threads.get(timeout=BOUND_S)
        f(*args, **kwargs)


def mo(text: bytes = b"HELP") -> IncomingMo:
    return IncomingMo("bind", "254712000009", "12345", 0, text, None)


def test_the_inbox_transaction_notifies_at_its_commit_only(pg_engine: Engine) -> None:
    with psycopg.connect(conninfo(pg_engine), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        listener.execute(f"LISTEN {MARKER}")
        with pg_engine.connect() as conn:
            rolled_back = conn.begin()
            assert write_batch_txn(conn, [mo()], [], None, NOW, b"s" * 32) == 1
            rolled_back.rollback()
            with conn.begin():
                conn.exec_driver_sql(f"NOTIFY {MARKER}")
            with conn.begin():
                assert write_batch_txn(conn, [mo(b"BAL")], [], None, NOW, b"s" * 32) == 1
        # Delivered in commit order: nothing came of the rolled-back write, before the marker.
        got = [n.channel for n in listener.notifies(timeout=BOUND_S, stop_after=2)]
    assert got == [MARKER, CHANNEL]


def test_a_commit_in_another_process_wakes_the_tranproc_without_the_poll(pg_engine) -> None:
    reactor = ThreadedClock()
    hasher = PinHasher(b"p" * PEPPER_BYTES)
    db = InlineDatabase(pg_engine)
    tranproc = TranProc(reactor, db, default_registry(), CONFIG, hasher, listen=True)
    assert tranproc.poll_interval_s == FALLBACK_POLL_S  # the poll only as the slow fallback
    tranproc.start()
    reactor.advance(0)  # the first batch: nothing yet
    reactor.run_next_from_thread()  # the listener listens now (and woke once, for rows before)
    reactor.advance(0)
    assert tranproc.stats.batches == 2 and tranproc.stats.done == 0
    env = {**os.environ, "SMSCORE_TEST_DB": pg_engine.url.render_as_string(hide_password=False)}
    env["SMSCORE_TEST_NOW"] = str(NOW)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", WRITER], env=env, check=True, timeout=BOUND_S)
    reactor.run_next_from_thread()  # the notification's wake, on the reactor
    reactor.advance(0)
    woken_after_s = time.monotonic() - started
    with pg_engine.connect() as conn:
        statuses = conn.execute(select(inbox.c.status)).scalars().all()
    assert statuses == ["done"] and tranproc.stats.done == 1
    assert reactor.seconds() == 0  # the clock never reached the poll: the NOTIFY woke it
    assert woken_after_s < BOUND_S
    stopped = tranproc.stop()
    reactor.run_next_from_thread()  # the listener's thread has closed its connection
    assert stopped.called and tranproc.listener.counters["notifications"] >= 1


def test_a_lost_listening_connection_comes_back_and_wakes_once_more(pg_engine) -> None:
    """Rows committed while nobody listened are picked up: every (re)connection wakes once."""
    reactor = ThreadedClock()
    woken: list[int] = []
    listener = InboxListener(
        reactor, conninfo(pg_engine), lambda: woken.append(1), wait_s=0.05, reconnect_s=0.01
    )
    listener.start()
    reactor.run_next_from_thread()  # connected: the first wake
    with pg_engine.connect() as conn:  # the server drops it (a restart, a network cut)
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
        )
    reactor.run_next_from_thread()  # connected again: the wake for what it may have missed
    stopped = listener.stop()
    while not stopped.called:
        reactor.run_next_from_thread()
    assert len(woken) >= 2
    assert listener.counters["connects"] >= 2 and listener.counters["errors"] >= 1
