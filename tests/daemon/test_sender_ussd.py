"""USSD screens in the sender: one submit_sm in the row's session, in its bind's dialect, on that
bind only; delivered at once on ESME_ROK (no receipts), failed on an error status, waiting while
the bind is down until deliver_by passes; a text too long for one USSD string is never cut."""

import pytest
from sqlalchemy import select

from daemon.clock import NS_PER_S, now_ns
from daemon.config import BindConfig
from daemon.outbox import OutgoingSms, UssdScreen, queue_sms_txn
from daemon.schema import outbox, outbox_parts
from daemon.sweeper import SweepLimits, expire_overdue_txn
from smscore.codec import decode, encode
from smscore.status import CommandStatus as S
from smscore.text import decode_text
from smscore.ussd import Dialect, UssdMessage, UssdOp
from smscore.ussd_dialects import read_ussd
from tests.daemon.test_sender import FakePool, make_sender

MENU = "1 Balance\n2 Send money\n3 Pay bill\n4 Buy airtime"
LIMITS = SweepLimits(max_rows=100, in_flight_timeout_ns=60 * NS_PER_S, max_attempts=5,
                     receipt_timeout_ns=3600 * NS_PER_S)  # fmt: skip


def binds(dialect=Dialect.SMPP34):
    return {
        "ussd1": BindConfig(name="ussd1", host="127.0.0.1", system_id="u", ussd_dialect=dialect),
        "sms1": BindConfig(name="sms1", host="127.0.0.1", system_id="s"),
    }


def queue_screen(db, clock, text=MENU, bind="ussd1", screen=None, deliver_in_s=5, **fields):
    screen = screen or UssdScreen("42", UssdOp.USSR_REQUEST, False)
    sms = OutgoingSms(
        "254712000001",
        text,
        "334",
        bind_name=bind,
        ussd=screen,
        deliver_by_ns=now_ns(clock) + deliver_in_s * NS_PER_S,
        **fields,
    )
    db.run_sync("queue", queue_sms_txn, [sms], now_ns(clock))


def rows(db, table=outbox):
    with db.engine.begin() as conn:
        return conn.execute(select(table).order_by(table.c.id)).all()


def start(db, clock, pool, dialect=Dialect.SMPP34, **config):
    return make_sender(db, clock, pool, binds(dialect), **config)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_screen_goes_as_one_submit_in_its_session_then_is_delivered(db, clock, dialect):
    pool = FakePool("sms1", "ussd1")
    end = dialect is Dialect.UMR  # umr ends only with a PSSR response
    op = UssdOp.PSSR_RESPONSE if end else UssdOp.USSR_REQUEST
    queue_screen(db, clock, screen=UssdScreen("42", op, end))
    start(db, clock, pool, dialect)
    clock.advance(0)
    (sent,) = pool.sent
    assert sent.prefer == "ussd1"
    pdu = decode(encode(sent.pdu))
    assert read_ussd(dialect, pdu) == UssdMessage(op, "42", end)
    assert (pdu.registered_delivery, pdu.esm_class) == (0, 0)
    assert decode_text(pdu.short_message, pdu.data_coding) == MENU
    pool.accept(0, "m-1")
    clock.advance(0)
    (row,) = rows(db)
    assert (row.status, row.parts_total, row.final_at_ns) == ("delivered", 1, now_ns(clock))
    assert [(p.message_id, p.status) for p in rows(db, outbox_parts)] == [("m-1", "delivered")]


def test_a_long_screen_is_one_pdu_not_concatenated(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock, "x" * 182)
    start(db, clock, pool)
    clock.advance(0)
    (sent,) = pool.sent
    assert sent.pdu.short_message == b"x" * 182 and sent.pdu.tlvs.get("sar_msg_ref_num") is None


def test_a_screen_outside_gsm_goes_as_ucs2(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock, "Salio: 中文")
    start(db, clock, pool)
    clock.advance(0)
    assert pool.sent[0].pdu.data_coding == 8
    assert pool.sent[0].pdu.short_message == "Salio: 中文".encode("utf-16-be")


def test_a_text_longer_than_one_ussd_string_is_undeliverable_not_cut(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock, "x" * 183)
    start(db, clock, pool)
    clock.advance(0)
    assert pool.sent == []
    (row,) = rows(db)
    assert row.status == "undeliverable" and row.final_at_ns == now_ns(clock)
    assert "183 characters; at most 182" in row.last_error


