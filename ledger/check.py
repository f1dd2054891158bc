"""Invariant checker and hash-chain verification (`smscore ledger check` calls check_ledger).

One streaming pass over the transfers in chain order (each chain from its first link to its last,
see ledger.batch) verifies every chain and folds every balance in Python (exact integers: SQL SUM
over BIGINT overflows on SQLite and is what we are checking). Along each chain the global `seq`
must rise too: the database gives it at insert, under the chain's head lock.
"""

from __future__ import annotations

import hashlib
import struct
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from ledger.batch import STORED_COLUMNS
from ledger.errors import ExpectedHeadError
from ledger.hashchain import HASH_BYTES, chain_genesis, transfer_digest
from ledger.model import (
    CLOSING_FLAGS,
    AccountFlags,
    PendingStatus,
    TransferFlags,
    TransferKind,
)
from ledger.schema import (
    GENESIS_HASH,
    HEAD_ROW_ID,
    accounts,
    ledger_head,
    pending_transfers,
    transfers,
)
from ledger.seal import chain_name, chain_number

MAX_VIOLATIONS = 100  # listed in a report; more are only counted (one broken rule can break many)
STREAM_ROWS = 5_000  # transfers fetched per round trip: the walk's memory stays flat on any ledger
_HASH_SHOWN_HEX_DIGITS = 16  # of a head hash in a message: enough to tell two apart
_KIND_BY_FLAGS = {
    0: TransferKind.PLAIN,
    int(TransferFlags.PENDING): TransferKind.PENDING,
    int(TransferFlags.POST_PENDING): TransferKind.POST,
    int(TransferFlags.VOID_PENDING): TransferKind.VOID,
}
_KIND_MASK = int(TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING)


ChainHeads = dict[int, tuple[int, str]]  # chain -> (transfer count, head hash hex)


def top_hash_hex(chains: ChainHeads) -> str:
    """One hash for every chain's head: chain 1's own while it is the only one (as before the
    ledger had several), else SHA-256 over each chain's number, count and head."""
    if set(chains) <= {HEAD_ROW_ID}:
        return chains.get(HEAD_ROW_ID, (0, GENESIS_HASH.hex()))[1]
    digest = hashlib.sha256()
    for chain, (count, head_hex) in sorted(chains.items()):
        digest.update(struct.pack(">qq", chain, count) + bytes.fromhex(head_hex))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ExportedHead:
    """What to keep outside the database to detect a restored-from-older-copy or truncated log:
    every chain's count and head (`transfer_count` and `head_hash`: their total and top_hash)."""

    transfer_count: int
    head_hash_hex: str
    chains: ChainHeads = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.chains:  # a ledger of one chain, given as its count and head
            object.__setattr__(
                self, "chains", {HEAD_ROW_ID: (self.transfer_count, self.head_hash_hex)}
            )

    @classmethod
    def of_chains(cls, chains: ChainHeads) -> ExportedHead:
        total = sum(count for count, _hash in chains.values())
        return cls(total, top_hash_hex(chains), dict(chains))

    @classmethod
    def from_dict(cls, data: dict) -> ExportedHead:
        """An export-head file (or a seal file: its `chains` are named as ledger.seal names them)."""
        try:
            named = data.get("chains") or {"ledger": data}
            chains = {}
            for name, value in dict(named).items():
                if (chain := chain_number(name)) is None:
                    continue  # the audit log's, in a seal file
                count = int(value.get("count", value.get("transfer_count", -1)))
                hash_hex = str(value["head_hash"])
                if count < 0 or len(bytes.fromhex(hash_hex)) != HASH_BYTES:
                    raise ValueError("a count < 0 or a head_hash not 32 hex bytes")
                chains[chain] = (count, hash_hex)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ExpectedHeadError(f"bad exported head: {exc}") from exc
        return cls.of_chains(chains)

    def to_dict(self) -> dict:
        found: dict = {"transfer_count": self.transfer_count, "head_hash": self.head_hash_hex}
        if set(self.chains) - {HEAD_ROW_ID}:
            found["chains"] = {
                chain_name(chain): {"count": count, "head_hash": head_hex}
                for chain, (count, head_hex) in sorted(self.chains.items())
            }
        return found


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str  # e.g. "chain", "balance", "flag", "pending", "head", "currency"
    detail: str


