"""What a TranProc batch costs the database per SMS row (issue 19): statements it need not send."""

from contextlib import contextmanager

from daemon import tranproc
from tests.daemon.test_tranproc import ALICE, add_mo, env, register, run_batch  # noqa: F401


def test_an_sms_row_takes_one_savepoint_its_handler_s(engine, env, monkeypatch):  # noqa: F811
    taken = []
    real = tranproc._row_savepoint

    @contextmanager
    def counted(conn):
        taken.append(conn)
        with real(conn):
            yield

    monkeypatch.setattr(tranproc, "_row_savepoint", counted)
    register(engine)
    for _ in range(3):
        add_mo(engine, "BAL 1234", source=ALICE)
    result = run_batch(engine, env)
    assert (result.claimed, result.done) == (3, 3)
    # One each around the PIN check and the handler; none around the USSD turn an SMS has not.
    assert len(taken) == 3
