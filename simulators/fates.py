"""When each accepted message meets its fate (delivered, expired, ...): one timer for all of them.

A reactor timer per message costs a DelayedCall and Python-level heap comparisons in the reactor;
here every pending fate sits in one heap of plain tuples (compared in C) and a single timer waits
for the earliest. Order is the same as one timer each: by due time, then by acceptance.
"""

import heapq
from collections.abc import Callable
from itertools import count

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from simulators.receipts import Outcome
from simulators.store import StoredMessage

Finish = Callable[[StoredMessage, Outcome], None]
log = Logger()


class FateSchedule:
    """`add(message, outcome)` calls `finish(message, outcome)` outcome.delay_s later, unless the
    message's `fate_pending` was cleared meanwhile (cancelled, evicted) or a later `add` of the
    same message replaced this fate (replace_sm with a new schedule)."""

    def __init__(self, reactor: IReactorTime, finish: Finish) -> None:
        self.reactor = reactor
        self.finish = finish
        self._heap: list[tuple[float, int, StoredMessage, Outcome]] = []  # (due_s, order, ...)
        self._order = count()
        self._timer: IDelayedCall | None = None
        self._timer_due_s = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, message: StoredMessage, outcome: Outcome) -> None:
        due_s = self.reactor.seconds() + outcome.delay_s
        message.fate_pending = True
        message.fate_order = order = next(self._order)
        heapq.heappush(self._heap, (due_s, order, message, outcome))
        if self._timer is None:
            self._wake_at(due_s, outcome.delay_s)
        elif due_s < self._timer_due_s:
            self._timer.cancel()
            self._wake_at(due_s, outcome.delay_s)

    def _wake_at(self, due_s: float, delay_s: float) -> None:
        self._timer_due_s = due_s
        self._timer = self.reactor.callLater(delay_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        heap = self._heap
        now_s = self.reactor.seconds()
        # The head is what the timer was set for: take it even if float rounding put `now_s` an ulp
        # short of its due time, so a timer never fires without progress.
        due_now = [heapq.heappop(heap)]
        while heap and heap[0][0] <= now_s:
            due_now.append(heapq.heappop(heap))
        if heap:
            self._wake_at(heap[0][0], max(0.0, heap[0][0] - now_s))
        finish = self.finish
        for _, order, message, outcome in due_now:
            if message.fate_pending and message.fate_order == order:
                message.fate_pending = False
                try:
                    finish(message, outcome)
                except Exception:  # one message's failure must not stall the others' fates
                    log.failure("fate of message {id} failed", id=message.message_id)
