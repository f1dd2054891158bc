"""The deliver_sm handler of a bind (daemon.binds): a message longer than inbox.max_mo_bytes is
refused for good, unstored (found by the hostile SMSC: a flood of 60 KB message_payloads made the
LIS hold hundreds of megabytes waiting for their commits)."""

from sqlalchemy import func, select
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from daemon.binds import MO_TOO_LONG_STATUS, bind_handler
from daemon.config import BindConfig, InboxConfig
from daemon.drain import DRAINING_STATUS, MoGate
from daemon.lis import InboxWriter
from daemon.schema import inbox
from smscore.pdu import DataSm, DeliverSm
from smscore.status import CommandStatus as S

BIND = BindConfig(name="sim", host="127.0.0.1", port=2775, system_id="smscore", password="x")
LIMIT = 1000


def handler_and_writer(db, gate: MoGate | None = None):
    clock = Clock()
    writer = InboxWriter(clock, db, InboxConfig(max_mo_bytes=LIMIT, max_backlog=0))
    return bind_handler(writer, gate or MoGate(), BIND), writer, clock


def payload(size: int) -> DeliverSm:
    return DeliverSm(
        source_addr="254712000001", destination_addr="12345", tlvs={"message_payload": b"A" * size}
    )


def answer(result, clock: Clock) -> int:
    if isinstance(result, Deferred):
        box: list[int] = []
        result.addCallback(box.append)
        clock.advance(1)
        return box[0]
    return result


def stored(db) -> int:
    with db.engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(inbox)).scalar_one()


def test_a_message_longer_than_the_limit_is_refused_for_good_and_not_stored(db):
    handler, writer, clock = handler_and_writer(db)
    with capturedLogs() as events:
        assert answer(handler(payload(LIMIT + 1)), clock) == S.ESME_RINVMSGLEN
        assert answer(handler(payload(LIMIT + 500)), clock) == MO_TOO_LONG_STATUS
    assert stored(db) == 0 and writer.counters["refused_too_long"] == 2
    warnings = [e for e in events if "max_mo_bytes" in e["log_format"]]
    assert len(warnings) == 1 and warnings[0]["size"] == LIMIT + 1  # once per bind


def test_a_message_at_the_limit_is_stored(db):
    handler, writer, clock = handler_and_writer(db)
    assert answer(handler(payload(LIMIT)), clock) == S.ESME_ROK
    short = DeliverSm(source_addr="254712000002", destination_addr="12345", short_message=b"HI")
    assert answer(handler(short), clock) == S.ESME_ROK
    assert stored(db) == 2 and writer.counters["refused_too_long"] == 0


def test_short_message_and_payload_count_together_and_data_sm_too(db):
    handler, _, clock = handler_and_writer(db)
    both = DeliverSm(short_message=b"A" * 200, tlvs={"message_payload": b"B" * (LIMIT - 199)})
    assert answer(handler(both), clock) == S.ESME_RINVMSGLEN
    data_sm = DataSm(tlvs={"message_payload": b"C" * (LIMIT + 1)})
    assert answer(handler(data_sm), clock) == S.ESME_RINVMSGLEN


def test_a_drain_answers_first(db):
    gate = MoGate()
    gate.close()
    handler, writer, clock = handler_and_writer(db, gate)
    assert answer(handler(payload(LIMIT + 1)), clock) == DRAINING_STATUS
    assert writer.counters["refused_too_long"] == 0
