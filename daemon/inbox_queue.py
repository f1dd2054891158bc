"""The deliver_sm waiting for their group commit (daemon.lis), kept per bind so that one SMSC that
floods the LIS (a broken or hostile one, or one replaying a day's backlog) cannot starve the others.

- Each bind's share of `max_waiting` is max_waiting // (binds seen since start): a flooding bind is
  refused (temporarily; its SMSC delivers again later) at its share, and the others still have room.
  With one bind, its share is the whole bound.
- A group commit takes the waiting items round-robin across the binds, so an MO from a quiet bind
  goes into the next commit instead of waiting behind thousands from a busy one (and past its
  SMSC's response timeout, which would make the SMSC deliver it again). Within a bind the order is
  kept (the parts of a long MO, the receipts of one message).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class WaitingQueue(Generic[T]):
    def __init__(self, max_waiting: int) -> None:
        if max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, not {max_waiting}")
        self.max_waiting = max_waiting
        self._by_bind: dict[str, deque[T]] = {}  # only binds with something waiting
        self._seen: set[str] = set()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        for items in self._by_bind.values():
            yield from items

    def share(self) -> int:
        """How many items one bind may have waiting."""
        return max(1, self.max_waiting // max(1, len(self._seen)))

    def full_for(self, bind_name: str) -> bool:
        """True: refuse this bind's deliver_sm for now (the bound, or the bind's share, is full)."""
        self._seen.add(bind_name)
        if self._count >= self.max_waiting:
            return True
        waiting = self._by_bind.get(bind_name)
        return waiting is not None and len(waiting) >= self.share()

    def append(self, bind_name: str, item: T) -> None:
        self._seen.add(bind_name)
        self._by_bind.setdefault(bind_name, deque()).append(item)
        self._count += 1

    def take(self, limit: int) -> list[T]:
        """Up to `limit` items, one from each bind in turn (each bind's oldest first)."""
        if self._count <= limit:  # the common case: everything, in one pass
            taken = [item for items in self._by_bind.values() for item in items]
            self._by_bind.clear()
            self._count = 0
            return taken
        taken: list[T] = []
        while len(taken) < limit:
            for bind_name in list(self._by_bind):
                items = self._by_bind[bind_name]
                taken.append(items.popleft())
                if not items:
                    del self._by_bind[bind_name]
                if len(taken) == limit:
                    break
        self._count -= len(taken)
        return taken
