"""LIS inbox writer: group commit, acknowledgement after commit, dedupe, concatenation, failures."""

import hashlib

from sqlalchemy import func, select
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from daemon.config import InboxConfig
from daemon.db import InlineDatabase, run_in_transaction
from daemon.lis import INCOMPLETE_REPLY, InboxWriter, expire_parts_txn
from daemon.schema import inbox, mo_parts, outbox
from smscore.concat import split_message
from smscore.constants import EsmClass
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus as S

NS = 1_000_000_000


def make_writer(db, clock, **config):
    committed = []
    writer = InboxWriter(
        clock,
        db,
        InboxConfig(**config),
        on_committed=lambda: committed.append(clock.seconds()),
    )
    return writer, committed


def mo(text=b"BAL 1234", source="254712000001", **fields):
    return DeliverSm(source_addr=source, destination_addr="12345", short_message=text, **fields)


def answers(deferreds):
    results = []
    for d in deferreds:
        d.addCallback(results.append)
    return results


def inbox_rows(db):
    with db.engine.begin() as conn:
        return conn.execute(select(inbox).order_by(inbox.c.id)).all()


def test_answer_waits_for_the_group_commit(db):
    clock = Clock()
    writer, committed = make_writer(db, clock, group_commit_max_wait_ms=5)
    results = answers([writer.accept("sim", mo()), writer.accept("sim", mo(source="254712000002"))])
    assert results == [] and inbox_rows(db) == []
    clock.advance(0.005)
    assert results == [S.ESME_ROK, S.ESME_ROK]
    assert [row.text for row in inbox_rows(db)] == ["BAL 1234", "BAL 1234"]
    assert db.calls == ["inbox.write_batch"] and committed == [0.005]


def test_full_batch_commits_at_once(db):
    clock = Clock()
    writer, _ = make_writer(db, clock, group_commit_max_batch=3, group_commit_max_wait_ms=1000)
    results = answers([writer.accept("sim", mo(source=f"2547120000{i:02d}")) for i in range(3)])
    assert results == [S.ESME_ROK] * 3 and len(inbox_rows(db)) == 3


def test_a_repeat_is_stored_with_the_same_key_so_the_tranproc_can_answer_it(db):
    # An SMSC's re-delivery and a person sending the same text again look the same here: both are
    # stored (and acknowledged), so neither can end in silence.
    clock = Clock()
    writer, _ = make_writer(db, clock, dedupe_window_s=120)
    first = answers([writer.accept("sim", mo())])
    clock.advance(1)
    again = answers([writer.accept("sim", mo()), writer.accept("sim", mo())])
    clock.advance(1)
    assert first == [S.ESME_ROK] and again == [S.ESME_ROK, S.ESME_ROK]
    rows = inbox_rows(db)
    assert len(rows) == 3 and len({row.dedupe_key for row in rows}) == 1
    assert {row.status for row in rows} == {"new"}


def test_same_text_from_another_bind_is_not_a_duplicate(db):
    clock = Clock()
    writer, _ = make_writer(db, clock)
    writer.accept("a", mo())
    writer.accept("b", mo())
    clock.advance(1)
    assert [row.bind_name for row in inbox_rows(db)] == ["a", "b"]


def udh_parts(text, reference=7):
    parts = split_message(text, "udh8", reference)
    return [
        mo(
            p.short_message,
            esm_class=EsmClass.UDHI if p.esm_class_udhi else 0,
            data_coding=p.data_coding,
        )
        for p in parts
    ]


LONG = "Habari! " * 40 + "€ {end}"


def test_concatenated_parts_in_any_order_become_one_row(db):
    clock = Clock()
    writer, _ = make_writer(db, clock)
    parts = udh_parts(LONG)
    assert len(parts) >= 3
    order = [parts[2], parts[0], parts[0], *parts[3:]]  # duplicate of part 1 on the way
    results = answers([writer.accept("sim", p) for p in order])
    clock.advance(1)
    assert results == [S.ESME_ROK] * len(order)
    assert inbox_rows(db) == []  # part 2 is still missing, but every part is acknowledged
    answers([writer.accept("sim", parts[1])])
    clock.advance(1)
    rows = inbox_rows(db)
    assert [row.text for row in rows] == [LONG]
    answers([writer.accept("sim", parts[1])])  # the SMSC re-sends a part after completion
    clock.advance(1)
    assert len(inbox_rows(db)) == 1


