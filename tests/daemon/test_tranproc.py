"""TranProc: batches of inbox rows → replies and ledger postings in one transaction, exactly once."""

import threading
import uuid

import pytest
from sqlalchemy import func, insert, select, text
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from daemon.chart import deposit_txn, ensure_chart_txn, new_transfer_id
from daemon.commands import EVERYONE, PIN_MASK, Reply
from daemon.commands.builtin import default_registry
from daemon.config import build_config
from daemon.db import InlineDatabase, run_in_transaction
from daemon.schema import inbox, outbox
from daemon.subscribers import PEPPER_BYTES, PinHasher, create_subscriber_txn, get_subscriber_txn
from daemon.tranproc import TranProcEnv, process_batch_txn
from daemon.tranproc_service import TranProc
from ledger import get_transfers

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
SHORT_CODE = "12345"
ALICE = "254712000001"
BOB = "254712000002"
HASHER = PinHasher(b"p" * PEPPER_BYTES)
CONFIG = build_config({"tranproc": {"batch_size": 200, "poll_interval_s": 0.2}})


class Boom(Exception):
    pass


def registry_with_test_commands(hold: threading.Event | None = None):
    """The built-ins plus BOOM (writes, notifies, then raises) and HOLD (waits for an event)."""
    registry = default_registry()
    help_text = {"en": "test", "sw": "jaribio"}

    @registry.command("BOOM", roles=EVERYONE, help=help_text)
    def boom(ctx, args):
        if ctx.subscriber is not None:
            deposit_txn(
                ctx.conn, ctx.subscriber.account_id, 100, "KES", ctx.now_ns,
                transfer_id=4242, user_data="test",
            )  # fmt: skip
        ctx.notify(BOB, "you should never see this")
        raise Boom("handler exploded")

    @registry.command("BADSQL", roles=EVERYONE, help=help_text)
    def bad_sql(ctx, args):
        ctx.conn.execute(text("SELECT * FROM no_such_table"))  # aborts the transaction on PG
        return Reply("unreachable")

    @registry.command("HOLD", roles=EVERYONE, help=help_text)
    def hold_(ctx, args):
        assert hold is not None and hold.wait(30)
        return Reply("held")

    return registry


@pytest.fixture
def env():
    return TranProcEnv.build(registry_with_test_commands(), CONFIG, HASHER)


def register(engine, msisdn=ALICE, pin="1234", deposit=123450, language="en"):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        created = create_subscriber_txn(
            conn, msisdn, pin=pin, hasher=HASHER, currency="KES", now_ns=NOW, language=language
        )
        if deposit:
            deposit_txn(
                conn, created.account_id, deposit, "KES", NOW,
                transfer_id=new_transfer_id(), user_data="test",
            )  # fmt: skip


def add_mo(engine, body, source=ALICE, bind="smsc1"):
    with engine.begin() as conn:
        return conn.execute(
            insert(inbox).values(
                received_at_ns=NOW, bind_name=bind, source_addr=source,
                destination_addr=SHORT_CODE, data_coding=0, payload=body.encode(), text=body,
                dedupe_key=uuid.uuid4().hex, status="new", attempts=0,
            )
        ).inserted_primary_key[0]  # fmt: skip


def run_batch(engine, env, now=NOW, batch_size=200):
    with engine.begin() as conn:
        return process_batch_txn(conn, env, now, batch_size)


def inbox_row(engine, row_id):
    with engine.begin() as conn:
        return conn.execute(select(inbox).where(inbox.c.id == row_id)).one()


def replies_to(engine, row_id):
    with engine.begin() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.inbox_id == row_id).order_by(outbox.c.id))
        return rows.all()


def only_reply(engine, row_id):
    [reply] = replies_to(engine, row_id)
    return reply


def converse(engine, env, body, source=ALICE, now=NOW):
    row_id = add_mo(engine, body, source)
    run_batch(engine, env, now)
    return only_reply(engine, row_id).text


# --- the commands end to end through one batch


def test_bal_replies_with_the_available_balance_and_masks_the_pin(engine, env):
    register(engine)
    row_id = add_mo(engine, "bal  1234", source="+254712000001", bind="smsc7")
    result = run_batch(engine, env)
    assert (result.claimed, result.done, result.failed, result.rejected) == (1, 1, 0, 0)
    reply = only_reply(engine, row_id)
    assert reply.text == "Your smscore balance is KES 1,234.50."
    assert (reply.destination_addr, reply.source_addr, reply.bind_name) == (
        ALICE,
        SHORT_CODE,
        "smsc7",
    )
    assert reply.status == "queued"
    row = inbox_row(engine, row_id)
    assert (row.status, row.command, row.error) == ("done", "BAL", None)
    assert row.text == f"bal {PIN_MASK}"
    assert row.payload == f"bal {PIN_MASK}".encode()  # the masked text, in the row's coding
    assert row.processed_at_ns == NOW


