"""Queue depths and ages come from a snapshot taken on the database thread every few seconds (a scrape
runs no query), and the health routes: live while the reactor answers, ready only when the database
answers and a bind is up. On SQLite and PostgreSQL (the `engine` fixture of tests/daemon/conftest.py)."""

import json

from sqlalchemy import event, insert
from twisted.internet.defer import fail

from daemon.audit import SecurityEvent, record_security_event_txn
from daemon.clock import NS_PER_S
from daemon.db import InlineDatabase
from daemon.metrics.queues import SNAPSHOT_INTERVAL_S
from daemon.migrate import upgrade_all
from daemon.schema import inbox, outbox
from daemon.schema_security import fraud_holds
from ledger import make_engine
from tests.daemon.metrics_world import BIND, START_S, build_daemon, get, join_smsc, scrape, value

DEPTH, AGE = "smscore_queue_depth", "smscore_queue_oldest_age_seconds"


class DeadDatabase(InlineDatabase):
    def run_interaction(self, desc, fn, *args):
        self.calls.append(desc)
        return fail(ConnectionError("server closed the connection unexpectedly\nmore detail"))


def snapshot_component(daemon):
    [component] = [c for c in daemon.components if c.name == "metrics.queues"]
    return component


def _inbox_row(received_at_ns: int, status: str = "new") -> dict:
    return {
        "received_at_ns": received_at_ns, "bind_name": "sim", "source_addr": "254712000001",
        "destination_addr": "12345", "data_coding": 0, "payload": b"BAL", "text": "BAL",
        "dedupe_key": f"k{received_at_ns}", "status": status, "attempts": 0,
    }  # fmt: skip


def _outbox_row(created_at_ns: int, status: str) -> dict:
    return {
        "created_at_ns": created_at_ns, "source_addr": "12345", "destination_addr": "254712000001",
        "text": "hi", "status": status, "next_attempt_at_ns": created_at_ns,
    }  # fmt: skip


def _hold(state: str) -> dict:
    return {"msisdn": "254712000001", "rule": "velocity", "state": state, "created_at_ns": 1}