@dataclass(slots=True)
class CheckReport:
    transfer_count: int = 0
    head_hash_hex: str = GENESIS_HASH.hex()
    first_broken_seq: int | None = None  # first link where a hash chain breaks (its chain_seq)
    first_broken_chain: int | None = None  # ...in this chain
    chains: ChainHeads = field(default_factory=dict)  # as walked: each chain's count and last hash
    violations: list[Violation] = field(default_factory=list)
    violations_dropped: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, rule: str, detail: str) -> None:
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(Violation(rule, detail))
        else:
            self.violations_dropped += 1


def head_rows(conn: Connection) -> ChainHeads:
    query = select(ledger_head.c.id, ledger_head.c.transfer_count, ledger_head.c.head_hash)
    return {row[0]: (row[1], bytes(row[2]).hex()) for row in conn.execute(query)}


def export_head(conn: Connection) -> ExportedHead:
    return ExportedHead.of_chains(head_rows(conn))


@dataclass(slots=True)
class _Balances:
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    def as_list(self) -> list[int]:
        return [self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending]


class _Fold:
    def __init__(self) -> None:
        self.balances: dict[int, _Balances] = defaultdict(_Balances)
        self.pendings: dict[
            int, tuple[int, int, int, int]
        ] = {}  # id -> debit, credit, amount, flags
        self.resolutions: dict[int, list[tuple[TransferKind, int, int]]] = defaultdict(list)


def check_ledger(conn: Connection, expected_head: ExportedHead | None = None) -> CheckReport:
    """Check every invariant; the report lists what is broken (empty when all hold)."""
    report = CheckReport()
    account_rows = {row.id: row for row in conn.execute(select(accounts))}
    fold = _Fold()
    found_at_expected = _walk_chain(conn, account_rows, fold, report, expected_head)
    _check_head_row(conn, report)
    if expected_head is not None:
        _check_expected_head(report, expected_head, found_at_expected)
    statuses = {row[0]: row[1:] for row in conn.execute(select(pending_transfers))}
    _check_pendings(fold, statuses, report)
    _check_accounts(account_rows, fold, statuses, report)
    return report


class _ChainWalk:
    """Where the walk is in one chain: the link it expects next and the hash it chains from."""

    def __init__(self, chain: int) -> None:
        self.chain, self.previous, self.expected, self.last_seq = chain, chain_genesis(chain), 1, 0
        self.rows = 0  # the links stored, whatever their numbers say


def _walk_chain(conn, account_rows, fold, report, expected_head) -> dict[int, bytes]:
    """Walk every chain; the hash found at each chain's exported count (for --expect-head)."""
    wanted = expected_head.chains if expected_head is not None else {}
    at_expected: dict[int, bytes] = {}
    walk: _ChainWalk | None = None
    # On the statement, not the connection: a connection's options stay set, and a later INSERT
    # on it would be sent as a server-side cursor (PostgreSQL refuses DECLARE ... FOR INSERT).
    query = select(transfers).order_by(transfers.c.chain, transfers.c.chain_seq)
    result = conn.execute(query.execution_options(yield_per=STREAM_ROWS))
    for row in result.mappings():
        if walk is None or walk.chain != row["chain"]:
            _end_chain(walk, report)
            walk = _ChainWalk(row["chain"])
        stored_hash = bytes(row["hash"])
        fields = tuple(row[column.name] for column in STORED_COLUMNS)
        try:
            digest = transfer_digest(walk.previous, row["chain_seq"], fields, row["timestamp_ns"])
        except (struct.error, TypeError, ValueError, AttributeError):  # no transfer holds that
            digest = None
        broken = row["chain_seq"] != walk.expected or digest != stored_hash
        if broken and report.first_broken_seq is None:
            report.first_broken_seq, report.first_broken_chain = walk.expected, walk.chain
            report.add("chain", f"{_chain_label(walk.chain)}breaks at transfer seq {walk.expected}")
        if row["seq"] <= walk.last_seq:
            report.add("chain", f"transfer {row['id']}: seq {row['seq']} out of its chain's order")
        walk.previous, walk.expected, walk.last_seq = stored_hash, row["chain_seq"] + 1, row["seq"]
        walk.rows += 1
        report.transfer_count += 1
        if wanted.get(walk.chain, (None,))[0] == row["chain_seq"]:
            at_expected[walk.chain] = stored_hash
        _fold_transfer(row, account_rows, fold, report)
    _end_chain(walk, report)
    report.head_hash_hex = top_hash_hex(report.chains)
    return at_expected


