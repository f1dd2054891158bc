"""Start-up's loss and corruption check, and the seal the daemon keeps (`[seal]`, ledger.seal).

At start-up, before anything runs, the database is compared with the last seal (the seal file in
the state directory): fewer transfers than sealed (restored from an older copy, a truncated SQLite
WAL) or a head that does not continue the sealed one is refused, and so is a damaged tail: the last
`seal.tail_transfers` transfers and audit-log entries are re-hashed against their head rows. The
refusal is one line naming what was found, exit code 3 (daemon.exit_codes.LEDGER, which systemd
does not restart), unless `smscore run --accept-ledger-state` was given: then the finding is
written to the audit log ("ledger.accept", by the operating-system user) and the database is
sealed as it is.

While the daemon runs, `SealKeeper` seals again every `seal.interval_s` (when a head moved) and
once more at a clean stop. The TranProc's transactions never touch the seal: it lags the database
by up to `interval_s`, which is why a loss of commits younger than that is not detected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, select
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from daemon import exit_codes
from daemon.audit import operator_name, record_txn
from daemon.audit_chain import GENESIS_HASH, entry_digest, has_chain_txn, head_txn
from daemon.clock import now_ns
from daemon.config import Config
from daemon.db import Database
from daemon.periodic import Rerun
from daemon.schema import audit_log
from ledger import display_url
from ledger.seal import (
    Chain,
    Link,
    Mark,
    chain_number,
    check_tail,
    compare_with_seal,
    ledger_chain,
    ledger_chains,
)
from ledger.seal_file import Seal, SealFileError, read_seal, write_seal

log = Logger()
SEAL_FILE_NAME = "ledger.seal"
ACCEPT_ACTION = "ledger.accept"
ACCEPT_HINT = "start with --accept-ledger-state to run on it anyway"


class LedgerStateError(Exception):
    """The database is not what was sealed, or a chain's tail is damaged: one line; exit 3."""

    exit_code = exit_codes.LEDGER


def seal_path(config: Config) -> Path:
    return config.seal.file or config.service.state_dir / SEAL_FILE_NAME


# --- the audit log's chain ------------------------------------------------------------------------


def _audit_head(conn: Connection) -> Mark:
    head = head_txn(conn)
    return Mark(head.entry_count, head.head_hash)


def _audit_last_seq(conn: Connection) -> int:
    return conn.execute(select(func.max(audit_log.c.seq))).scalar_one() or 0


_AUDIT_COLUMNS = (
    audit_log.c.seq, audit_log.c.hash, audit_log.c.id, audit_log.c.at_ns, audit_log.c.actor,
    audit_log.c.action, audit_log.c.target, audit_log.c.detail,
)  # fmt: skip


def _audit_links(conn: Connection, first: int, last: int) -> Iterator[Link]:
    query = select(*_AUDIT_COLUMNS).where(audit_log.c.seq.between(first, last))
    for seq, stored, entry_id, at_ns, *texts in conn.execute(query.order_by(audit_log.c.seq)):
        yield seq, bytes(stored), _entry_digest(entry_id, seq, at_ns, texts)


def _entry_digest(entry_id: int, seq: int, at_ns: int, texts: list[str]):
    return lambda previous: entry_digest(previous, entry_id, seq, at_ns, *texts)


AUDIT_CHAIN = Chain(
    "audit log", "entry", "entries", GENESIS_HASH, _audit_head, _audit_last_seq, _audit_links
)


def chains_txn(conn: Connection, seal: Seal | None = None) -> list[Chain]:
    """The ledger's chains (one per concurrent writer it had, ledger.batch), the audit log's, and
    every ledger chain `seal` names that the database no longer has a head row for."""
    chains = ledger_chains(conn)
    present = {chain.name for chain in chains}
    for name in seal.marks if seal is not None else ():
        if name not in present and (number := chain_number(name)) is not None:
            chains.append(ledger_chain(number))  # its head reads as empty: fewer than sealed
    return [*chains, AUDIT_CHAIN] if has_chain_txn(conn) else chains


def marks_txn(conn: Connection) -> dict[str, Mark]:
    return {chain.name: chain.head(conn) for chain in chains_txn(conn)}


