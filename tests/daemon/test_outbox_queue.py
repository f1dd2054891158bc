"""daemon.outbox.queue_sms_txn: the driver-level insert writes every column as the row says."""

from sqlalchemy import select

from daemon.outbox import OutboxStatus, OutgoingSms, UssdScreen, _row, queue_sms_txn
from daemon.schema import outbox

NOW = 1_700_000_000 * 10**9
SMS = OutgoingSms(
    "254712000001", "Your balance is KES 1.00", "12345", bind_name="sim", on_failure="void_move",
    on_failure_ref=77, deliver_by_ns=NOW + 5, holds_code=True,
)  # fmt: skip
SCREEN = OutgoingSms(
    "254712000002", "1. Send money", "*334#", ussd=UssdScreen("session-9", 2, end=False)
)


def test_queued_rows_hold_what_the_messages_say(engine):
    with engine.begin() as conn:
        queue_sms_txn(conn, [SMS, SCREEN], NOW)
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all()
    assert len(rows) == 2
    for row, sms in zip(rows, (SMS, SCREEN), strict=True):
        expected = _row(sms, NOW)
        assert {name: row[name] for name in expected} == expected
        assert row["status"] == OutboxStatus.QUEUED and row["claimed_at_ns"] is None
    assert (rows[1]["ussd_session"], rows[1]["ussd_op"], rows[1]["ussd_end"]) == (
        "session-9",
        2,
        False,
    )
    assert rows[0]["holds_code"] is True and rows[0]["ussd_op"] is None


def test_nothing_to_queue_writes_nothing(engine):
    with engine.begin() as conn:
        queue_sms_txn(conn, [], NOW)
        assert conn.execute(select(outbox)).all() == []
