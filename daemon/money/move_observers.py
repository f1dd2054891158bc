"""Observers of money moving (daemon.channels writes the parties' channel events), registered with
`daemon.money.moves.add_move_observer`: called in the move's transaction when a move reserves or
posts money (previous state None when it opened so), posts from a reservation, or is released from
a reservation. Never for HELD: nothing moved."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from daemon.money.moves import Move, MoveState

# observer(conn, move (in its new state), previous_state, currency, now_ns)
MoveObserver = Callable[[Connection, "Move", "MoveState | None", str, int], None]
OBSERVERS: list[MoveObserver] = []


def add_move_observer(observer: MoveObserver) -> None:
    if observer not in OBSERVERS:  # added once however often a process activates it
        OBSERVERS.append(observer)


def remove_move_observer(observer: MoveObserver) -> None:
    if observer in OBSERVERS:
        OBSERVERS.remove(observer)


def observe(
    conn: Connection, move: Move, previous: MoveState | None, currency: str, now_ns: int
) -> None:
    for observer in OBSERVERS:
        observer(conn, move, previous, currency, now_ns)