def test_a_screen_for_a_bind_without_a_dialect_is_undeliverable(db, clock):
    pool = FakePool("sms1", "ussd1")
    queue_screen(db, clock, bind="sms1")
    start(db, clock, pool)
    clock.advance(0)
    assert pool.sent == []
    (row,) = rows(db)
    assert row.status == "undeliverable" and "'sms1', which has no ussd_dialect" in row.last_error


def test_a_session_key_the_dialect_cannot_carry_is_undeliverable(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock, screen=UssdScreen("300", UssdOp.USSR_REQUEST, False))
    start(db, clock, pool)
    clock.advance(0)
    assert pool.sent == [] and "above 255" in rows(db)[0].last_error


def test_an_error_status_fails_the_screen_for_good(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock, on_failure="money.settle", on_failure_ref=7)
    start(db, clock, pool)
    clock.advance(0)
    pool.refuse_with(0, S.ESME_RSUBMITFAIL)
    clock.advance(0)
    (row,) = rows(db)
    assert (row.status, row.last_error, row.final_at_ns) == (
        "failed", "ESME_RSUBMITFAIL", now_ns(clock)
    )  # fmt: skip
    clock.advance(60)
    assert len(pool.sent) == 1  # final: never sent again


def test_while_its_bind_is_down_the_screen_waits_and_never_takes_another_bind(db, clock):
    pool = FakePool("sms1")
    queue_screen(db, clock, deliver_in_s=5)
    start(db, clock, pool, retry_delay_s=1.0, poll_interval_s=0.5)
    clock.pump([0.5] * 4)
    assert pool.sent == []
    (row,) = rows(db)
    assert (row.status, row.attempts, row.last_error) == (
        "queued",
        0,
        "USSD bind 'ussd1' is not bound",
    )
    pool.up.append("ussd1")
    clock.pump([0.5] * 3)
    assert [sent.prefer for sent in pool.sent] == ["ussd1"]


def test_past_deliver_by_a_waiting_screen_fails(db, clock):
    pool = FakePool("sms1")
    queue_screen(db, clock, deliver_in_s=2)
    start(db, clock, pool, retry_delay_s=1.0, poll_interval_s=0.5)
    clock.pump([0.5] * 6)
    pool.up.append("ussd1")
    clock.pump([0.5] * 4)
    assert pool.sent == []  # too late: a screen after its dialogue timed out is useless
    expired = db.run_sync("sweep", expire_overdue_txn, now_ns(clock), LIMITS)
    assert expired == 1 and rows(db)[0].status == "undeliverable"


def test_a_throttled_screen_retries_within_deliver_by_only(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock, deliver_in_s=3)
    start(db, clock, pool, retry_delay_s=2.0, poll_interval_s=0.5)
    clock.advance(0)
    pool.refuse_with(0, S.ESME_RTHROTTLED)
    clock.advance(0)  # recorded: due again in 2 s, inside deliver_by (3 s)
    clock.pump([0.5] * 4)
    assert len(pool.sent) == 2 and rows(db)[0].attempts == 1
    pool.refuse_with(1, S.ESME_RTHROTTLED)
    clock.advance(0)  # due again at 4 s: past deliver_by
    clock.pump([0.5] * 8)
    assert len(pool.sent) == 2 and rows(db)[0].status == "queued"
    db.run_sync("sweep", expire_overdue_txn, now_ns(clock), LIMITS)
    assert rows(db)[0].status == "undeliverable"


def test_an_sms_beside_a_screen_still_goes_as_an_sms(db, clock):
    pool = FakePool("ussd1")
    queue_screen(db, clock)
    db.run_sync(
        "queue", queue_sms_txn, [OutgoingSms("254712000001", "Confirmed.", "334")], now_ns(clock)
    )
    start(db, clock, pool, request_receipts=True)
    clock.advance(0)
    screen, sms = (sent.pdu for sent in pool.sent)
    assert "ussd_service_op" in screen.tlvs and screen.registered_delivery == 0
    assert "ussd_service_op" not in sms.tlvs and sms.registered_delivery == 1
    pool.accept(0, "a")
    pool.accept(1, "b")
    clock.advance(0)
    assert [row.status for row in rows(db)] == ["delivered", "submitted"]
