"""A long MO's parts keep no PIN in clear: assembled parts are emptied at once (test_lis), and the
parts of a message that never completes are emptied when it expires, its failed inbox row keeping
no text (no TranProc parses a failed row, so nothing would ever mask the PIN in it)."""

from sqlalchemy import select
from twisted.internet.task import Clock

from daemon.lis import expire_parts_txn
from daemon.schema import inbox, mo_parts
from tests.daemon.test_lis import NS, make_writer, udh_parts

PIN = "4826"


def test_an_expired_message_keeps_no_part_of_its_text(db):
    clock = Clock()
    writer, _ = make_writer(db, clock)
    parts = udh_parts(f"SEND 0712000002 500 {PIN} " + "x" * 200)
    writer.accept("sim", parts[0])  # the first part only: the PIN is in it
    clock.advance(1)
    with db.engine.begin() as conn:
        assert expire_parts_txn(conn, 400 * NS, 300 * NS, 120 * NS) == 1
        bodies = conn.execute(select(mo_parts.c.body)).scalars().all()
        stored = conn.execute(select(inbox.c.text, inbox.c.payload, inbox.c.status)).all()
    assert bodies and all(body == b"" for body in bodies)
    assert [row.status for row in stored] == ["failed"]
    assert all(
        PIN not in (row.text or "") and PIN.encode() not in (row.payload or b"") for row in stored
    )
