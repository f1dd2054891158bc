"""Virtual phones as the console shows them: named numbers, and each number's chat thread.

A thread holds what the phone sent (MOs, with whether an ESME acknowledged them) and what was
submitted to it (MTs: one item per message, a long one with its parts, each with its state as the
SMSC knows it: submitted, delivered, failed, expired, cancelled). Threads are kept for any number
that sends or receives, not only named ones (a scenario's phones show too), bounded: the
MAX_THREADS numbers seen last, MAX_ITEMS items each. Names live in memory only.

`notify(event)` is told of every change ({"type": "phone", "msisdn"} or {"type": "phones"}); the
simulator hands it the event stream (simulators.events).
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.interfaces import IReactorTime

from simulators.addresses import MAX_ADDRESS_LENGTH
from simulators.receipts import wants_receipt
from simulators.store import StoredMessage, message_text
from smscore.concat import ConcatError
from smscore.constants import RECEIPT_MASK, MessageState

MAX_THREADS = 1_000  # numbers whose threads are kept (a load run's thousands push old ones out)
MAX_ITEMS = 100  # items per thread: what a tester scrolls through, a bound on memory
MAX_PHONES = 200  # named phones
MAX_NAME_CHARS = 40
_OPEN_LONG_MESSAGES = 1_000  # long MTs still missing parts, tracked for grouping
Notify = Callable[[dict[str, Any]], None]

# What the console calls each SMSC state (smscore.constants.MessageState).
STATE_NAMES = {
    MessageState.ENROUTE: "submitted",
    MessageState.ACCEPTED: "submitted",
    MessageState.UNKNOWN: "submitted",
    MessageState.DELIVERED: "delivered",
    MessageState.EXPIRED: "expired",
    MessageState.DELETED: "cancelled",
    MessageState.UNDELIVERABLE: "failed",
    MessageState.REJECTED: "failed",
}
# A message's state from its parts' states: the first of these that any part has, else delivered.
_WORST_FIRST = ("failed", "expired", "cancelled", "submitted")


class PhoneError(ValueError):
    """A bad number or name; one line (the API answers 400 with it)."""


@dataclass(slots=True, weakref_slot=True)
class MtPart:
    message_id: str
    state: MessageState
    error_code: int = 0
    receipt: str = "none"  # none | requested | sent

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "state": STATE_NAMES[self.state],
            "stat": self.state.stat,
            "error_code": self.error_code,
            "receipt": self.receipt,
        }


@dataclass(slots=True, weakref_slot=True)
class MtItem:
    """A message submitted to the phone (all its parts once they came)."""

    id: int
    sender: str
    system_id: str
    total_parts: int
    submitted_at_s: float
    parts: dict[int, tuple[MtPart, str]] = field(default_factory=dict)  # sequence -> part, text
    done_at_s: float | None = None
    open_key: tuple[Any, ...] | None = None  # while parts are missing: where _open_long has it

    @property
    def state(self) -> str:
        states = {STATE_NAMES[part.state] for part, _ in self.parts.values()}
        if len(self.parts) < self.total_parts:
            states.add("submitted")
        return next((name for name in _WORST_FIRST if name in states), "delivered")

    def as_json(self) -> dict[str, Any]:
        ordered = [self.parts[number] for number in sorted(self.parts)]
        return {
            "kind": "mt",
            "id": self.id,
            "from": self.sender,
            "system_id": self.system_id,
            "text": "".join(text for _, text in ordered),
            "state": self.state,
            "total_parts": self.total_parts,
            "parts": [part.as_json() for part, _ in ordered],
            "submitted_at": self.submitted_at_s,
            "done_at": self.done_at_s,
        }


@dataclass(slots=True, weakref_slot=True)
class MoItem:
    """What the phone sent: `copies` of one text (a script may inject many at once)."""

    id: int
    to: str
    text: str
    copies: int
    sent_at_s: float
    state: str = "sent"  # sent | acknowledged | failed (an ESME acknowledged every part, or not)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "mo",
            "id": self.id,
            "to": self.to,
            "text": self.text,
            "copies": self.copies,
            "state": self.state,
            "error": self.error,
            "sent_at": self.sent_at_s,
        }


class PhoneBook:
    def __init__(self, reactor: IReactorTime, notify: Notify = lambda event: None) -> None:
        self.reactor = reactor
        self.notify = notify
        self._names: dict[str, str] = {}
        self._threads: OrderedDict[str, deque[MtItem | MoItem]] = OrderedDict()
        self._parts: weakref.WeakValueDictionary[str, MtPart] = weakref.WeakValueDictionary()
        self._items_of_part: weakref.WeakValueDictionary[str, MtItem] = (
            weakref.WeakValueDictionary()
        )
        self._open_long: OrderedDict[tuple[Any, ...], MtItem] = OrderedDict()
        self._ids = itertools.count(1)

    # --- the named phones ---

    def add(self, msisdn: str, name: str = "") -> dict[str, str]:
        if not msisdn or len(msisdn) > MAX_ADDRESS_LENGTH or not msisdn.isprintable():
            raise PhoneError(f'"msisdn" must be 1..{MAX_ADDRESS_LENGTH} printable characters')
        if len(name) > MAX_NAME_CHARS or not name.isprintable():
            raise PhoneError(f'"name" must be at most {MAX_NAME_CHARS} printable characters')
        if msisdn not in self._names and len(self._names) >= MAX_PHONES:
            raise PhoneError(f"at most {MAX_PHONES} phones")
        self._names[msisdn] = name
        self.notify({"type": "phones"})
        return {"msisdn": msisdn, "name": name}

    def remove(self, msisdn: str) -> bool:
        removed = self._names.pop(msisdn, None) is not None
        if removed:
            self.notify({"type": "phones"})
        return removed

    def phones(self) -> list[dict[str, str]]:
        return [{"msisdn": msisdn, "name": name} for msisdn, name in self._names.items()]

    def thread(self, msisdn: str) -> dict[str, Any]:
        items = self._threads.get(msisdn, ())
        return {
            "msisdn": msisdn,
            "name": self._names.get(msisdn),
            "items": [item.as_json() for item in items],
        }

    # --- what the simulator tells it ---

    def mo_sent(self, source: str, destination: str, text: str, copies: int = 1) -> MoItem:
        item = MoItem(next(self._ids), destination, text, copies, self.reactor.seconds())
        self._append(source, item)
        return item

    def mo_done(self, source: str, item: MoItem, error: str | None = None) -> None:
        item.state, item.error = ("failed", error) if error else ("acknowledged", None)
        self.notify({"type": "phone", "msisdn": source})

    def mt_accepted(self, message: StoredMessage) -> None:
        try:
            info, body = message.body()
        except ConcatError:
            info, body = None, message.short_message
        part = MtPart(message.message_id, message.state)
        if message.registered_delivery & RECEIPT_MASK:
            part.receipt = "requested"
        text = message_text(body, message.data_coding)
        key = (message.system_id, message.source_addr, message.destination_addr)
        sequence = 1 if info is None else info.sequence
        item = None if info is None else self._open_long.get((*key, info.reference))
        if item is None or sequence in item.parts:
            total = 1 if info is None else info.total
            item = MtItem(next(self._ids), message.source_addr, message.system_id, total,
                          message.submitted_at_s)  # fmt: skip
            self._append(message.destination_addr, item)
            if info is not None and total > 1:
                self._remember_open((*key, info.reference), item)
        item.parts[sequence] = (part, text)
        if len(item.parts) >= item.total_parts and item.open_key is not None:
            self._open_long.pop(item.open_key, None)
            item.open_key = None
        self._parts[message.message_id] = part
        self._items_of_part[message.message_id] = item
        self.notify({"type": "phone", "msisdn": message.destination_addr})

    def mt_changed(self, message: StoredMessage) -> None:
        """The message reached a new state (final or not); its receipt is sent if one was asked."""
        part = self._parts.get(message.message_id)
        if part is None:
            return
        part.state, part.error_code = message.state, message.error_code
        if message.state.is_final and wants_receipt(message.registered_delivery, message.state):
            part.receipt = "sent"
        item = self._items_of_part.get(message.message_id)
        if item is not None and message.state.is_final:
            item.done_at_s = message.done_at_s
        self.notify({"type": "phone", "msisdn": message.destination_addr})

    # --- inside ---

    def _append(self, msisdn: str, item: MtItem | MoItem) -> None:
        thread = self._threads.get(msisdn)
        if thread is None:
            thread = self._threads[msisdn] = deque(maxlen=MAX_ITEMS)
            while len(self._threads) > MAX_THREADS:
                self._threads.popitem(last=False)
        else:
            self._threads.move_to_end(msisdn)
        thread.append(item)
        self.notify({"type": "phone", "msisdn": msisdn})

    def _remember_open(self, key: tuple[Any, ...], item: MtItem) -> None:
        self._open_long[key] = item
        item.open_key = key
        while len(self._open_long) > _OPEN_LONG_MESSAGES:
            _, dropped = self._open_long.popitem(last=False)
            dropped.open_key = None