def test_depths_and_ages_are_the_last_snapshot_aged_to_now(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    now_ns = int(START_S * NS_PER_S)
    with engine.begin() as conn:
        conn.execute(insert(inbox), [_inbox_row(now_ns - 30 * NS_PER_S), _inbox_row(now_ns)])
        conn.execute(insert(inbox), [_inbox_row(now_ns - 99 * NS_PER_S, status="done")])
        conn.execute(
            insert(outbox), [_outbox_row(now_ns - 7 * NS_PER_S, "queued"), _outbox_row(0, "failed")]
        )
        conn.execute(insert(fraud_holds), [_hold("held"), _hold("held"), _hold("rejected")])
    samples = scrape(daemon)
    assert (DEPTH, frozenset({("queue", "inbox"), ("state", "new")})) not in samples  # none yet
    snapshot_component(daemon).start()
    daemon.reactor.advance(0)  # the first snapshot at once
    samples = scrape(daemon)
    assert value(samples, DEPTH, queue="inbox", state="new") == 2
    assert value(samples, AGE, queue="inbox", state="new") == 30
    assert value(samples, DEPTH, queue="outbox", state="queued") == 1
    assert value(samples, AGE, queue="outbox", state="queued") == 7
    assert value(samples, DEPTH, queue="outbox", state="submitted") == 0
    assert value(samples, AGE, queue="outbox", state="submitted") == 0  # empty: no age
    assert value(samples, DEPTH, queue="moves", state="pending") == 0
    assert value(samples, DEPTH, queue="api_callbacks", state="pending") == 0
    assert value(samples, "smscore_fraud_holds_waiting") == 2  # the refused one is not
    daemon.reactor.advance(2)  # before the next snapshot: the same rows, two seconds older
    samples = scrape(daemon)
    assert value(samples, AGE, queue="inbox", state="new") == 32
    assert value(samples, "smscore_queue_snapshot_age_seconds") == 2
    with engine.begin() as conn:
        conn.execute(inbox.update().values(status="done"))
    daemon.reactor.advance(SNAPSHOT_INTERVAL_S)
    samples = scrape(daemon)
    assert value(samples, DEPTH, queue="inbox", state="new") == 0
    assert value(samples, "smscore_queue_snapshot_age_seconds") == 0
    snapshot_component(daemon).stop()


def audit(conn, *events):
    for name in events:
        record_security_event_txn(conn, "staff1", name, "254712000001", "", 1)


def test_fraud_decisions_are_counted_as_they_are_audited(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    with engine.begin() as conn:  # before this process: not its to count
        audit(conn, SecurityEvent.FRAUD_REJECT)
    snapshot_component(daemon).start()
    daemon.reactor.advance(0)
    decided = "smscore_fraud_hold_decisions_total"
    assert value(scrape(daemon), decided, decision="refused") == 0
    with engine.begin() as conn:
        audit(conn, SecurityEvent.FRAUD_RELEASE, SecurityEvent.SIM_SWAP, SecurityEvent.FRAUD_REJECT)
    daemon.reactor.advance(SNAPSHOT_INTERVAL_S)
    with engine.begin() as conn:
        audit(conn, SecurityEvent.FRAUD_REJECT)
    daemon.reactor.advance(SNAPSHOT_INTERVAL_S)
    daemon.reactor.advance(SNAPSHOT_INTERVAL_S)  # nothing new: nothing counted twice
    samples = scrape(daemon)
    assert value(samples, decided, decision="released") == 1
    assert value(samples, decided, decision="refused") == 2
    snapshot_component(daemon).stop()


def test_a_snapshot_scans_no_finished_row(tmp_path):
    """Every query of a snapshot searches an index or the primary key (SQLite's plan: PostgreSQL's
    planner scans a table this small whatever its indexes), never a whole table: the finished
    rows grow without end."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    daemon = build_daemon(tmp_path, engine)
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    snapshot_component(daemon).start()
    daemon.reactor.advance(0)  # the first takes the audit cursor; the second reads past it
    with engine.begin() as conn:
        audit(conn, SecurityEvent.FRAUD_RELEASE)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        daemon.reactor.advance(SNAPSHOT_INTERVAL_S)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    snapshot_component(daemon).stop()
    selects = [(sql, params) for sql, params in statements if sql.lstrip().startswith("SELECT")]
    assert any("audit_log" in sql for sql, _ in selects)
    with engine.connect() as conn:
        for sql, params in selects:
            plan = " / ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            steps = [step for step in plan.split(" / ") if "audit_head" not in step]  # one row
            assert not [step for step in steps if step.startswith("SCAN")], (sql, plan)


def test_a_scrape_runs_no_query(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    snapshot_component(daemon).start()
    daemon.reactor.advance(0)  # the first snapshot at once
    calls = list(daemon.db.calls)
    assert calls[-1] == "metrics.queues"  # the snapshot went through run_interaction
    for _ in range(3):
        scrape(daemon)
    assert daemon.db.calls == calls
    snapshot_component(daemon).stop()


def test_a_failed_snapshot_keeps_the_last_figures_and_is_counted(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    component = snapshot_component(daemon)
    component.start()
    daemon.reactor.advance(0)
    daemon.metrics.queue_snapshot.db = DeadDatabase(engine)
    daemon.reactor.advance(SNAPSHOT_INTERVAL_S)
    samples = scrape(daemon)
    assert value(samples, "smscore_queue_snapshot_failures_total") == 1
    assert value(samples, DEPTH, queue="inbox", state="new") == 0  # the last good figures
    assert value(samples, "smscore_queue_snapshot_age_seconds") == SNAPSHOT_INTERVAL_S
    assert component.status().last_error == "server closed the connection unexpectedly"
    component.stop()


def health(daemon, *path: bytes) -> tuple[int, dict]:
    code, content_type, body = get(daemon, *path)
    assert content_type == "application/json"
    return code, json.loads(body)


def test_ready_needs_a_bind_up_and_live_does_not(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    code, body = health(daemon, b"health", b"ready")
    assert (code, body["ok"], body["reason"]) == (503, False, "no bind is up")
    assert health(daemon, b"health") == (code, body)  # /health is ready, as it always was
    code, body = health(daemon, b"health", b"live")
    assert (code, body["ok"], body["role"]) == (200, True, "all")
    join_smsc(daemon)
    assert health(daemon, b"health", b"ready") == (
        200,
        {"ok": True, "binds": 1, "binds_up": 1},
    )
    assert health(daemon, b"health", b"")[0] == 200  # /health/
    assert get(daemon, b"health", b"nothing")[0] == 404


def two_binds_one_up(tmp_path, engine, rule=None):
    binds = [BIND, {**BIND, "name": "sim2", "port": 2776}]
    status = {} if rule is None else {"status": {"ready_binds": rule}}
    daemon = build_daemon(tmp_path, engine, binds=binds, **status)
    down = daemon.pool.binds["sim2"]
    join_smsc(daemon)  # binds "sim" to an in-memory SMSC (and keeps only it)
    daemon.pool.binds["sim2"] = down  # never started: down
    return daemon


def test_ready_needs_every_bind_up_by_default(tmp_path, engine):
    daemon = two_binds_one_up(tmp_path, engine)
    assert health(daemon, b"health", b"ready") == (
        503,
        {"ok": False, "binds": 2, "binds_up": 1, "reason": "1 of 2 binds down: sim2"},
    )


def test_ready_with_any_bind_up_when_so_configured(tmp_path, engine):
    daemon = two_binds_one_up(tmp_path, engine, rule="any")
    assert health(daemon, b"health", b"ready") == (200, {"ok": True, "binds": 2, "binds_up": 1})
    daemon.pool.binds["sim"].stop()
    code, body = health(daemon, b"health", b"ready")
    assert (code, body["reason"]) == (503, "no bind is up")


def test_ready_is_503_while_the_database_is_down_and_live_stays_200(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine)
    join_smsc(daemon)
    daemon.db = DeadDatabase(engine)
    code, body = health(daemon, b"health", b"ready")
    assert (code, body) == (
        503,
        {"ok": False, "reason": "database: server closed the connection unexpectedly"},
    )
    assert health(daemon, b"health", b"live")[0] == 200
    assert daemon.db.calls == ["health.ping"]  # live asked nothing of the database


def test_the_tranproc_role_is_ready_with_its_database_alone(tmp_path, engine):
    daemon = build_daemon(tmp_path, engine, role="tranproc")
    assert health(daemon, b"health", b"ready") == (200, {"ok": True, "binds": 0, "binds_up": 0})
    samples = scrape(daemon)
    assert not [name for name, _ in samples if name.startswith("smscore_bind_")]
