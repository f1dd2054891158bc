"""Loss and corruption detection in bounded time: a hash chain's tail, and its seal.

A *seal* is a chain's count and head hash kept outside the database (ledger.seal_file). A database
restored from an older copy, or one whose last commits were lost (a truncated SQLite WAL), holds
fewer links than were sealed; one rewritten since, or another database, has a different link where
the seal's head should continue. Both are found from the head row and a few indexed rows.

The *tail check* re-hashes the last links (a flipped byte or an edited row there breaks the chain)
and compares the head row with the table's last link. Its cost depends on the tail's length, not
on the chain's: the full walk is `smscore ledger check` (ledger.check).

One routine serves every chain (`Chain`): each of the ledger's chains here (`ledger_chains`: chain
1 is named "ledger", chain n "ledger chain n"; see ledger.batch), the daemon's audit log in
daemon.seal_guard.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection, func, select

from ledger.batch import STORED_COLUMNS
from ledger.hashchain import chain_genesis, transfer_digest
from ledger.schema import HEAD_ROW_ID, ledger_head, transfers

SHOWN_HEX_DIGITS = 16  # of a hash in a one-line finding: enough to tell two apart

# A stored link: its place, the hash stored with it, and its digest chained onto a given previous.
Link = tuple[int, bytes, Callable[[bytes], bytes]]


@dataclass(frozen=True, slots=True)
class Mark:
    """A point in a chain: how many links, and the hash the next link chains from."""

    count: int
    head_hash: bytes

    def shown(self) -> str:
        return f"{self.count} / {self.head_hash.hex()[:SHOWN_HEX_DIGITS]}…"


@dataclass(frozen=True, slots=True)
class Chain:
    """How to read one hash chain: its head row, its last place, its links from a place on."""

    name: str  # "ledger", "audit log": the start of a finding
    unit: str  # "transfer", "entry"
    units: str  # "transfers", "entries"
    genesis: bytes
    head: Callable[[Connection], Mark]
    last_seq: Callable[[Connection], int]
    links: Callable[[Connection, int, int], Iterator[Link]]  # (conn, first_seq, last_seq)


@dataclass(frozen=True, slots=True)
class TailVerdict:
    head: Mark
    rehashed: int  # links re-hashed
    problem: str | None  # one line naming what was found; None: the tail holds


def check_tail(
    conn: Connection, chain: Chain, tail: int, accepted: Mark | None = None
) -> TailVerdict:
    """Re-hash the last `tail` links against the head row. `accepted`: a point an operator
    accepted (`smscore run --accept-ledger-state`): the links up to it are not re-hashed again
    and the next one chains from its hash."""
    head = chain.head(conn)
    last = chain.last_seq(conn)
    if last != head.count:
        problem = (
            f"{chain.name}: the head row counts {head.count} {chain.units} but the last stored is "
            f"number {last}: rows were deleted or written past the head"
        )
        return TailVerdict(head, 0, problem)
    if accepted == head:
        return TailVerdict(head, 0, None)  # nothing since the operator accepted it as it is
    first = max(1, head.count - tail + 1)
    previous = chain.genesis if first == 1 else None
    if accepted is not None and accepted.count <= head.count and first <= accepted.count + 1:
        first, previous = accepted.count + 1, accepted.head_hash
    rehashed, expected = 0, first
    for seq, stored, digest in chain.links(conn, first - 1 if previous is None else first, last):
        if previous is None and seq == first - 1:  # the link before the tail starts the walk
            previous = stored
            continue
        if previous is None or seq != expected or not _holds(digest, previous, stored):
            problem = f"{chain.name}: hash chain breaks at {chain.unit} {expected}"
            return TailVerdict(head, rehashed, problem + ": a row was edited, lost or damaged")
        previous, expected, rehashed = stored, seq + 1, rehashed + 1
    if expected != head.count + 1 or previous != head.head_hash:
        last_link = Mark(expected - 1, previous).shown() if previous else f"{last}, unreadable"
        problem = f"{chain.name}: the head row ({head.shown()}) is not the last link ({last_link})"
        return TailVerdict(head, rehashed, problem)
    return TailVerdict(head, rehashed, None)


def _holds(digest: Callable[[bytes], bytes], previous: bytes, stored: bytes) -> bool:
    try:
        return digest(previous) == stored
    except (struct.error, TypeError, ValueError, AttributeError):  # a value no link can hold
        return False


def compare_with_seal(conn: Connection, chain: Chain, sealed: Mark, when: str) -> str | None:
    """One line if the database does not continue the sealed point (`when`: the seal's time, as
    shown); None if it does. Reads the head row and at most one link."""
    head = chain.head(conn)
    if head.count < sealed.count:
        return (
            f"{chain.name}: {head.count} {chain.units}, fewer than the {sealed.count} sealed at "
            f"{when}: restored from an older copy, or its last commits were lost"
        )
    if head.count == sealed.count:
        continues = head.head_hash == sealed.head_hash
    else:
        links = list(chain.links(conn, sealed.count + 1, sealed.count + 1))
        continues = bool(links) and _holds(links[0][2], sealed.head_hash, links[0][1])
    if continues:
        return None
    return (
        f"{chain.name}: head {head.shown()} does not descend from the seal of {when} "
        f"({sealed.shown()}): another database, or rewritten since"
    )


# --- the ledger's chain ---------------------------------------------------------------------------


def _ledger_head(chain: int, conn: Connection) -> Mark:
    query = select(ledger_head.c.transfer_count, ledger_head.c.head_hash)
    found = conn.execute(query.where(ledger_head.c.id == chain)).first()
    if found is None:  # its head row is gone: no link can continue from anything
        return Mark(0, chain_genesis(chain))
    return Mark(found[0], bytes(found[1]))


def _ledger_last_seq(chain: int, conn: Connection) -> int:
    query = select(func.max(transfers.c.chain_seq)).where(transfers.c.chain == chain)
    return conn.execute(query).scalar_one() or 0


_LINK_COLUMNS = (
    transfers.c.chain_seq, transfers.c.hash, transfers.c.timestamp_ns, *STORED_COLUMNS
)  # fmt: skip


def _ledger_links(chain: int, conn: Connection, first: int, last: int) -> Iterator[Link]:
    query = (
        select(*_LINK_COLUMNS)
        .where(transfers.c.chain == chain, transfers.c.chain_seq.between(first, last))
        .order_by(transfers.c.chain_seq)
        .execution_options(yield_per=5_000)  # on the statement: the connection's stay unchanged
    )
    for seq, stored, timestamp_ns, *fields in conn.execute(query):
        row = tuple(fields)
        yield seq, bytes(stored), _digest_of(seq, row, timestamp_ns)


def _digest_of(seq: int, fields: tuple, timestamp_ns: int) -> Callable[[bytes], bytes]:
    return lambda previous: transfer_digest(previous, seq, fields, timestamp_ns)


def chain_name(chain: int) -> str:
    return "ledger" if chain == HEAD_ROW_ID else f"ledger chain {chain}"


def chain_number(name: str) -> int | None:
    """The ledger chain a name (chain_name) stands for; None: not one of the ledger's."""
    if name == "ledger":
        return HEAD_ROW_ID
    prefix = "ledger chain "
    digits = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(digits) if digits.isdigit() else None


def ledger_chain(chain: int) -> Chain:
    return Chain(
        chain_name(chain),
        "transfer",
        "transfers",
        chain_genesis(chain),
        partial(_ledger_head, chain),
        partial(_ledger_last_seq, chain),
        partial(_ledger_links, chain),
    )


LEDGER_CHAIN = ledger_chain(HEAD_ROW_ID)


def chain_numbers(conn: Connection) -> list[int]:
    """The chains with a head row (and chain 1). A chain whose head row was deleted is found by
    the seal (it names the chain) and by `smscore ledger check` (it walks every transfer)."""
    return sorted({HEAD_ROW_ID, *conn.execute(select(ledger_head.c.id)).scalars()})


def ledger_chains(conn: Connection) -> list[Chain]:
    return [LEDGER_CHAIN if n == HEAD_ROW_ID else ledger_chain(n) for n in chain_numbers(conn)]