def findings_txn(conn: Connection, seal: Seal | None, tail: int) -> list[str]:
    """What the seal comparison and the tail checks found, one line each (empty: all holds)."""
    found = []
    for chain in chains_txn(conn, seal):
        sealed = seal.marks.get(chain.name) if seal is not None else None
        if sealed is not None and (problem := compare_with_seal(conn, chain, sealed, seal.when)):
            found.append(problem)
            continue  # its tail is beside the point: this is not the sealed database
        accepted = seal.accepted.get(chain.name) if seal is not None else None
        verdict = check_tail(conn, chain, tail, accepted)
        if verdict.problem is not None:
            found.append(verdict.problem)
    return found


def accept_txn(conn: Connection, found: list[str], actor: str, at_ns: int) -> dict[str, Mark]:
    """Record the operator's acceptance in the audit log; the heads after it (accepted as is)."""
    record_txn(conn, actor, ACCEPT_ACTION, "ledger", "; ".join(found), at_ns)
    return marks_txn(conn)


@dataclass(frozen=True)
class Guarded:
    seal: Seal
    found: list[str]  # what was found (and accepted); empty: the database is as sealed
    first_seal: bool  # there was no seal file: nothing to compare with yet


def guard_ledger(config: Config, db: Database, at_ns: int, accept: bool = False) -> Guarded:
    """The start-up step: compare, check, refuse or accept, seal. LedgerStateError if refused."""
    path = seal_path(config)
    try:
        seal, damaged = read_seal(path), []
    except SealFileError as exc:
        seal, damaged = None, [str(exc)]
    found = damaged + db.run_sync("seal.check", findings_txn, seal, config.seal.tail_transfers)
    if found and not accept:
        raise LedgerStateError(f"{'; '.join(found)} (seal file {path}); {ACCEPT_HINT}")
    accepted = dict(seal.accepted) if seal is not None else {}
    if found:
        actor = operator_name()
        accepted = db.run_sync("seal.accept", accept_txn, found, actor, at_ns)
        log.warn(
            "start-up: ledger state accepted by {actor} (--accept-ledger-state): {found}",
            actor=actor,
            found="; ".join(found),
        )
    marks = db.run_sync("seal.marks", marks_txn)
    new_seal = Seal(marks, at_ns, display_url(config.database_url), accepted)
    _write(path, new_seal)
    return Guarded(new_seal, found, seal is None and not damaged)


def _write(path: Path, seal: Seal) -> None:
    try:
        path.parent.mkdir(
            mode=0o700, parents=True, exist_ok=True
        )  # like the pepper's (first start)
        write_seal(path, seal)
    except SealFileError as exc:  # a start-up failure like any file the daemon cannot write
        raise OSError(str(exc)) from None


class SealKeeper(Rerun):
    """Seals again every `interval_s` when a head moved (0: only at stop), and at a clean stop;
    on the database thread (a read of the head rows, then the file's write and fsync)."""

    name = "ledger_seal"

    def __init__(
        self, reactor: IReactorTime, db: Database, path: Path, seal: Seal, interval_s: float
    ) -> None:
        super().__init__(reactor, {"seals": 0})
        self.db, self.path, self.seal, self.interval_s = db, path, seal, interval_s

    def start(self) -> None:
        if self.interval_s > 0:
            super().start()

    def run_now(self) -> Deferred:
        run = self.db.run_interaction("seal.keep", self._keep_txn, self.seal, now_ns(self.reactor))
        self._running = run
        run.addCallbacks(self._sealed, self._failed)
        return run

    def stop(self) -> Deferred:
        """After the last run: one more seal (the drain finished the batch in hand)."""
        stopped = super().stop()
        return stopped.addCallback(lambda _: self.run_now())

    def _keep_txn(self, conn: Connection, last: Seal, at_ns: int) -> Seal:
        marks = marks_txn(conn)
        if marks == last.marks:
            return last
        seal = Seal(marks, at_ns, last.database, last.accepted)
        write_seal(self.path, seal)
        return seal

    def _sealed(self, seal: Seal) -> None:
        if seal is not self.seal:
            self.counters["seals"] += 1
            self.seal = seal
        self._finished(False)
