"""The demo's state directory, made fresh on every run, and what staff set up before the story: the
agent store with its e-float. The customers are registered in the story itself, by the agent."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Connection

from daemon.admin.env import AdminEnv
from daemon.admin.stores import NewIdentity, add_agent_txn
from daemon.config import Config
from daemon.demo.story import AGENT, AGENT_FLOAT_MINOR

MARK = ".smscore-demo"  # in a directory the demo made: it may delete it
# What a demo state directory holds (before MARK existed, too): the database and the PIN pepper.
_DEMO_FILES = frozenset(
    {MARK, "smscore.db", "smscore.db-wal", "smscore.db-shm", "smscore.db-journal", "pin_pepper"}
)
STAFF = "demo"  # who the audit log says set the store up


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


def seed_agent_txn(conn: Connection, config: Config, now_ns: int) -> str:
    """The agent store, as `smscore admin agent add … --float` registers it: its float wallet, a
    random agent number, the e-float issued from the trust account (a FLOAT move) and the audit
    entry. Returns the agent number."""
    env = AdminEnv(config, actor=STAFF)
    identity = NewIdentity(AGENT.msisdn, AGENT.name, AGENT.pin)
    store, _ = add_agent_txn(conn, env, identity, AGENT_FLOAT_MINOR, now_ns)
    assert store.agent_number is not None
    return store.agent_number
