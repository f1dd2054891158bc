"""Work done once a transaction has committed, never for one that did not: the message log lines
(daemon.log_lines) and the postings counter (daemon.metrics.postings) are built inside the
transaction and wait here until its COMMIT returned.

SQLAlchemy's `commit` event fires before the driver's COMMIT, which can still fail, so it only
marks the waiting calls as committing; `daemon.db.transaction` runs them once the COMMIT returned
(every `run_interaction` goes through it). A rollback, a COMMIT that raised, or a savepoint rolled
back (the calls made inside it only) drops them. A savepoint SQLAlchemy does not see (the
TranProc's raw per-message one) is dropped by correlation id with `forget_txn`.

The calls wait on the checkout's `Connection` object (a weak map), never in `conn.info`: that dict
belongs to the pooled DBAPI connection and outlives the checkout, so a transaction ended by an
invalidation or the pool's reset (no rollback event) would hand them to the next, unrelated
commit on that connection. A Connection nobody commits through `transaction` takes them along.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

from daemon import db

Call = Callable[[], None]


@dataclass(slots=True)
class _Pending:
    calls: list[tuple[str, Call]] = field(default_factory=list)  # (correlation id, call)
    savepoints: list[int] = field(default_factory=list)  # where each open one's calls start
    committing: list[Call] = field(default_factory=list)  # COMMIT sent, not yet returned


# Connection (one checkout) -> its calls; weak: a Connection dropped uncommitted takes them along.
_PENDING: weakref.WeakKeyDictionary[Connection, _Pending] = weakref.WeakKeyDictionary()
_users: set[str] = set()


def activate(user: str) -> None:
    """Start keeping calls for `user` (log_lines, metrics): watch every engine's transactions."""
    if not _users:
        for name, listener in _LISTENERS:
            event.listen(Engine, name, listener)
        db.add_commit_hook(run_committed)
    _users.add(user)


def deactivate(user: str) -> None:
    """Undo `activate` for `user`; the listeners go with the last one (they are process-wide)."""
    if user not in _users:
        return
    _users.discard(user)
    if not _users:
        for name, listener in _LISTENERS:
            event.remove(Engine, name, listener)
        db.remove_commit_hook(run_committed)
        _PENDING.clear()


def is_active() -> bool:
    return bool(_users)


def after_commit(conn: Connection, correlation_id: str, call: Call) -> None:
    """Run `call` once the transaction `conn` is in has committed (never if it rolls back)."""
    if _users:
        _pending(conn).calls.append((correlation_id, call))


def forget_txn(conn: Connection, correlation_ids: set[str]) -> None:
    """Drop the calls waiting for the commit about these ids: work undone by a savepoint that
    SQLAlchemy does not see (the TranProc's raw per-message savepoint)."""
    pending = _PENDING.get(conn)
    if pending is not None and correlation_ids:
        pending.calls = [item for item in pending.calls if item[0] not in correlation_ids]


def run_committed(conn: Connection) -> None:
    """Run the calls of `conn`'s committed transactions (the commit hook of daemon.db)."""
    pending = _PENDING.pop(conn, None)
    for call in pending.committing if pending is not None else ():
        call()


def _pending(conn: Connection) -> _Pending:
    found = _PENDING.get(conn)
    if found is None:
        found = _PENDING[conn] = _Pending()
    return found


def _on_commit(conn: Connection) -> None:
    # Before the driver's COMMIT: the calls now wait for it to return (run_committed).
    pending = _PENDING.get(conn)
    if pending is not None:
        pending.committing.extend(call for _correlation, call in pending.calls)
        pending.calls.clear()
        pending.savepoints.clear()


def _on_rollback(conn: Connection) -> None:
    _PENDING.pop(conn, None)  # also what a COMMIT that raised had marked as committing


def _on_savepoint(conn: Connection, _name: str | None) -> None:
    # SQLAlchemy names the savepoint after this event; savepoints nest, so a stack is enough.
    pending = _pending(conn)
    pending.savepoints.append(len(pending.calls))


def _on_rollback_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    pending = _PENDING.get(conn)
    if pending is not None and pending.savepoints:
        del pending.calls[pending.savepoints.pop() :]


def _on_release_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    pending = _PENDING.get(conn)
    if pending is not None and pending.savepoints:
        pending.savepoints.pop()


_LISTENERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("commit", _on_commit),
    ("rollback", _on_rollback),
    ("savepoint", _on_savepoint),
    ("rollback_savepoint", _on_rollback_savepoint),
    ("release_savepoint", _on_release_savepoint),
)