def test_sar_parts_are_reassembled(db):
    clock = Clock()
    writer, _ = make_writer(db, clock)
    for part in reversed(split_message(LONG, "sar", 300)):
        writer.accept("sim", mo(part.short_message, data_coding=part.data_coding, tlvs=part.tlvs))
    clock.advance(1)
    assert [row.text for row in inbox_rows(db)] == [LONG]


def test_failed_write_answers_temporary_error_so_the_smsc_retries(db):
    clock = Clock()

    class BrokenDatabase(InlineDatabase):
        def run_interaction(self, desc, fn, *args):
            return fail(RuntimeError("disk full"))

    writer, committed = make_writer(BrokenDatabase(db.engine), clock)
    results = answers([writer.accept("sim", mo()), writer.accept("sim", mo(source="2547"))])
    clock.advance(1)
    assert results == [S.ESME_RX_T_APPN, S.ESME_RX_T_APPN]
    assert inbox_rows(db) == [] and committed == []
    assert writer.counters["write_failures"] == 1


def test_incomplete_message_expires_into_a_failed_row_and_a_send_again_reply(db):
    clock = Clock()
    writer, _ = make_writer(db, clock)
    parts = udh_parts(LONG)
    writer.accept("sim", parts[0])
    clock.advance(1)
    with db.engine.begin() as conn:
        assert expire_parts_txn(conn, 100 * NS, 300 * NS, 120 * NS) == 0  # not yet
        assert expire_parts_txn(conn, 400 * NS, 300 * NS, 120 * NS) == 1
        assert expire_parts_txn(conn, 401 * NS, 300 * NS, 120 * NS) == 0  # only once
        replies = conn.execute(select(outbox.c.destination_addr, outbox.c.text)).all()
    rows = inbox_rows(db)
    assert [(row.status, row.error) for row in rows] == [
        ("failed", f"incomplete concatenated message: 1 of {len(parts)} parts")
    ]
    assert replies == [("254712000001", INCOMPLETE_REPLY)]


def test_assembled_parts_are_deleted_after_the_dedupe_window(db):
    clock = Clock()
    writer, _ = make_writer(db, clock)
    for part in udh_parts(LONG):
        writer.accept("sim", part)
    clock.advance(1)
    with db.engine.begin() as conn:
        expire_parts_txn(conn, 500 * NS, 300 * NS, 120 * NS)
        assert conn.execute(select(func.count()).select_from(mo_parts)).scalar() == 0
    assert len(inbox_rows(db)) == 1


def test_receipts_go_to_the_sink_in_the_same_commit(db):
    clock = Clock()
    seen = []
    writer = InboxWriter(
        clock,
        db,
        InboxConfig(),
        is_receipt=lambda pdu: bool(pdu.esm_class & EsmClass.TYPE_DELIVERY_RECEIPT),
        receipt_from_pdu=lambda pdu, bind: (bind, pdu.tlvs["receipted_message_id"]),
        receipt_sink=lambda conn, receipts, now_ns: seen.append((conn.in_transaction(), receipts)),
    )
    receipt = mo(b"id:1 stat:DELIVRD", esm_class=EsmClass.TYPE_DELIVERY_RECEIPT)
    receipt.tlvs["receipted_message_id"] = "1"
    results = answers([writer.accept("sim", receipt), writer.accept("sim", mo())])
    clock.advance(1)
    assert results == [S.ESME_ROK, S.ESME_ROK]
    assert seen == [(True, [("sim", "1")])]
    assert [row.text for row in inbox_rows(db)] == ["BAL 1234"]