def _chain_label(chain: int) -> str:
    return "hash chain " if chain == HEAD_ROW_ID else f"{chain_name(chain)}: hash chain "


def _end_chain(walk: _ChainWalk | None, report: CheckReport) -> None:
    if walk is not None:
        report.chains[walk.chain] = (walk.rows, walk.previous.hex())


def _fold_transfer(row, account_rows, fold: _Fold, report: CheckReport) -> None:
    tid, debit, credit, amount = (
        row["id"],
        row["debit_account_id"],
        row["credit_account_id"],
        row["amount"],
    )
    kind = _KIND_BY_FLAGS.get(row["flags"] & _KIND_MASK)
    if kind is None or kind != row["kind"]:
        report.add(
            "transfer", f"transfer {tid}: kind {row['kind']} does not match flags {row['flags']}"
        )
        return
    closing = row["flags"] & int(CLOSING_FLAGS)
    zero_allowed = closing or kind in (TransferKind.POST, TransferKind.VOID)
    if amount < 0 or (amount == 0 and not zero_allowed) or debit == credit:
        report.add("transfer", f"transfer {tid}: bad amount {amount} or debit == credit")
    for account_id in (debit, credit):
        account = account_rows.get(account_id)
        if account is None or account.currency != row["currency"]:
            report.add(
                "currency",
                f"transfer {tid}: account {account_id} missing or not in {row['currency']}",
            )
    if kind == TransferKind.PENDING:
        fold.pendings[tid] = (debit, credit, amount, row["flags"])
        return
    if kind != TransferKind.PLAIN:
        fold.resolutions[row["pending_id"]].append((kind, tid, amount))
    if kind != TransferKind.VOID:
        fold.balances[debit].debits_posted += amount
        fold.balances[credit].credits_posted += amount


_EXPECTED_RESOLUTION = {
    PendingStatus.PENDING: None,
    PendingStatus.EXPIRED: None,
    PendingStatus.POSTED: TransferKind.POST,
    PendingStatus.VOIDED: TransferKind.VOID,
}


def _check_pendings(fold: _Fold, statuses: dict, report: CheckReport) -> None:
    for pending_id in set(statuses) - set(fold.pendings):
        report.add("pending", f"pending state row {pending_id} has no pending transfer")
    for pending_id in set(fold.resolutions) - set(fold.pendings):
        report.add("pending", f"post/void refers to {pending_id}, which is not a pending transfer")
    for pending_id, (debit, credit, amount, _flags) in fold.pendings.items():
        state = statuses.get(pending_id)
        if state is None:
            report.add("pending", f"pending transfer {pending_id} has no state row")
            continue
        status, expires_at_ns, resolved_at_ns = PendingStatus(state[0]), state[1], state[2]
        resolutions = fold.resolutions.get(pending_id, [])
        wanted = _EXPECTED_RESOLUTION[status]
        kinds = [kind for kind, _tid, _amount in resolutions]
        if kinds != ([] if wanted is None else [wanted]):
            report.add(
                "pending", f"pending transfer {pending_id} is {status.name} but resolved by {kinds}"
            )
        if any(kind == TransferKind.POST and posted > amount for kind, _t, posted in resolutions):
            report.add("pending", f"pending transfer {pending_id} posted for more than {amount}")
        if status == PendingStatus.EXPIRED and (
            expires_at_ns is None or resolved_at_ns is None or expires_at_ns > resolved_at_ns
        ):
            report.add("pending", f"pending transfer {pending_id} expired before its timeout")
        if status == PendingStatus.PENDING:
            fold.balances[debit].debits_pending += amount
            fold.balances[credit].credits_pending += amount


