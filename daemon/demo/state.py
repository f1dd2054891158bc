"""The demo's state directory, made fresh on every run, and what staff set up before the story: the
agent store with its e-float. The customers are registered in the story itself, by the agent. Also
what staff do in the story with no command of their own: e-money issued into a business's wallet,
and the API key the demo makes for you to try the business API by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Connection

from daemon.admin.env import AdminEnv
from daemon.admin.stores import NewIdentity, add_agent_txn
from daemon.api.businesses import add_key_txn, require_business_txn
from daemon.api.principal import KeyScope
from daemon.audit import record_txn
from daemon.chart import wallet_account_id
from daemon.config import Config
from daemon.demo.story import AGENT, AGENT_FLOAT_MINOR
from daemon.money.issue import Issue, issue_txn
from daemon.money.moves import Move, MoveKind

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


def issue_emoney_txn(conn: Connection, config: Config, msisdn: str, amount_minor: int,
                     now_ns: int) -> Move:  # fmt: skip
    """E-money from the trust account into `msisdn`'s wallet (what its owner paid into the trust
    account's bank): an ISSUE move pointing at its audit entry, as an opening balance is."""
    env = AdminEnv(config, actor=STAFF)
    detail = f"e-money {env.money(amount_minor)} paid into the trust account"
    audit_id = record_txn(conn, STAFF, "issue", msisdn, detail, now_ns)
    issue = Issue(MoveKind.ISSUE, msisdn, wallet_account_id(msisdn), amount_minor, audit_id)
    return issue_txn(conn, issue, env.currency, now_ns)


def try_key_txn(conn: Connection, code: str, label: str, now_ns: int) -> str:
    """Another API key of business `code`, as `smscore admin business key-add` makes it."""
    business = require_business_txn(conn, code)
    key_text, _ = add_key_txn(conn, business.id, label, KeyScope.BOTH, now_ns, actor=STAFF)
    return key_text
