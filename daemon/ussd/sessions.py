"""The durable USSD session (`ussd_sessions`, d0008): one row per dialogue, so a restart or a second
TranProc continues it from the database.

A session opens on a PSSR indication (the subscriber dialled the code), is found again by (bind,
MSISDN, network session key) for each answer, keeps the menu version it started on, the screen, the
page and the inputs typed so far (never a PIN), and ends once: `ended` (its last screen queued),
`aborted` (the user or the network released it) or `timed_out` (the network's session time ran out).

Every change of a session is a guarded UPDATE (the state it was read in, in the WHERE): of two
TranProcs handling MOs of the same session, the second to write finds nothing to change and says so
(`SessionMoved`), rather than both moving the session on. On PostgreSQL the row is also locked
when read, so the second one waits and then sees the first one's write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from daemon.outbox import OutboxStatus
from daemon.schema import outbox
from daemon.schema_ussd import ussd_sessions

# A screen of a session not sent yet: a money action's final screen here can still be stopped. One
# in flight is not: its submit_sm_resp may already be on its way, so the SMSC's answer decides it
# (OK: delivered, the move posts; an error, as for a dialogue already released: failed, voided).
UNSENT = OutboxStatus.QUEUED


class SessionStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"  # its last screen is queued: the engine is done with it
    ABORTED = "aborted"  # the user or the network released the dialogue
    TIMED_OUT = "timed_out"  # session_timeout_s passed since it began


class SessionMoved(Exception):
    """The session changed under us (another TranProc handled an MO of it first)."""


@dataclass(frozen=True, slots=True)
class Where:
    """Where a dialogue runs: the bind it came on, the subscriber, and the network's session key."""

    bind_name: str
    msisdn: str
    session_key: str


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    where: Where
    service_code: str
    menu_version: str
    language: str
    screen: str
    page: int
    inputs: dict[str, str]
    steps: int
    status: SessionStatus
    started_at_ns: int
    last_at_ns: int
    last_outbox_id: int | None
    back: tuple[str, ...] = ()  # the screens that led here (engine.SessionState.back)
    ended_at_ns: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Session:
        where = Where(row.bind_name, row.msisdn, row.session_key)
        return cls(
            row.id, where, row.service_code, row.menu_version, row.language, row.screen,
            row.page, json.loads(row.inputs), row.steps, SessionStatus(row.state),
            row.started_at_ns, row.last_at_ns, row.last_outbox_id, tuple(json.loads(row.back)),
            row.ended_at_ns,
        )  # fmt: skip


def _locked(conn: Connection, query: Any) -> Any:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


def latest_session_txn(conn: Connection, where: Where) -> Session | None:
    """The newest session of this dialogue, in any state (locked on PostgreSQL)."""
    query = (
        select(ussd_sessions)
        .where(
            ussd_sessions.c.bind_name == where.bind_name,
            ussd_sessions.c.msisdn == where.msisdn,
            ussd_sessions.c.session_key == where.session_key,
        )
        .order_by(ussd_sessions.c.id.desc())
        .limit(1)
    )
    row = conn.execute(_locked(conn, query)).first()
    return None if row is None else Session.from_row(row)


def open_session_txn(
    conn: Connection,
    where: Where,
    service_code: str,
    menu_version: str,
    language: str,
    now_ns: int,
) -> Session:
    values = {
        "bind_name": where.bind_name, "msisdn": where.msisdn, "session_key": where.session_key,
        "service_code": service_code[:32], "menu_version": menu_version, "language": language,
        "screen": "", "page": 0, "inputs": "{}", "back": "[]", "steps": 0,
        "state": SessionStatus.OPEN,
        "started_at_ns": now_ns, "last_at_ns": now_ns,
    }  # fmt: skip
    session_id = conn.execute(insert(ussd_sessions).values(values)).inserted_primary_key[0]
    return Session(
        session_id, where, values["service_code"], menu_version, language, "", 0, {}, 0,
        SessionStatus.OPEN, now_ns, now_ns, None,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """What one MO did to an open session: where it is now."""

    screen: str
    page: int
    inputs: dict[str, str]
    answered: bool  # an answer (counted in steps), not the first screen or a re-sent one
    back: tuple[str, ...] = ()


def save_step_txn(conn: Connection, session: Session, step: Step, now_ns: int) -> None:
    """The session on its next screen, still open."""
    _guarded(
        conn, session, SessionStatus.OPEN,
        screen=step.screen, page=step.page, inputs=json.dumps(step.inputs, sort_keys=True),
        back=json.dumps(list(step.back)),
        steps=session.steps + step.answered, last_at_ns=now_ns,
    )  # fmt: skip


def end_session_txn(
    conn: Connection,
    session: Session,
    status: SessionStatus,
    reason: str,
    now_ns: int,
    was: SessionStatus = SessionStatus.OPEN,
    answered: bool = False,
) -> None:
    """End the session (from `was`), by an answer or not. Its inputs go: nothing of a finished
    dialogue is kept."""
    values: dict[str, Any] = {"last_at_ns": now_ns, "steps": session.steps + 1} if answered else {}
    _guarded(
        conn, session, was,
        state=status, end_reason=reason[:32], ended_at_ns=now_ns, inputs="{}", back="[]", **values,
    )  # fmt: skip


def _guarded(conn: Connection, session: Session, was: SessionStatus, **values: Any) -> None:
    found = conn.execute(
        update(ussd_sessions)
        .where(
            ussd_sessions.c.id == session.id,
            ussd_sessions.c.state == was,
            ussd_sessions.c.steps == session.steps,
        )
        .values(**values)
    )
    if found.rowcount != 1:
        raise SessionMoved(f"ussd session {session.id} is no longer {was} at step {session.steps}")


def set_last_screen_txn(conn: Connection, session: Session, outbox_id: int) -> None:
    """The outbox row of the screen just queued for the session (after the guarded change that
    made this MO the one to answer it)."""
    conn.execute(
        update(ussd_sessions)
        .where(ussd_sessions.c.id == session.id)
        .values(last_outbox_id=outbox_id)
    )


def resent_screen_txn(conn: Connection, session: Session, outbox_id: int, now_ns: int) -> None:
    """The session's screen queued again (for a copy that found it never sent): its new row, and
    the time it was queued, from which a person's answer to it is counted."""
    conn.execute(
        update(ussd_sessions)
        .where(ussd_sessions.c.id == session.id)
        .values(last_outbox_id=outbox_id, last_at_ns=now_ns)
    )


def screen_text_txn(conn: Connection, outbox_id: int | None) -> str | None:
    """The text of a screen sent before (to send it again)."""
    if outbox_id is None:
        return None
    return conn.execute(select(outbox.c.text).where(outbox.c.id == outbox_id)).scalar()


def stop_unsent_screen_txn(
    conn: Connection, outbox_id: int | None, reason: str, now_ns: int
) -> bool:
    """Mark a screen still queued failed, so it never goes and its on_failure hook (a money
    action's void: daemon.money.settle) runs once in the next sweep. False if the sender had
    claimed it (in flight: the SMSC's answer decides) or it was already final."""
    if outbox_id is None:
        return False
    found = conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == UNSENT)
        .values(status=OutboxStatus.FAILED, final_at_ns=now_ns, last_error=reason[:200])
    )
    return found.rowcount == 1
