"""smscore_postings_total{kind, result}: every ledger posting of a money move, whichever part of
the daemon made it (the TranProc's commands, the settler's posts, the sweeper's voids, the API
worker), counted from the move observer (daemon.money.move_observers) once its transaction has
committed (daemon.committed): a batch rolled back and retried counts once.

kind is the move's kind (MoveKind: send, bill, disbursement, ...); result is what the posting did:
reserved (pending transfers: the money held, waiting for a confirmation or a delivery), posted,
voided (a confirmation not delivered), declined (the sender said NO), expired (not confirmed in
time). Both are bounded enums: a fixed number of series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter
from sqlalchemy import Connection
from twisted.internet.defer import Deferred, succeed

from daemon import committed
from daemon.correlation import for_move
from daemon.money.move_observers import add_move_observer, remove_move_observer
from daemon.money.moves import MoveState

if TYPE_CHECKING:
    from daemon.money.moves import Move

POSTING_RESULTS = {
    MoveState.CONFIRMING: "reserved",
    MoveState.PENDING: "reserved",
    MoveState.POSTED: "posted",
    MoveState.VOIDED: "voided",
    MoveState.DECLINED: "declined",
    MoveState.EXPIRED: "expired",
}


class PostingCounter:
    """Counts into `counter` (labels kind, result) while started: the move observer is
    process-wide, so it is added at start and removed at stop."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self._user = f"metrics.postings.{id(self)}"

    def start(self) -> None:
        committed.activate(self._user)
        add_move_observer(self.observe_move)

    def stop(self) -> Deferred:
        remove_move_observer(self.observe_move)
        committed.deactivate(self._user)
        return succeed(None)

    def observe_move(
        self, conn: Connection, move: Move, _previous: MoveState | None, _currency: str, _ns: int
    ) -> None:
        result = POSTING_RESULTS.get(move.state)
        if result is None:
            return  # HELD: nothing moved (the observer is not called for it anyway)
        child = self.counter.labels(move.kind.value, result)
        committed.after_commit(conn, for_move(move.ref, move.inbox_id), child.inc)