def test_ping_answers_pong_to_anyone(engine, env):
    row_id = add_mo(engine, "ping", source="0722000009")
    run_batch(engine, env)
    reply = only_reply(engine, row_id)
    assert (reply.text, reply.destination_addr) == ("PONG", "254722000009")
    row = inbox_row(engine, row_id)
    assert (row.text, row.payload) == ("ping", b"ping")  # nothing secret: stored as received


def test_help_lists_what_the_sender_may_use(engine, env):
    register(engine)
    assert "BAL" in converse(engine, env, "HELP")
    stranger = converse(engine, env, "help", source="254799000000")
    assert stranger.startswith("smscore: HELP, PING")
    assert "BAL" not in stranger
    assert converse(engine, env, "help bal").startswith("BAL PIN - Check your balance")


def test_unregistered_sender_is_told_how_to_register(engine, env):
    row_id = add_mo(engine, "BAL 1234", source="254799000000")
    result = run_batch(engine, env)
    assert result.rejected == 1
    assert only_reply(engine, row_id).text.startswith("You are not registered for smscore.")
    row = inbox_row(engine, row_id)
    assert (row.status, row.error, row.text) == ("done", "not_registered", f"BAL {PIN_MASK}")


def test_unparseable_text_gets_a_helpful_reply(engine, env):
    register(engine)
    assert converse(engine, env, "hello there") == (
        'Sorry, we did not understand "hello". Send HELP for the list of commands.'
    )
    assert converse(engine, env, "BAL") == "PIN is missing. Use: BAL PIN"


def test_replies_follow_the_subscriber_language(engine, env):
    register(engine, language="sw")
    assert converse(engine, env, "SALIO 1234") == "Salio lako la smscore ni KES 1,234.50."


def test_alphanumeric_sender_is_answered_as_received(engine, env):
    row_id = add_mo(engine, "PING", source="BANK")
    run_batch(engine, env)
    assert only_reply(engine, row_id).destination_addr == "BANK"


# --- PINs


def test_wrong_pins_lock_and_the_lock_expires(engine, env):
    register(engine)
    assert (
        converse(engine, env, "BAL 0000")
        == "Wrong PIN. 2 attempt(s) left before your PIN is locked."
    )
    assert converse(engine, env, "BAL 0000").startswith("Wrong PIN. 1 attempt(s)")
    locked = converse(engine, env, "BAL 0000", now=NOW + 1)
    assert locked.endswith("Your PIN is locked; try again in 15 minutes.")
    assert converse(engine, env, "BAL 1234", now=NOW + 60 * NS).endswith("try again in 15 minutes.")
    assert converse(engine, env, "BAL 1234", now=NOW + 901 * NS).startswith("Your smscore balance")


def test_pin_failures_within_one_batch_are_counted_in_it(engine, env):
    register(engine)
    ids = [add_mo(engine, "BAL 9999") for _ in range(3)] + [add_mo(engine, "BAL 1234")]
    result = run_batch(engine, env)
    assert (result.rejected, result.done) == (4, 0)
    texts = [only_reply(engine, i).text for i in ids]
    assert texts[2].startswith("Wrong PIN entered too many times")
    assert texts[3].startswith("Wrong PIN entered too many times")  # locked: not even checked
    for row_id in ids:
        assert inbox_row(engine, row_id).text == f"BAL {PIN_MASK}"
    with engine.begin() as conn:
        assert get_subscriber_txn(conn, ALICE).locked_until_ns == NOW + 900 * NS


def test_pin_never_stored_even_when_the_message_does_not_parse(engine, env):
    register(engine)
    row_id = add_mo(engine, "BAL 1234 extra")
    run_batch(engine, env)
    row = inbox_row(engine, row_id)
    assert "1234" not in row.text
    assert row.payload == row.text.encode()
    assert "1234" not in only_reply(engine, row_id).text


# --- failures


def test_a_raising_handler_fails_its_row_only(engine, env):
    register(engine)
    before = add_mo(engine, "PING")
    boom = add_mo(engine, "BOOM")
    after = add_mo(engine, "BAL 1234")
    result = run_batch(engine, env)
    assert (result.done, result.failed) == (2, 1)
    row = inbox_row(engine, boom)
    assert (row.status, row.command, row.error) == ("failed", "BOOM", "Boom: handler exploded")
    assert only_reply(engine, boom).text == (
        "Sorry, we could not process your request. Please try again later."
    )
    with engine.begin() as conn:  # the handler's posting and notification were rolled back
        assert get_transfers(conn, [4242]) == {}
        assert conn.execute(select(outbox).where(outbox.c.destination_addr == BOB)).all() == []
    assert only_reply(engine, before).text == "PONG"
    assert only_reply(engine, after).text == "Your smscore balance is KES 1,234.50."
    assert inbox_row(engine, after).status == "done"


