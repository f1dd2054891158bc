"""Flags, limits and the plain data the ledger takes in and hands out.

Money is integer minor units of the account's ISO 4217 currency. Ids are caller-chosen positive
64-bit integers (the transfer id is the idempotency key). Times are integer nanoseconds since the
Unix epoch and always come from the caller: nothing in the ledger reads the system clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

INT64_MAX = 2**63 - 1  # ids, amounts and balances are SQL BIGINT (signed 64-bit everywhere)
INT32_MAX = 2**31 - 1  # codes are SQL INTEGER
# user_data is a short caller reference (an inbox id, "admin:deposit:2547..."), not a document;
# bounded so that an index on it stays small. The columns are VARCHAR of this length.
USER_DATA_MAX_CHARS = 64
NS_PER_S = 1_000_000_000


_VALID_CURRENCIES: set[str] = set()  # at most 26**3 entries


def valid_currency(code: str) -> bool:
    """An ISO 4217 alphabetic code: three ASCII capital letters (memoized: it runs per transfer)."""
    if code in _VALID_CURRENCIES:
        return True
    valid = len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()
    if valid:
        _VALID_CURRENCIES.add(code)
    return valid


class AccountFlags(enum.IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2
    # Set and cleared only by closing transfers (TransferFlags.CLOSING_*), never by create_accounts.
    CLOSED = 1 << 3


ACCOUNT_FLAGS_SETTABLE = (
    AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
)


class TransferFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1 << 0  # this transfer and the next succeed or fail together
    PENDING = 1 << 1  # reserve the amount; post or void it later
    POST_PENDING = 1 << 2  # post (all or part of) the pending transfer `pending_id`
    VOID_PENDING = 1 << 3  # release the pending transfer `pending_id`
    CLOSING_DEBIT = 1 << 4  # (pending only) close the debit account; voiding it reopens
    CLOSING_CREDIT = 1 << 5  # (pending only) close the credit account; voiding it reopens


TRANSFER_FLAGS_KNOWN = (
    TransferFlags.LINKED
    | TransferFlags.PENDING
    | TransferFlags.POST_PENDING
    | TransferFlags.VOID_PENDING
    | TransferFlags.CLOSING_DEBIT
    | TransferFlags.CLOSING_CREDIT
)
TRANSFER_KIND_FLAGS = (
    TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING
)
CLOSING_FLAGS = TransferFlags.CLOSING_DEBIT | TransferFlags.CLOSING_CREDIT


class TransferKind(enum.IntEnum):
    """Derived from the flags and stored so that SQL folds need no bit arithmetic."""

    PLAIN = 0
    PENDING = 1
    POST = 2
    VOID = 3


class PendingStatus(enum.IntEnum):
    PENDING = 1
    POSTED = 2
    VOIDED = 3
    EXPIRED = 4


class AccountCode(enum.IntEnum):
    """Suggested account codes for a mobile-money chart of accounts; `code` is a free integer."""

    TRUST_BANK = 100  # the bank account that backs all e-money (asset, debit-normal)
    EMONEY_ISSUED = 200  # e-money in circulation, contra of the trust account
    CUSTOMER_WALLET = 300
    AGENT_FLOAT = 310
    MERCHANT_WALLET = 320
    BILLER_SETTLEMENT = 400
    AIRTIME_SETTLEMENT = 410
    VOUCHER_SUSPENSE = 500  # money sent to unregistered recipients, awaiting redemption
    REVERSAL_SUSPENSE = 510  # disputed payments held from their recipients
    FEE_INCOME = 600
    AGENT_COMMISSION = 610


@dataclass(frozen=True, slots=True)
class Account:
    """An account to create. Balances always start at zero."""

    id: int
    currency: str
    code: int = 0
    flags: AccountFlags = AccountFlags.NONE
    user_data: str | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer to create.

    For POST_PENDING / VOID_PENDING, zero (or "") in debit_account_id, credit_account_id, amount,
    currency and code means "as in the pending transfer"; a post with amount 0 posts it in full.
    """

    id: int
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int = 0
    currency: str = ""
    code: int = 0
    flags: TransferFlags = TransferFlags.NONE
    pending_id: int = 0
    timeout_s: int = 0  # pending only; 0 = never expires
    user_data: str | None = None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    currency: str
    code: int
    flags: AccountFlags
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    user_data: str | None
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class TransferRecord:
    seq: int  # position in the hash chain: the ledger's total order
    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    code: int
    flags: TransferFlags
    pending_id: int
    timeout_s: int
    user_data: str | None
    timestamp_ns: int
    pending_status: PendingStatus | None  # only for pending transfers


@dataclass(frozen=True, slots=True)
class Balance:
    """Posted, pending and available balance of one account.

    `available` is seen from the account's normal side: debit-normal accounts are those flagged
    CREDITS_MUST_NOT_EXCEED_DEBITS (assets such as the trust account); all others are credit-normal
    (wallets, float, income), where available = credits_posted - debits_posted - debits_pending.
    """

    account_id: int
    currency: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    debit_normal: bool

    @property
    def posted(self) -> int:
        sign = -1 if self.debit_normal else 1
        return sign * (self.credits_posted - self.debits_posted)

    @property
    def pending(self) -> int:
        sign = -1 if self.debit_normal else 1
        return sign * (self.credits_pending - self.debits_pending)

    @property
    def available(self) -> int:
        if self.debit_normal:
            return self.debits_posted - self.credits_posted - self.credits_pending
        return self.credits_posted - self.debits_posted - self.debits_pending
