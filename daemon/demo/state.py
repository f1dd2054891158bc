"""The demo's state directory, made fresh on every run, and what staff set up before the story: the
agent store with its e-float. The customers are registered in the story itself, by the agent."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Connection

from daemon.chart import SystemAccount, TransferCode
from daemon.commands.registry import Role
from daemon.demo.story import AGENT, AGENT_FLOAT_MINOR
from daemon.money.moves import Leg, MoveKind, MoveRequest, open_move_txn
from daemon.subscribers import PinHasher, create_subscriber_txn

MARK = ".smscore-demo"  # in a directory the demo made: it may delete it
# What a demo state directory holds (before MARK existed, too): the database and the PIN pepper.
_DEMO_FILES = frozenset(
    {MARK, "smscore.db", "smscore.db-wal", "smscore.db-shm", "smscore.db-journal", "pin_pepper"}
)
DEMO_AGENT_NUMBER = "314159"


class DemoStateError(Exception):
    """The state directory holds something the demo did not make; one line."""


def fresh_state_dir(path: Path) -> None:
    """Empty `path` (made by an earlier demo) or create it: every run tells the story from the
    start, with nobody registered yet."""
    if path.exists():
        if not path.is_dir():
            raise DemoStateError(f"--state-dir {path}: not a directory")
        names = {entry.name for entry in path.iterdir()}
        if names and MARK not in names and not names <= _DEMO_FILES:
            raise DemoStateError(
                f"--state-dir {path}: holds files the demo did not make; "
                "the demo starts afresh each run, so give it a directory of its own"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARK).write_text("made by `smscore demo`, which empties it on every run\n")


def seed_agent_txn(conn: Connection, hasher: PinHasher, currency: str, now_ns: int) -> str:
    """The agent store, as staff register it, with its e-float issued from the trust account (a
    FLOAT move); its agent number."""
    store = create_subscriber_txn(
        conn, AGENT.msisdn, pin=AGENT.pin, hasher=hasher, currency=currency, now_ns=now_ns,
        name=AGENT.name, role=Role.AGENT, agent_number=DEMO_AGENT_NUMBER,
        registered_by="staff:demo",
    )  # fmt: skip
    leg = Leg(int(SystemAccount.TRUST), store.account_id, AGENT_FLOAT_MINOR, TransferCode.DEPOSIT)
    request = MoveRequest(MoveKind.FLOAT, None, store.msisdn, AGENT_FLOAT_MINOR, [leg])
    open_move_txn(conn, request, currency=currency, now_ns=now_ns)
    return DEMO_AGENT_NUMBER
