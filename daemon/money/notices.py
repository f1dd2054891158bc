"""SMS about moves, in each party's own language: who gets told what when a move is posted or
released. Handlers use these at once for moves posted at once; the settler uses them later for moves
that waited for their confirmation's delivery receipt.

Each kind registers its notices (`on_posted`, `on_released`); a kind without one tells nobody."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from daemon import replies
from daemon.clock import NS_PER_S
from daemon.commands.money import format_money
from daemon.commands.msisdn import Numbering, display_msisdn
from daemon.config import Config
from daemon.money.moves import Move, MoveKind
from daemon.money.receipt_tags import tagged
from daemon.outbox import OutgoingSms
from daemon.subscribers import PinHasher, get_subscriber_txn
from ledger import get_balance


def display_number(config: Config, msisdn: str) -> str:
    """A subscriber's number as replies show it: as people of the region write it (0712 345678)."""
    return display_msisdn(msisdn, numbering(config.service.region))


@functools.lru_cache(maxsize=16)
def numbering(region: str) -> Numbering:
    return Numbering(region)


def local_time(at_ns: int, timezone: str) -> str:
    """`1/12/26 14:05`: the local time a confirmation shows, short as M-Pesa's."""
    moment = datetime.fromtimestamp(at_ns / NS_PER_S, ZoneInfo(timezone))
    return f"{moment.day}/{moment.month}/{moment:%y %H:%M}"


@dataclass(frozen=True, slots=True)
class Notifier:
    """Writes SMS from our short code to any party, in that party's language."""

    conn: Connection
    config: Config
    short_code: str
    now_ns: int
    inbox_id: int | None = None
    hasher: PinHasher | None = None  # for codes made when a notice is sent (voucher codes)

    def language_of(self, msisdn: str) -> str:
        found = get_subscriber_txn(self.conn, msisdn)
        return found.language if found is not None else self.config.service.default_language

    def text(self, msisdn: str, key: str, **fields: object) -> str:
        language = self.language_of(msisdn)
        return replies.render(language, key, service=self.config.service.name, **fields)

    def sms(self, msisdn: str, key: str, holds_code: bool = False, **fields: object) -> OutgoingSms:
        return OutgoingSms(
            destination_addr=msisdn,
            text=self.text(msisdn, key, **fields),
            source_addr=self.short_code,
            inbox_id=self.inbox_id,
            holds_code=holds_code,
        )

    def about(
        self, msisdn: str, key: str, move: Move, holds_code: bool = False, **fields: object
    ) -> OutgoingSms:
        """An SMS about `move`: its reference and amount, and `fields`; tagged as a receipt when
        the move is posted (daemon.money.receipt_tags)."""
        text = self.text(msisdn, key, ref=move.ref, amount=self.money(move.amount_minor), **fields)
        render = functools.partial(self.text, msisdn)
        text, receipt = tagged(text, render, self.config, move, self.now_ns)
        return OutgoingSms(
            destination_addr=msisdn,
            text=text,
            source_addr=self.short_code,
            inbox_id=self.inbox_id,
            holds_code=holds_code,
            receipt=receipt,
        )

    def money(self, amount_minor: int) -> str:
        return format_money(amount_minor, self.config.service.currency)

    def display(self, msisdn: str) -> str:
        return display_number(self.config, msisdn)

    def when(self, at_ns: int | None = None) -> str:
        return local_time(self.now_ns if at_ns is None else at_ns, self.config.money.timezone)

    def date(self, at_ns: int) -> str:
        return local_time(at_ns, self.config.money.timezone).split(" ")[0]

    def balance(self, account_id: int) -> str:
        found = get_balance(self.conn, account_id)
        return self.money(found.available if found is not None else 0)


Notice = Callable[[Notifier, Move], list[OutgoingSms]]
_ON_POSTED: dict[MoveKind, Notice] = {}
_ON_RELEASED: dict[MoveKind, Notice] = {}


def on_posted(kind: MoveKind) -> Callable[[Notice], Notice]:
    """Decorator: the SMS to send when a move of `kind` that waited for delivery is posted."""
    return _register(_ON_POSTED, kind)


def on_released(kind: MoveKind) -> Callable[[Notice], Notice]:
    """Decorator: the SMS to send when a pending move of `kind` is voided (nothing happened)."""
    return _register(_ON_RELEASED, kind)


def _register(table: dict[MoveKind, Notice], kind: MoveKind) -> Callable[[Notice], Notice]:
    def add(notice: Notice) -> Notice:
        if kind in table:
            raise ValueError(f"a notice for {kind.value} is already registered")
        table[kind] = notice
        return notice

    return add


def posted_notices(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    notice = _ON_POSTED.get(move.kind)
    return notice(notifier, move) if notice is not None else []


def released_notices(notifier: Notifier, move: Move) -> list[OutgoingSms]:
    notice = _ON_RELEASED.get(move.kind)
    return notice(notifier, move) if notice is not None else []
