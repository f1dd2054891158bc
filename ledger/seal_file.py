"""The seal file: each chain's count and head hash, with the time, outside the database.

JSON, written atomically (a new file of mode 0600, fsync'd, renamed over the old one, the directory
fsync'd): a crash leaves the old seal or the new one, never half of one. The top-level
`transfer_count` and `head_hash` are the ledger's, as `smscore ledger export-head` prints them, so a
seal file is also a file for `ledger check --expect-head`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ledger.errors import LedgerError
from ledger.hashchain import HASH_BYTES
from ledger.seal import LEDGER_CHAIN, Mark

FORMAT = "smscore seal v1"
NS_PER_S = 1_000_000_000


class SealFileError(LedgerError):
    """A seal file that cannot be read, parsed or written; one line naming the file."""


@dataclass(frozen=True, slots=True)
class Seal:
    marks: dict[str, Mark]  # chain name (ledger.seal.Chain.name) -> its point when sealed
    sealed_at_ns: int
    database: str = ""  # the database's URL, password hidden, as shown to the operator
    # Chain name -> the point an operator accepted (`smscore run --accept-ledger-state`): the tail
    # check does not re-hash links up to it again (a damaged link stays damaged).
    accepted: dict[str, Mark] = field(default_factory=dict)

    @property
    def ledger(self) -> Mark:
        return self.marks[LEDGER_CHAIN.name]

    @property
    def when(self) -> str:
        at = datetime.fromtimestamp(self.sealed_at_ns / NS_PER_S, UTC)
        return at.strftime("%Y-%m-%d %H:%M:%SZ")

    def to_dict(self) -> dict:
        ledger = self.ledger
        return {
            "format": FORMAT,
            "transfer_count": ledger.count,
            "head_hash": ledger.head_hash.hex(),
            "sealed_at": self.when,
            "sealed_at_ns": self.sealed_at_ns,
            "database": self.database,
            "chains": {name: _mark_dict(mark) for name, mark in self.marks.items()},
            "accepted": {name: _mark_dict(mark) for name, mark in self.accepted.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> Seal:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a seal: format is {data.get('format')!r}, not {FORMAT!r}")
        marks = {name: _mark(value) for name, value in dict(data["chains"]).items()}
        if LEDGER_CHAIN.name not in marks:
            raise ValueError("no ledger chain in it")
        accepted = {name: _mark(value) for name, value in dict(data.get("accepted", {})).items()}
        return cls(marks, int(data["sealed_at_ns"]), str(data.get("database", "")), accepted)

    def describe(self) -> str:
        chains = "; ".join(f"{name} {mark.shown()}" for name, mark in self.marks.items())
        return f"sealed at {self.when}: {chains}"


def _mark_dict(mark: Mark) -> dict:
    return {"count": mark.count, "head_hash": mark.head_hash.hex()}


def _mark(value: dict) -> Mark:
    count, head_hash = int(value["count"]), bytes.fromhex(str(value["head_hash"]))
    if count < 0 or len(head_hash) != HASH_BYTES:
        raise ValueError("a count below 0 or a head_hash that is not 32 hex bytes")
    return Mark(count, head_hash)


def read_seal(path: Path) -> Seal | None:
    """The seal in `path`; None if there is no such file (nothing sealed yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SealFileError(f"seal file {path}: cannot read it: {exc.strerror}") from None
    try:
        return Seal.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SealFileError(f"seal file {path}: damaged: {exc}") from None


def write_seal(path: Path, seal: Seal) -> None:
    """Replace `path` with `seal`, atomically and durably; mode 0600."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    data = (json.dumps(seal.to_dict(), indent=1) + "\n").encode()
    try:
        partial.unlink(missing_ok=True)  # left by a writer that crashed (same pid, long ago)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
        _fsync_directory(path.parent)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise SealFileError(f"seal file {path}: cannot write it: {exc.strerror}") from None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself is durable, not only the file's bytes
    finally:
        os.close(fd)
