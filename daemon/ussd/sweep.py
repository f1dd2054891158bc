"""USSD sessions past the network's session time (ussd.session_timeout_s from their start): ended
`timed_out`, a settle step (daemon.money.settle.add_step) run with the other deadlines.

The network has dropped such a dialogue, so a screen of it not sent yet is stopped (marked failed):
when it is a money action's last screen, the sweeper's hook then voids the move once and the
subscriber is told by SMS that nothing happened (daemon.money.settle). Each session is ended by a
guarded UPDATE (daemon.ussd.sessions): two daemons sweeping at once end it once.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from daemon.clock import NS_PER_S
from daemon.money.settle import SettleEnv, add_step
from daemon.schema_ussd import ussd_sessions
from daemon.ussd.sessions import (
    Session,
    SessionMoved,
    SessionStatus,
    end_session_txn,
    stop_unsent_screen_txn,
)

REASON = "session_timeout"


@add_step("ussd_timed_out")
def time_out_sessions_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """End open sessions that began more than session_timeout_s ago: (ended, full)."""
    cutoff_ns = now_ns - int(env.config.ussd.session_timeout_s * NS_PER_S)
    query = (
        select(ussd_sessions)
        .where(
            ussd_sessions.c.state == SessionStatus.OPEN,
            ussd_sessions.c.started_at_ns < cutoff_ns,
        )
        .order_by(ussd_sessions.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    ended = 0
    for row in rows:
        session = Session.from_row(row)
        try:
            end_session_txn(conn, session, SessionStatus.TIMED_OUT, REASON, now_ns)
        except SessionMoved:
            continue  # an MO of it was handled first
        stop_unsent_screen_txn(conn, session.last_outbox_id, REASON, now_ns)
        ended += 1
    return ended, len(rows) >= limit