def test_a_failed_statement_in_a_handler_fails_its_row_only(engine, env):
    ids = [add_mo(engine, body) for body in ("PING", "BADSQL", "PING")]
    result = run_batch(engine, env)
    assert (result.done, result.failed) == (2, 1)
    statuses = [inbox_row(engine, row_id).status for row_id in ids]
    assert statuses == ["done", "failed", "done"]
    assert "no_such_table" in inbox_row(engine, ids[1]).error
    assert only_reply(engine, ids[2]).text == "PONG"


class Crash(Exception):
    pass


def test_a_batch_that_does_not_commit_leaves_no_trace_and_reruns_once(engine, env):
    register(engine)
    ids = [add_mo(engine, body) for body in ("PING", "BAL 1234", "BAL 0000", "nonsense", "BOOM")]
    with pytest.raises(Crash), engine.begin() as conn:
        assert process_batch_txn(conn, env, NOW, 200).claimed == 5
        raise Crash  # e.g. the process died before COMMIT
    with engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0
        statuses = conn.execute(select(inbox.c.status, inbox.c.text).order_by(inbox.c.id)).all()
        assert get_subscriber_txn(conn, ALICE).pin_failures == 0
    assert [s for s, _ in statuses] == ["new"] * 5
    assert statuses[1].text == "BAL 1234"  # the masking is part of the batch too
    assert run_batch(engine, env).claimed == 5
    assert run_batch(engine, env).claimed == 0
    for row_id in ids:
        assert len(replies_to(engine, row_id)) == 1
    with engine.begin() as conn:
        assert get_subscriber_txn(conn, ALICE).pin_failures == 1


# --- several TranProcs


def test_two_tranprocs_in_parallel_handle_each_row_once(engine):
    senders = [f"2547120000{n:02d}" for n in range(5)]
    for sender in senders:
        register(engine, msisdn=sender)
    bodies = ["PING", "BAL 1234", "HELP", "what?", "help bal"]
    ids = [add_mo(engine, bodies[i % 5], source=senders[i % 5]) for i in range(300)]
    env = TranProcEnv.build(default_registry(), CONFIG, HASHER)
    start = threading.Barrier(2)
    claimed: dict[str, int] = {}
    errors: list[BaseException] = []

    def tranproc(name):
        try:
            start.wait(10)
            total = 0
            while True:
                # As the service does it: one batch per transaction, transient errors retried.
                result = run_in_transaction(engine, 5, "tranproc", process_batch_txn, env, NOW, 7)
                total += result.claimed
                if result.claimed == 0:
                    break
            claimed[name] = total
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tranproc, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert claimed["a"] + claimed["b"] == len(ids)
    with engine.begin() as conn:
        per_row = dict(
            conn.execute(select(outbox.c.inbox_id, func.count()).group_by(outbox.c.inbox_id)).all()
        )
        statuses = set(conn.execute(select(inbox.c.status)).scalars())
    assert per_row == {row_id: 1 for row_id in ids}
    assert statuses == {"done"}


def test_skip_locked_lets_a_second_tranproc_pass_rows_another_holds(pg_engine):
    release = threading.Event()
    env = TranProcEnv.build(registry_with_test_commands(release), CONFIG, HASHER)
    held = [add_mo(pg_engine, "HOLD", source=f"25472200000{n}") for n in range(2)]
    rest = [add_mo(pg_engine, "PING", source=f"25473300000{n}") for n in range(5)]
    first: list = []
    holder = threading.Thread(target=lambda: first.append(run_batch(pg_engine, env, batch_size=2)))
    holder.start()
    try:
        with pg_engine.begin() as conn:
            _wait_until_locked(conn, held[0])
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))  # without SKIP LOCKED: an error
            second = process_batch_txn(conn, env, NOW, 100)
    finally:
        release.set()
        holder.join(30)
    assert (first[0].claimed, second.claimed) == (2, 5)
    for row_id in held:
        assert only_reply(pg_engine, row_id).text == "held"
    for row_id in rest:
        assert only_reply(pg_engine, row_id).text == "PONG"


def _wait_until_locked(conn, row_id):
    # The holder is inside its HOLD handler once a NOWAIT lock on its first row fails.
    for _ in range(3000):
        with conn.begin_nested() as savepoint:
            try:
                conn.execute(
                    select(inbox.c.id).where(inbox.c.id == row_id).with_for_update(nowait=True)
                )
            except Exception:
                savepoint.rollback()
                return
            savepoint.rollback()
        threading.Event().wait(0.01)
    raise AssertionError("the first TranProc never claimed its rows")