def _closed_by_fold(fold: _Fold, statuses_live: set[int]) -> set[int]:
    closed = set()
    for pending_id, (debit, credit, _amount, flags) in fold.pendings.items():
        if pending_id in statuses_live:
            if flags & TransferFlags.CLOSING_DEBIT:
                closed.add(debit)
            if flags & TransferFlags.CLOSING_CREDIT:
                closed.add(credit)
    return closed


def _check_accounts(account_rows: dict, fold: _Fold, statuses: dict, report: CheckReport) -> None:
    # A closing transfer keeps its account closed while pending and after it is posted.
    closing_live = {PendingStatus.PENDING, PendingStatus.POSTED}
    live = {pid for pid, state in statuses.items() if state[0] in closing_live}
    closed = _closed_by_fold(fold, live)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for account_id, row in account_rows.items():
        stored = [row.debits_posted, row.credits_posted, row.debits_pending, row.credits_pending]
        folded = fold.balances.get(account_id, _Balances()).as_list()
        if stored != folded:
            report.add(
                "balance", f"account {account_id}: stored {stored} != fold of transfers {folded}"
            )
        total = totals[row.currency]
        for index in range(4):
            total[index] += stored[index]
        _check_account_flags(account_id, row, stored, account_id in closed, report)
    for currency, total in sorted(totals.items()):
        debits_posted, credits_posted, debits_pending, credits_pending = total
        if debits_posted != credits_posted or debits_pending != credits_pending:
            report.add(
                "currency",
                f"{currency}: debits {debits_posted}/{debits_pending} != credits "
                f"{credits_posted}/{credits_pending} (posted/pending)",
            )


def _check_account_flags(account_id, row, stored, closed_by_fold, report) -> None:
    debits_posted, credits_posted, debits_pending, credits_pending = stored
    if min(stored) < 0:
        report.add("balance", f"account {account_id}: negative balance {stored}")
    debits, credits = debits_posted + debits_pending, credits_posted + credits_pending
    if row.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and debits > credits_posted:
        report.add(
            "flag",
            f"account {account_id}: debits {debits_posted}+{debits_pending} exceed credits "
            f"{credits_posted}",
        )
    if row.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and credits > debits_posted:
        report.add(
            "flag",
            f"account {account_id}: credits {credits_posted}+{credits_pending} exceed debits "
            f"{debits_posted}",
        )
    if bool(row.flags & AccountFlags.CLOSED) != closed_by_fold:
        report.add(
            "flag", f"account {account_id}: closed flag disagrees with its closing transfers"
        )


def _check_head_row(conn: Connection, report: CheckReport) -> None:
    heads = head_rows(conn)
    for chain in sorted(set(heads) | set(report.chains) | {HEAD_ROW_ID}):
        walked = report.chains.get(chain, (0, chain_genesis(chain).hex()))
        head = heads.get(chain)
        if head is None:
            report.add("head", f"{chain_name(chain)}: {walked[0]} transfers but no head row")
        elif head != walked:
            report.add(
                "head",
                f"{_head_label(chain)}head row says {head[0]} transfers / "
                f"{head[1][:_HASH_SHOWN_HEX_DIGITS]}…, table has {walked[0]} / "
                f"{walked[1][:_HASH_SHOWN_HEX_DIGITS]}…",
            )


def _head_label(chain: int) -> str:
    return "" if chain == HEAD_ROW_ID else f"{chain_name(chain)}: "


def _check_expected_head(
    report: CheckReport, expected: ExportedHead, found: dict[int, bytes]
) -> None:
    for chain, (count, head_hex) in sorted(expected.chains.items()):
        stored = report.chains.get(chain, (0, ""))[0]
        if count > stored:
            report.add(
                "head",
                f"{_head_label(chain)}ledger has {stored} transfers but {count} were exported "
                "earlier: restored from an older copy, or the tail was lost",
            )
        elif count > 0 and (chain not in found or found[chain].hex() != head_hex):
            report.add(
                "head", f"{_head_label(chain)}transfer {count} differs from the exported head hash"
            )
