"""Offline transfers through the World (tests/daemon/app_world.py): a reference device signs with
daemon.device.offline and delivers through the TranProc; what the server answered, decoded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from daemon.device.offline import delivery_text, outcome_of, queue_transfer
from daemon.device.state import DeviceState
from daemon.schema import moves, offline_transfers
from daemon.security.channel import Kind
from daemon.security.offline import SignedTransfer
from tests.daemon.app_world import send_frame_text
from tests.daemon.money_world import World

KES = 100
_REF = re.compile(r"\b([A-Z0-9]{10})\b")


@dataclass(frozen=True)
class Answer:
    text: str
    outcome: str
    counter: int

    @property
    def ref(self) -> str | None:
        found = _REF.search(self.text)
        return found[1] if found else None


def signed(world: World, device: DeviceState, payee: str, amount: int, valid_for_s: int = 3600,
           at_ns: int | None = None) -> SignedTransfer:  # fmt: skip
    at = world.now_ns if at_ns is None else at_ns
    return queue_transfer(device, payee, amount * KES, "KES", at, valid_for_s)


def deliver_body(world: World, device: DeviceState, body: bytes, sender: str = "") -> Answer:
    """A Kind.OFFLINE frame with `body`, through the TranProc; the decrypted answer."""
    from daemon.security.channel import to_text

    return _read(world, device, to_text(device.seal(Kind.OFFLINE, body)), sender)


def deliver(
    world: World, device: DeviceState, transfer: SignedTransfer, sender: str = ""
) -> Answer:
    return _read(world, device, delivery_text(device, transfer), sender)


def _read(world: World, device: DeviceState, text: str, sender: str) -> Answer:
    _, reply = send_frame_text(world, sender or device.msisdn, text)
    opened = device.open_reply(reply)
    assert opened.kind is Kind.TEXT, opened
    found = outcome_of(opened.text)
    assert found is not None, opened.text
    return Answer(opened.text, found.outcome, found.counter)


def offline_rows(world: World) -> list:
    with world.engine.begin() as conn:
        return conn.execute(select(offline_transfers).order_by(offline_transfers.c.id)).all()


def move_count(world: World) -> int:
    with world.engine.begin() as conn:
        return len(conn.execute(select(moves.c.id)).all())
