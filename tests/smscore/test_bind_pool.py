"""BindPool add / remove / replace while it runs (a SIGHUP reload), with binds stopped by hand."""

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from smscore.client import BindPool


class HandBind:
    """What the pool uses of a PersistentBind; its stop() fires when the test says."""

    unanswered_mos = unanswered_submits = 0  # nothing in flight: a retirement unbinds at once

    def __init__(self, name: str) -> None:
        self.name = name
        self.reactor = Clock()
        self.starts = 0
        self.stopping: Deferred | None = None
        self.gate_closed = False

    def close_gate(self) -> None:
        self.gate_closed = True

    def start(self) -> None:
        self.starts += 1

    def stop(self) -> Deferred:
        self.stopping = Deferred()
        return self.stopping


def fired(deferred: Deferred) -> list:
    results: list = []
    deferred.addBoth(results.append)
    return results


def test_add_starts_a_bind_only_in_a_running_pool():
    first, second = HandBind("a"), HandBind("b")
    pool = BindPool([first])  # type: ignore[list-item]
    pool.add(second)  # type: ignore[arg-type]
    assert (first.starts, second.starts) == (0, 0)
    pool.start()
    third = HandBind("c")
    pool.add(third)  # type: ignore[arg-type]
    assert (first.starts, second.starts, third.starts) == (1, 1, 1)
    with pytest.raises(ValueError, match="already in the pool"):
        pool.add(HandBind("c"))  # type: ignore[arg-type]


def test_replace_starts_the_new_bind_once_the_old_one_has_unbound():
    old, new, other = HandBind("a"), HandBind("a"), HandBind("b")
    pool = BindPool([old, other])  # type: ignore[list-item]
    pool.start()
    replaced = fired(pool.replace(new))  # type: ignore[arg-type]
    settled = fired(pool.settled())
    assert "a" not in pool.binds and new.starts == 0 and replaced == settled == []
    with pytest.raises(ValueError):
        pool.add(HandBind("a"))  # type: ignore[arg-type]  # its predecessor is still leaving
    assert old.stopping is not None
    old.stopping.callback(None)
    assert pool.binds["a"] is new and new.starts == 1
    assert replaced == [None] and settled == [None]
    assert other.stopping is None and other.starts == 1  # untouched


def test_stop_waits_for_a_bind_still_leaving_and_nothing_comes_back():
    old, new = HandBind("a"), HandBind("a")
    pool = BindPool([old])  # type: ignore[list-item]
    pool.start()
    pool.replace(new)  # type: ignore[arg-type]
    stopped = fired(pool.stop())
    assert stopped == []
    assert old.stopping is not None
    old.stopping.callback(None)
    assert len(stopped) == 1 and "a" not in pool.binds and new.starts == 0


def test_remove_drops_the_bind_and_a_failed_stop_is_logged_not_raised():
    bind = HandBind("a")
    pool = BindPool([bind])  # type: ignore[list-item]
    pool.start()
    removed = fired(pool.remove("a"))
    assert bind.stopping is not None
    bind.stopping.errback(RuntimeError("unbind failed"))
    assert removed == [None] and pool.binds == {}