def test_dedupe_key_is_keyed_so_the_pin_cannot_be_guessed_from_it(db):
    clock = Clock()
    writer = InboxWriter(clock, db, InboxConfig(), dedupe_secret=b"k" * 32)
    writer.accept("sim", mo(b"BAL 1234"))
    clock.advance(1)
    [row] = inbox_rows(db)
    guesses = set()
    for pin in range(10_000):
        plain = hashlib.sha256()
        for part in ("sim", "254712000001", "12345", "0"):
            plain.update(part.encode() + b"\x00")
        plain.update(f"BAL {pin:04d}".encode())
        guesses.add(plain.hexdigest())
    assert row.dedupe_key not in guesses
    other = InboxWriter(clock, db, InboxConfig(), dedupe_secret=b"z" * 32)
    other.accept("sim", mo(b"BAL 1234"))
    clock.advance(1)
    assert len({r.dedupe_key for r in inbox_rows(db)}) == 2  # the key depends on the secret


class HeldDatabase(InlineDatabase):
    """Runs each write for real, but only when the test releases it: a slow database."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        super().__init__(engine)
        self.held: list[tuple] = []

    def run_interaction(self, desc, fn, *args):  # type: ignore[no-untyped-def]
        answer = Deferred()
        self.held.append((desc, fn, args, answer))
        return answer

    def release(self) -> None:
        desc, fn, args, answer = self.held.pop(0)
        answer.callback(run_in_transaction(self.engine, 0, desc, fn, *args))


def test_a_full_queue_answers_throttled_and_loses_nothing_once_it_drains(db):
    clock, held = Clock(), HeldDatabase(db.engine)
    writer = InboxWriter(clock, held, InboxConfig(group_commit_max_wait_ms=1), max_waiting=3)
    sources = [f"2547120000{i:02d}" for i in range(6)]
    first = answers([writer.accept("sim", mo(source=sources[0]))])
    clock.advance(0.001)  # the first write is under way, the database is slow
    queued = answers([writer.accept("sim", mo(source=source)) for source in sources[1:4]])
    refused = answers([writer.accept("sim", mo(source=source)) for source in sources[4:]])
    assert refused == [S.ESME_RTHROTTLED] * 2  # at once, so the SMSC keeps them and retries
    assert writer.counters["refused_queue_full"] == 2 and writer.waiting_count == 3
    held.release()
    held.release()  # the queue drains
    assert first == [S.ESME_ROK] and queued == [S.ESME_ROK] * 3
    retried = answers([writer.accept("sim", mo(source=source)) for source in sources[4:]])
    clock.advance(0.001)
    held.release()
    assert retried == [S.ESME_ROK] * 2 and writer.counters["refused_queue_full"] == 2
    assert sorted(row.source_addr for row in inbox_rows(db)) == sources  # each exactly once


def test_receipts_count_against_the_same_bound(db):
    clock, held = Clock(), HeldDatabase(db.engine)
    writer = InboxWriter(
        clock,
        held,
        InboxConfig(),
        max_waiting=1,
        is_receipt=lambda pdu: True,
        receipt_from_pdu=lambda pdu, bind: pdu,
    )
    results = answers([writer.accept("sim", mo()), writer.accept("sim", mo())])
    assert results == [S.ESME_RTHROTTLED] and writer.counters["receipts_received"] == 1


def test_assembled_parts_keep_no_text(db):
    # A long "BAL 1234 ..." must not leave its PIN in mo_parts for the dedupe window.
    clock = Clock()
    writer, _ = make_writer(db, clock)
    text = "BAL 1234 " + "x" * 200
    answers([writer.accept("sim", part) for part in udh_parts(text)])
    clock.advance(1)
    assert [row.text for row in inbox_rows(db)] == [text]
    with db.engine.begin() as conn:
        bodies = conn.execute(select(mo_parts.c.body, mo_parts.c.inbox_id)).all()
    assert len(bodies) >= 2 and all(body == b"" and inbox_id == 0 for body, inbox_id in bodies)
