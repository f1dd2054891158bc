"""USSD MOs in the LIS: a bind's dialect reads the dialogue fields into the inbox's USSD columns;
the same answer on two screens is two rows; a USSD PDU without its session is refused with the
codec's status; a bind without a dialect takes USSD as SMS (logged once)."""

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from daemon.config import InboxConfig
from daemon.lis import InboxWriter
from daemon.schema import inbox, mo_parts
from smscore.constants import EsmClass
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus as S
from smscore.ussd import Dialect, UssdMessage, UssdOp
from smscore.ussd_dialects import ussd_submit_params

END_OPS = {Dialect.UMR: UssdOp.PSSR_RESPONSE}


def writer_on(db):
    clock = Clock()
    return InboxWriter(clock, db, InboxConfig(group_commit_max_wait_ms=1)), clock


def ussd_mo(dialect, text=b"1", key="42", op=UssdOp.USSR_CONFIRM, end=False, **fields):
    params = ussd_submit_params(dialect, UssdMessage(op, key, end))
    params["tlvs"].update(fields.pop("tlvs", {}))
    return DeliverSm(
        source_addr="254712000001",
        destination_addr="334",
        short_message=text,
        **{**params, **fields},
    )


def deliver(writer, clock, bind, pdu, dialect):
    answers = []
    writer.handler_for(bind, "gsm7", dialect)(pdu).addCallback(answers.append)
    clock.advance(0.001)
    return answers


def rows(db, table=inbox):
    with db.engine.begin() as conn:
        return conn.execute(select(table).order_by(table.c.id)).all()


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_ussd_mo_is_stored_with_its_session_op_and_end(db, dialect):
    writer, clock = writer_on(db)
    dial = ussd_mo(dialect, b"*334#", key="7", op=UssdOp.PSSR_INDICATION)
    assert deliver(writer, clock, "ussd", dial, dialect) == [S.ESME_ROK]
    (row,) = rows(db)
    assert (row.text, row.ussd_session, row.ussd_op, row.ussd_end) == ("*334#", "7", 1, False)
    assert (row.bind_name, row.source_addr, row.status) == ("ussd", "254712000001", "new")


@pytest.mark.parametrize("dialect", [Dialect.SMPP34, Dialect.DIALOG])
def test_the_network_ending_the_dialogue_is_stored_as_the_end(db, dialect):
    writer, clock = writer_on(db)
    deliver(writer, clock, "ussd", ussd_mo(dialect, b"", end=True), dialect)
    assert rows(db)[0].ussd_end is True


def test_the_same_answer_on_two_screens_is_two_answers(db):
    writer, clock = writer_on(db)
    for _screen in range(2):
        deliver(writer, clock, "ussd", ussd_mo(Dialect.SMPP34, b"1"), Dialect.SMPP34)
    first, second = rows(db)
    assert (first.text, second.text) == ("1", "1")
    assert first.dedupe_key != second.dedupe_key


def test_an_sms_keeps_its_content_dedupe_key_on_a_ussd_bind(db):
    writer, clock = writer_on(db)
    for _ in range(2):
        sms = DeliverSm(source_addr="254712000001", destination_addr="334", short_message=b"BAL")
        deliver(writer, clock, "ussd", sms, Dialect.SMPP34)
    first, second = rows(db)
    assert first.dedupe_key == second.dedupe_key and first.ussd_session is None
    assert (first.ussd_op, first.ussd_end) == (None, None)


def test_a_ussd_mo_without_its_session_is_refused_and_not_stored(db):
    writer, clock = writer_on(db)
    pdu = DeliverSm(source_addr="254712000001", short_message=b"1", tlvs={"ussd_service_op": 18})
    with capturedLogs() as events:
        answers = deliver(writer, clock, "ussd", pdu, Dialect.SMPP34)
    assert answers == [S.ESME_RMISSINGOPTPARAM] and rows(db) == []
    assert writer.counters["refused_ussd"] == 1 and writer.counters["mo_received"] == 0
    assert any("its_session_info" in str(event.get("error")) for event in events)


def test_a_udh_is_not_looked_for_in_ussd(db):
    # A first part of a concatenated SMS would go to mo_parts and wait for its second part.
    writer, clock = writer_on(db)
    udh_like = b"\x05\x00\x03\x2a\x02\x011"
    pdu = ussd_mo(Dialect.SMPP34, udh_like, esm_class=EsmClass.UDHI)
    deliver(writer, clock, "ussd", pdu, Dialect.SMPP34)
    assert rows(db, mo_parts) == []
    assert rows(db)[0].payload == udh_like


def test_ussd_fields_on_a_bind_without_a_dialect_are_an_sms_logged_once(db):
    writer, clock = writer_on(db)
    with capturedLogs() as events:
        for _ in range(3):
            deliver(writer, clock, "sms", ussd_mo(Dialect.SMPP34, b"BAL"), None)
    stored = rows(db)
    assert [row.text for row in stored] == ["BAL"] * 3
    assert {row.ussd_session for row in stored} == {None}
    assert len({row.dedupe_key for row in stored}) == 1
    warned = [event for event in events if "no ussd_dialect" in event.get("log_format", "")]
    assert len(warned) == 1
