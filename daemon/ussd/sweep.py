"""USSD sessions past the network's session time (ussd.session_timeout_s from their start): ended
`timed_out`, a settle step (daemon.money.settle.add_step) run with the other deadlines. Sessions
ended more than a day ago are deleted by another (their dialogue, and any money it ran, long
decided: the moves and the outbox keep what happened), so the table holds about a day of them.

The network has dropped such a dialogue, so a screen of it not sent yet is stopped (marked failed):
when it is a money action's last screen, the sweeper's hook then voids the move once and the
subscriber is told by SMS that nothing happened (daemon.money.settle). Each session is ended by a
guarded UPDATE (daemon.ussd.sessions): two daemons sweeping at once end it once.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

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
KEEP_ENDED_S = 24 * 3600


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


@add_step("ussd_pruned")
def prune_ended_sessions_txn(
    conn: Connection, env: SettleEnv, now_ns: int, limit: int
) -> tuple[int, bool]:
    """Delete up to `limit` sessions ended more than KEEP_ENDED_S ago: (deleted, full)."""
    cutoff_ns = now_ns - KEEP_ENDED_S * NS_PER_S
    query = (
        select(ussd_sessions.c.id)
        .where(ussd_sessions.c.ended_at_ns < cutoff_ns)
        .order_by(ussd_sessions.c.ended_at_ns)
        .limit(limit)
    )
    ids = list(conn.execute(query).scalars())
    if ids:
        conn.execute(delete(ussd_sessions).where(ussd_sessions.c.id.in_(ids)))
    return len(ids), len(ids) >= limit
