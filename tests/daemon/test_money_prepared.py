"""daemon.money.prepared: a write compiled once returns its RETURNING rows, and a driver error comes
out as SQLAlchemy's (what the database runner's retry of transient errors looks for)."""

import pytest
from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from daemon.money.prepared import PreparedWrite
from daemon.schema import daily_usage

add = PreparedWrite(
    lambda _: (
        insert(daily_usage)
        .values(msisdn=bindparam("m"), day=bindparam("d"), value_minor=bindparam("v"), count=1)
        .returning(daily_usage.c.value_minor)
    )
)
set_value = PreparedWrite(
    lambda _: (
        update(daily_usage)
        .where(daily_usage.c.msisdn == bindparam("m"))
        .values(value_minor=bindparam("v"))
        .returning(daily_usage.c.msisdn)
    )
)


def test_a_write_returns_what_it_wrote_and_an_update_that_matches_nothing_returns_nothing(engine):
    with engine.begin() as conn:
        assert add.run(conn, {"m": "254712000001", "d": "2026-12-01", "v": 500}) == [(500,)]
        assert set_value.run(conn, {"m": "254712000001", "v": 700}) == [("254712000001",)]
        assert set_value.run(conn, {"m": "254712999999", "v": 700}) == []
        assert conn.exec_driver_sql("SELECT value_minor FROM daily_usage").all() == [(700,)]


def test_a_driver_error_is_raised_as_sqlalchemys(engine):
    with engine.begin() as conn:
        add.run(conn, {"m": "254712000001", "d": "2026-12-01", "v": 500})
        with pytest.raises(IntegrityError) as raised:  # the same (msisdn, day) again
            add.run(conn, {"m": "254712000001", "d": "2026-12-01", "v": 1})
    assert isinstance(raised.value, DBAPIError) and raised.value.orig is not None
