"""create_transfers: validate a batch in Python against rows read once, then write it in bulk.

Each transfer gets one CreateTransferResult; a transfer that fails changes nothing. A linked chain
(LINKED on every member but the last) succeeds or fails as one: on failure the member that failed
keeps its own code and every other member gets LINKED_EVENT_FAILED. A chain whose members all
return EXISTS is an idempotent retry and keeps EXISTS everywhere.

Idempotency: a transfer whose id is already taken (in the database or earlier in the batch) returns
EXISTS when its fields equal the stored ones, else EXISTS_WITH_DIFFERENT_FIELDS. For posts and
voids, fields left at zero ("" for currency) were "as in the pending transfer" and match anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from ledger import batch
from ledger.batch import (
    AccountState,
    PendingState,
    StoredTransfer,
    make_pending_row,
    make_stored_transfer,
)
from ledger.errors import LedgerBatchTooLarge
from ledger.model import (
    CLOSING_FLAGS,
    INT32_MAX,
    INT64_MAX,
    NS_PER_S,
    TRANSFER_FLAGS_KNOWN,
    USER_DATA_MAX_CHARS,
    AccountFlags,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferKind,
    valid_currency,
)
from ledger.results import CreateTransferResult

# TigerBeetle's default limit per create_transfers request (a 1 MiB message less its 256-byte header, in
# 128-byte transfers), kept so a client written for TigerBeetle batches the same way here. It is
# not a SQL limit (ids travel in one bound parameter, rows go to executemany): it bounds the
# memory and the lock set of one batch.
MAX_BATCH = 8190

_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST_PENDING = int(TransferFlags.POST_PENDING)
_VOID_PENDING = int(TransferFlags.VOID_PENDING)
_CLOSING_DEBIT = int(TransferFlags.CLOSING_DEBIT)
_CLOSING_CREDIT = int(TransferFlags.CLOSING_CREDIT)
_CLOSING_FLAGS = int(CLOSING_FLAGS)
_UNKNOWN_FLAGS = ~int(TRANSFER_FLAGS_KNOWN)
_DEBITS_MUST_NOT_EXCEED_CREDITS = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CREDITS_MUST_NOT_EXCEED_DEBITS = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_CLOSED = int(AccountFlags.CLOSED)
_STATUS_RESULT = {
    PendingStatus.POSTED: CreateTransferResult.PENDING_TRANSFER_ALREADY_POSTED,
    PendingStatus.VOIDED: CreateTransferResult.PENDING_TRANSFER_ALREADY_VOIDED,
    PendingStatus.EXPIRED: CreateTransferResult.PENDING_TRANSFER_EXPIRED,
}


def create_transfers(
    conn: Connection, transfers: Sequence[Transfer], now_ns: int
) -> list[CreateTransferResult]:
    """Create a batch of transfers in the caller's transaction; one result per transfer.

    `now_ns` is the caller's clock. Timestamps never go backwards: a batch is stamped with
    max(now_ns, the newest timestamp already in the ledger), so time order equals chain order.
    """
    if len(transfers) > MAX_BATCH:
        raise LedgerBatchTooLarge(f"{len(transfers)} transfers in one batch; at most {MAX_BATCH}")
    if not transfers:
        return []
    head = batch.take_chain(conn)
    timestamp_ns = max(now_ns, head.last_timestamp_ns)
    state = _BatchState.load(conn, transfers, timestamp_ns)
    results = _run_chains(state, transfers)
    batch.write_transfers(conn, head, state.rows, timestamp_ns)
    batch.write_pending(conn, state.pendings.values(), timestamp_ns)
    batch.write_accounts(conn, state.accounts.values())
    return results


def _in_range(value: int) -> bool:
    return 0 < value <= INT64_MAX


class _BatchState:
    """Everything a batch reads, mutated in memory as transfers are applied."""

    def __init__(self, timestamp_ns: int) -> None:
        self.timestamp_ns = timestamp_ns
        self.known: dict[int, StoredTransfer] = {}
        self.pendings: dict[int, PendingState] = {}
        self.accounts: dict[int, AccountState] = {}
        self.rows: list[
            tuple[StoredTransfer, TransferKind]
        ] = []  # (fields, kind) in creation order
        self.undo: list[tuple] | None = None  # set while inside a linked chain

    @classmethod
    def load(cls, conn: Connection, transfers: Sequence[Transfer], ts: int) -> _BatchState:
        state = cls(ts)
        ids = {t.id for t in transfers if _in_range(t.id)}
        pending_ids = {
            t.pending_id
            for t in transfers
            if int(t.flags) & (_POST_PENDING | _VOID_PENDING) and _in_range(t.pending_id)
        }
        # A pending transfer's accounts never change: read them to know what to lock.
        state.pendings = batch.load_pending(conn, pending_ids)
        account_ids = {a for t in transfers for a in (t.debit_account_id, t.credit_account_id)}
        account_ids.update(
            a for pending in state.pendings.values() for a in (pending.debit, pending.credit)
        )
        state.accounts = batch.lock_accounts(conn, (a for a in account_ids if _in_range(a)))
        if conn.dialect.name == "postgresql" and state.pendings:
            # Read again under the account locks: a concurrent post, void or expiry of the same
            # pending transfer held them, and its status is committed now (SQLite: one writer).
            state.pendings = batch.load_pending(conn, pending_ids)
        # After the locks too: a concurrent batch of the same transfer (same accounts) committed.
        state.known = batch.load_stored(conn, ids)
        return state

    def save_account(self, account: AccountState) -> None:
        if self.undo is not None:
            self.undo.append((account, account.snapshot()))

    def save_pending(self, pending: PendingState) -> None:
        if self.undo is not None:
            self.undo.append((pending, pending.status))

    def add(self, t: Transfer, fields: StoredTransfer, kind: TransferKind) -> None:
        """Record a created transfer."""
        self.known[t.id] = fields
        if self.undo is not None:
            self.undo.append((t.id,))
        self.rows.append((fields, kind))

    def begin_chain(self) -> int:
        self.undo = []
        return len(self.rows)

    def end_chain(self, rows_mark: int, rollback: bool) -> None:
        undo, self.undo = self.undo, None
        if not rollback:
            return
        for entry in reversed(undo or ()):
            if len(entry) == 1:
                del self.known[entry[0]]
                self.pendings.pop(entry[0], None)
            elif isinstance(entry[0], AccountState):
                entry[0].restore(entry[1])
            else:
                entry[0].status = entry[1]
        del self.rows[rows_mark:]


def _run_chains(state: _BatchState, transfers: Sequence[Transfer]) -> list[CreateTransferResult]:
    results: list[CreateTransferResult] = [CreateTransferResult.OK] * len(transfers)
    count = len(transfers)
    start = 0
    while start < count:
        end = start
        while end < count and int(transfers[end].flags) & _LINKED:
            end += 1
        if end == count:  # the batch ends inside a chain: nothing of it is applied
            results[start:count] = [CreateTransferResult.LINKED_EVENT_FAILED] * (count - start)
            results[count - 1] = CreateTransferResult.LINKED_EVENT_CHAIN_OPEN
            break
        if start == end:
            results[start] = _apply(state, transfers[start])
        else:
            _run_chain(state, transfers, start, end, results)
        start = end + 1
    return results


def _run_chain(
    state: _BatchState,
    transfers: Sequence[Transfer],
    start: int,
    end: int,
    results: list[CreateTransferResult],
) -> None:
    mark = state.begin_chain()
    cause = None
    for index in range(start, end + 1):
        result = results[index] = _apply(state, transfers[index])
        if result is not CreateTransferResult.OK and result is not CreateTransferResult.EXISTS:
            cause = index
            break
    else:
        chain = results[start : end + 1]
        if (
            CreateTransferResult.EXISTS in chain and CreateTransferResult.OK in chain
        ):  # part of the chain is new: not a retry
            cause = start + chain.index(CreateTransferResult.EXISTS)
    state.end_chain(mark, rollback=cause is not None)
    if cause is not None:
        for index in range(start, end + 1):
            if index != cause:
                results[index] = CreateTransferResult.LINKED_EVENT_FAILED


def _apply(state: _BatchState, t: Transfer) -> CreateTransferResult:
    flags = int(t.flags)
    if not _in_range(t.id):
        return CreateTransferResult.ID_OUT_OF_RANGE
    if flags & _UNKNOWN_FLAGS:
        return CreateTransferResult.RESERVED_FLAG
    kind_flags = flags & (_PENDING | _POST_PENDING | _VOID_PENDING)
    if kind_flags & (kind_flags - 1):
        return CreateTransferResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if flags & _CLOSING_FLAGS and not flags & _PENDING:
        return CreateTransferResult.CLOSING_TRANSFER_MUST_BE_PENDING
    stored = state.known.get(t.id)
    if stored is not None:
        return (
            CreateTransferResult.EXISTS
            if _same_transfer(t, flags, stored)
            else CreateTransferResult.EXISTS_WITH_DIFFERENT_FIELDS
        )
    if kind_flags & (_POST_PENDING | _VOID_PENDING):
        return _apply_post_or_void(state, t, flags)
    return _apply_new(state, t, flags)


def _same_transfer(t: Transfer, flags: int, stored: StoredTransfer) -> bool:
    if (
        flags != stored.flags
        or t.pending_id != (stored.pending_id or 0)
        or t.timeout_s != stored.timeout_s
        or (t.user_data or None) != stored.user_data
    ):
        return False
    if flags & (_POST_PENDING | _VOID_PENDING):
        return (
            t.debit_account_id in (0, stored.debit_account_id)
            and t.credit_account_id in (0, stored.credit_account_id)
            and t.amount in (0, stored.amount)
            and t.currency in ("", stored.currency)
            and t.code in (0, stored.code)
        )
    return (
        t.debit_account_id == stored.debit_account_id
        and t.credit_account_id == stored.credit_account_id
        and t.amount == stored.amount
        and t.currency == stored.currency
        and t.code == stored.code
    )


def _check_common_fields(t: Transfer) -> CreateTransferResult | None:
    if t.amount < 0:
        return CreateTransferResult.AMOUNT_MUST_NOT_BE_NEGATIVE
    if t.amount > INT64_MAX:
        return CreateTransferResult.AMOUNT_OVERFLOWS
    if not 0 <= t.code <= INT32_MAX:
        return CreateTransferResult.CODE_OUT_OF_RANGE
    if t.user_data is not None and len(t.user_data) > USER_DATA_MAX_CHARS:
        return CreateTransferResult.USER_DATA_TOO_LONG
    return None


def _check_new_fields(t: Transfer, flags: int) -> CreateTransferResult | None:
    if t.debit_account_id == 0:
        return CreateTransferResult.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
    if t.credit_account_id == 0:
        return CreateTransferResult.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
    if t.debit_account_id == t.credit_account_id:
        return CreateTransferResult.ACCOUNTS_MUST_BE_DIFFERENT
    if t.pending_id != 0:
        return CreateTransferResult.PENDING_ID_MUST_BE_ZERO
    if t.timeout_s != 0 and not flags & _PENDING:
        return CreateTransferResult.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    if not 0 <= t.timeout_s <= INT64_MAX // NS_PER_S:
        return CreateTransferResult.TIMEOUT_OUT_OF_RANGE
    error = _check_common_fields(t)
    if error is not None:
        return error
    if t.amount == 0 and not flags & _CLOSING_FLAGS:
        return CreateTransferResult.AMOUNT_MUST_NOT_BE_ZERO
    if not valid_currency(t.currency):
        return CreateTransferResult.INVALID_CURRENCY
    return None


def _apply_new(state: _BatchState, t: Transfer, flags: int) -> CreateTransferResult:
    error = _check_new_fields(t, flags)
    if error is not None:
        return error
    debit = state.accounts.get(t.debit_account_id)
    if debit is None:
        return CreateTransferResult.DEBIT_ACCOUNT_NOT_FOUND
    credit = state.accounts.get(t.credit_account_id)
    if credit is None:
        return CreateTransferResult.CREDIT_ACCOUNT_NOT_FOUND
    if debit.currency != credit.currency:
        return CreateTransferResult.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY
    if t.currency != debit.currency:
        return CreateTransferResult.TRANSFER_MUST_HAVE_THE_SAME_CURRENCY_AS_ACCOUNTS
    if debit.flags & _CLOSED:
        return CreateTransferResult.DEBIT_ACCOUNT_ALREADY_CLOSED
    if credit.flags & _CLOSED:
        return CreateTransferResult.CREDIT_ACCOUNT_ALREADY_CLOSED
    amount = t.amount
    is_pending = flags & _PENDING
    expires_at_ns = None
    if is_pending and t.timeout_s:
        expires_at_ns = state.timestamp_ns + t.timeout_s * NS_PER_S
        if expires_at_ns > INT64_MAX:
            return CreateTransferResult.TIMEOUT_OUT_OF_RANGE
    error = _check_balances(debit, credit, amount, is_pending)
    if error is not None:
        return error
    state.save_account(debit)
    state.save_account(credit)
    fields = make_stored_transfer((
        t.id, debit.id, credit.id, amount, t.currency, t.code, flags, None, t.timeout_s,
        t.user_data or None,
    ))  # fmt: skip
    if is_pending:
        debit.debits_pending += amount
        credit.credits_pending += amount
        if flags & _CLOSING_DEBIT:
            debit.flags |= _CLOSED
        if flags & _CLOSING_CREDIT:
            credit.flags |= _CLOSED
        row = make_pending_row((
            t.id, debit.id, credit.id, amount, t.currency, t.code, flags,
            TransferKind.PENDING, PendingStatus.PENDING, expires_at_ns,
        ))  # fmt: skip
        state.pendings[t.id] = PendingState(row, is_new=True)
        state.add(t, fields, TransferKind.PENDING)
    else:
        debit.debits_posted += amount
        credit.credits_posted += amount
        state.add(t, fields, TransferKind.PLAIN)
    return CreateTransferResult.OK


def _check_balances(
    debit: AccountState, credit: AccountState, amount: int, is_pending: int
) -> CreateTransferResult | None:
    if is_pending:
        if debit.debits_pending + amount > INT64_MAX:
            return CreateTransferResult.OVERFLOWS_DEBITS_PENDING
        if credit.credits_pending + amount > INT64_MAX:
            return CreateTransferResult.OVERFLOWS_CREDITS_PENDING
    else:
        if debit.debits_posted + amount > INT64_MAX:
            return CreateTransferResult.OVERFLOWS_DEBITS_POSTED
        if credit.credits_posted + amount > INT64_MAX:
            return CreateTransferResult.OVERFLOWS_CREDITS_POSTED
    debits = debit.debits_posted + debit.debits_pending + amount
    if debits > INT64_MAX:
        return CreateTransferResult.OVERFLOWS_DEBITS
    credits = credit.credits_posted + credit.credits_pending + amount
    if credits > INT64_MAX:
        return CreateTransferResult.OVERFLOWS_CREDITS
    if debit.flags & _DEBITS_MUST_NOT_EXCEED_CREDITS and debits > debit.credits_posted:
        return CreateTransferResult.EXCEEDS_CREDITS
    if credit.flags & _CREDITS_MUST_NOT_EXCEED_DEBITS and credits > credit.debits_posted:
        return CreateTransferResult.EXCEEDS_DEBITS
    return None


def _check_post_or_void_fields(t: Transfer) -> CreateTransferResult | None:
    if t.pending_id == 0:
        return CreateTransferResult.PENDING_ID_MUST_NOT_BE_ZERO
    if t.pending_id == t.id:
        return CreateTransferResult.PENDING_ID_MUST_BE_DIFFERENT
    if t.timeout_s != 0:
        return CreateTransferResult.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    error = _check_common_fields(t)
    if error is not None:
        return error
    if t.currency and not valid_currency(t.currency):
        return CreateTransferResult.INVALID_CURRENCY
    return None


def _match_pending(t: Transfer, pending: PendingState) -> CreateTransferResult | None:
    if pending.kind != TransferKind.PENDING:
        return CreateTransferResult.PENDING_TRANSFER_NOT_PENDING
    if t.debit_account_id not in (0, pending.debit):
        return CreateTransferResult.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
    if t.credit_account_id not in (0, pending.credit):
        return CreateTransferResult.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
    if t.currency not in ("", pending.currency):
        return CreateTransferResult.PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY
    if t.code not in (0, pending.code):
        return CreateTransferResult.PENDING_TRANSFER_HAS_DIFFERENT_CODE
    return None


def _apply_post_or_void(state: _BatchState, t: Transfer, flags: int) -> CreateTransferResult:
    error = _check_post_or_void_fields(t)
    if error is not None:
        return error
    pending = state.pendings.get(t.pending_id)
    if pending is None:
        # Created earlier in this batch but not pending: it is not in `pendings`.
        in_batch = t.pending_id in state.known
        return (
            CreateTransferResult.PENDING_TRANSFER_NOT_PENDING
            if in_batch
            else CreateTransferResult.PENDING_TRANSFER_NOT_FOUND
        )
    error = _match_pending(t, pending)
    if error is not None:
        return error
    is_post = flags & _POST_PENDING
    amount = t.amount or pending.amount
    if is_post and amount > pending.amount:
        return CreateTransferResult.EXCEEDS_PENDING_TRANSFER_AMOUNT
    if not is_post and amount != pending.amount:
        return CreateTransferResult.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
    if pending.status != PendingStatus.PENDING:
        return _STATUS_RESULT[pending.status]
    if pending.expires_at_ns is not None and pending.expires_at_ns <= state.timestamp_ns:
        return CreateTransferResult.PENDING_TRANSFER_EXPIRED
    debit, credit = state.accounts[pending.debit], state.accounts[pending.credit]
    if is_post and debit.debits_posted + amount > INT64_MAX:
        return CreateTransferResult.OVERFLOWS_DEBITS_POSTED
    if is_post and credit.credits_posted + amount > INT64_MAX:
        return CreateTransferResult.OVERFLOWS_CREDITS_POSTED
    state.save_account(debit)
    state.save_account(credit)
    state.save_pending(pending)
    release_pending(debit, credit, pending)
    if is_post:
        debit.debits_posted += amount
        credit.credits_posted += amount
        pending.status = PendingStatus.POSTED
    else:
        pending.status = PendingStatus.VOIDED
        reopen_closed(debit, credit, pending)
    fields = make_stored_transfer((
        t.id, pending.debit, pending.credit, amount, pending.currency, pending.code, flags,
        pending.id, 0, t.user_data or None,
    ))  # fmt: skip
    state.add(t, fields, TransferKind.POST if is_post else TransferKind.VOID)
    return CreateTransferResult.OK


def release_pending(debit: AccountState, credit: AccountState, pending: PendingState) -> None:
    debit.debits_pending -= pending.amount
    credit.credits_pending -= pending.amount


def reopen_closed(debit: AccountState, credit: AccountState, pending: PendingState) -> None:
    """A voided or expired closing transfer reopens the account(s) it closed."""
    if pending.flags & _CLOSING_DEBIT:
        debit.flags &= ~_CLOSED
    if pending.flags & _CLOSING_CREDIT:
        credit.flags &= ~_CLOSED