# --- the TranProc service: wakes, polling, full batches


class ControlledDatabase(InlineDatabase):
    """run_interaction returns a Deferred that fires only when the test calls finish()."""

    def __init__(self, engine):
        super().__init__(engine)
        self.pending: list[tuple[Deferred, object, tuple]] = []

    def run_interaction(self, desc, fn, *args):
        self.calls.append(desc)
        d = Deferred()
        self.pending.append((d, fn, args))
        return d

    def finish(self):
        d, fn, args = self.pending.pop(0)
        d.callback(run_in_transaction(self.engine, 0, "tranproc", fn, *args))


def make_tranproc(engine, db=None, **tranproc_config):
    clock = Clock()
    clock.advance(NOW / NS)
    config = build_config({"tranproc": {"poll_interval_s": 0.2, **tranproc_config}})
    db = db or InlineDatabase(engine)
    batches = []
    service = TranProc(clock, db, default_registry(), config, HASHER, on_batch=batches.append)
    return service, clock, db, batches


def test_service_polls_and_processes(engine):
    service, clock, db, batches = make_tranproc(engine)
    service.start()
    clock.advance(0)
    assert len(db.calls) == 1
    row_id = add_mo(engine, "PING")
    clock.advance(0.19)
    assert len(db.calls) == 1
    clock.advance(0.02)  # the poll interval is 0.2 s
    assert len(db.calls) == 2
    assert only_reply(engine, row_id).text == "PONG"
    assert service.stats.done == 1
    assert batches[-1].claimed == 1
    created_at_ns = only_reply(engine, row_id).created_at_ns  # the clock's time at the batch
    assert abs(created_at_ns - (NOW + 210 * NS // 1000)) < NS // 1000


def test_wakes_coalesce_into_one_batch(engine):
    service, clock, db, _ = make_tranproc(engine)
    service.start()
    clock.advance(0)
    ids = [add_mo(engine, "PING") for _ in range(3)]
    for _ in ids:
        service.wake()
    clock.advance(0)
    assert len(db.calls) == 2
    assert all(inbox_row(engine, row_id).status == "done" for row_id in ids)


def test_a_full_batch_runs_again_at_once(engine):
    for _ in range(5):
        add_mo(engine, "PING")
    service, clock, _db, batches = make_tranproc(engine, batch_size=2)
    service.start()
    for _ in range(3):
        clock.advance(0)
    assert [b.claimed for b in batches] == [2, 2, 1]
    clock.advance(0.1)
    assert len(batches) == 3  # not full: back to polling


def test_wake_during_a_batch_runs_one_more_batch_after_it(engine):
    db = ControlledDatabase(engine)
    service, clock, _, _batches = make_tranproc(engine, db=db)
    service.start()
    clock.advance(0)
    assert len(db.calls) == 1
    row_id = add_mo(engine, "PING")
    service.wake()
    service.wake()
    clock.advance(0)
    assert len(db.calls) == 1  # one batch at a time
    db.finish()
    clock.advance(0)
    assert len(db.calls) == 2
    db.finish()
    assert only_reply(engine, row_id).text == "PONG"


def test_stop_waits_for_the_batch_under_way_and_ends_polling(engine):
    db = ControlledDatabase(engine)
    service, clock, _, _ = make_tranproc(engine, db=db)
    service.start()
    clock.advance(0)
    stopped = []
    service.stop().addCallback(stopped.append)
    assert stopped == []
    db.finish()
    assert stopped == [None]
    clock.advance(10)
    assert len(db.calls) == 1
    service.wake()
    clock.advance(10)
    assert len(db.calls) == 1


class CrashAfterProcessing(InlineDatabase):
    """The first transaction dies after processing, before COMMIT; later ones work."""

    crashes = 1

    def run_interaction(self, desc, fn, *args):
        def crashing(conn, *fn_args):
            result = fn(conn, *fn_args)
            if self.crashes:
                self.crashes -= 1
                raise Crash("lost the database after processing")
            return result

        return super().run_interaction(desc, crashing, *args)


def test_a_failed_batch_is_retried_and_processes_each_row_once(engine):
    ids = [add_mo(engine, "PING") for _ in range(3)]
    service, clock, _db, batches = make_tranproc(engine, db=CrashAfterProcessing(engine))
    service.start()
    clock.advance(0)
    assert service.stats.errors == 1
    assert "lost the database" in service.stats.last_error
    assert all(replies_to(engine, row_id) == [] for row_id in ids)
    clock.advance(0.2)
    assert [b.claimed for b in batches] == [3]
    assert all(len(replies_to(engine, row_id)) == 1 for row_id in ids)
