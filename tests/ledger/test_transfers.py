"""Behaviour of create_transfers on SQLite and PostgreSQL: life cycle, chains, idempotency, bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from ledger import (
    Account,
    AccountFlags,
    LedgerBatchTooLarge,
    PendingStatus,
    Transfer,
    check_ledger,
    create_accounts,
    create_transfers,
    expire_pending_transfers,
    get_balance,
    get_transfers,
)
from ledger import (
    CreateTransferResult as R,
)
from ledger import (
    TransferFlags as F,
)
from ledger.model import INT64_MAX
from ledger.transfers import MAX_BATCH
from tests.ledger.helpers import dump

S = 1_000_000_000
KES = "KES"
# 1: wallet that may not go negative, 2: open account, 3: another wallet, 9: USD account.
ACCOUNTS = [
    Account(1, KES, code=300, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    Account(2, KES, code=200),
    Account(3, KES, code=300, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    Account(4, KES, code=100, flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    Account(5, KES, code=300),
    Account(9, "USD"),
]


@pytest.fixture
def funded(engine: Engine) -> Engine:
    """Accounts above; wallet 1 holds 1,000 (from 2)."""
    with engine.begin() as conn:
        create_accounts(conn, ACCOUNTS, now_ns=0)
        assert create_transfers(conn, [Transfer(100, 2, 1, 1000, KES)], now_ns=0) == [R.OK]
    return engine


def post(engine: Engine, transfers: list[Transfer], now_ns: int = S) -> list[R]:
    with engine.begin() as conn:
        return create_transfers(conn, transfers, now_ns=now_ns)


def balances(engine: Engine, account_id: int) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        b = get_balance(conn, account_id)
    return (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)


def assert_invariants(engine: Engine) -> None:
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.ok, report.violations


def test_plain_transfer_moves_money_and_is_idempotent(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 300, KES, user_data="inbox:7")]) == [R.OK]
    assert post(funded, [Transfer(1, 1, 3, 300, KES, user_data="inbox:7")]) == [R.EXISTS]
    assert post(funded, [Transfer(1, 1, 3, 301, KES, user_data="inbox:7")]) == [
        R.EXISTS_WITH_DIFFERENT_FIELDS
    ]
    assert balances(funded, 1) == (300, 1000, 0, 0)
    assert balances(funded, 3) == (0, 300, 0, 0)
    assert_invariants(funded)


def test_same_id_twice_in_one_batch(funded: Engine) -> None:
    same = Transfer(1, 1, 3, 10, KES)
    assert post(funded, [same, same, Transfer(1, 1, 3, 11, KES)]) == [
        R.OK,
        R.EXISTS,
        R.EXISTS_WITH_DIFFERENT_FIELDS,
    ]
    assert balances(funded, 3) == (0, 10, 0, 0)


def test_debits_must_not_exceed_credits(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 1001, KES)]) == [R.EXCEEDS_CREDITS]
    assert post(funded, [Transfer(2, 1, 3, 1000, KES)]) == [R.OK]
    # account 4 is debit-normal: its credits may not exceed its debits
    assert post(funded, [Transfer(3, 2, 4, 1, KES)]) == [R.EXCEEDS_DEBITS]


def test_pending_then_partial_post_releases_the_rest(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 400, KES, flags=F.PENDING, timeout_s=60)]) == [R.OK]
    assert balances(funded, 1) == (0, 1000, 400, 0)
    # the reservation counts against the limit
    assert post(funded, [Transfer(2, 1, 3, 601, KES)]) == [R.EXCEEDS_CREDITS]
    assert post(funded, [Transfer(3, amount=500, pending_id=1, flags=F.POST_PENDING)]) == [
        R.EXCEEDS_PENDING_TRANSFER_AMOUNT
    ]
    assert post(funded, [Transfer(3, amount=250, pending_id=1, flags=F.POST_PENDING)]) == [R.OK]
    assert balances(funded, 1) == (250, 1000, 0, 0)
    assert balances(funded, 3) == (0, 250, 0, 0)
    assert post(funded, [Transfer(4, pending_id=1, flags=F.VOID_PENDING)]) == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]
    with funded.connect() as conn:
        assert get_transfers(conn, [1])[1].pending_status is PendingStatus.POSTED
    assert_invariants(funded)


def test_post_in_full_and_void(funded: Engine) -> None:
    pending = [Transfer(i, 1, 3, 100, KES, flags=F.PENDING) for i in (1, 2)]
    assert post(funded, pending) == [R.OK, R.OK]
    assert post(funded, [Transfer(3, pending_id=1, flags=F.POST_PENDING)]) == [R.OK]
    assert post(funded, [Transfer(4, pending_id=2, flags=F.VOID_PENDING)]) == [R.OK]
    assert post(funded, [Transfer(5, pending_id=2, flags=F.POST_PENDING)]) == [
        R.PENDING_TRANSFER_ALREADY_VOIDED
    ]
    assert balances(funded, 1) == (100, 1000, 0, 0)
    assert_invariants(funded)


def test_pending_expires_and_can_no_longer_be_posted(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 100, KES, flags=F.PENDING, timeout_s=30)], S) == [R.OK]
    with funded.begin() as conn:
        assert expire_pending_transfers(conn, now_ns=S + 29 * S) == []
    # due but not yet swept: a post is refused all the same
    late = Transfer(2, pending_id=1, flags=F.POST_PENDING)
    assert post(funded, [late], now_ns=S + 30 * S) == [R.PENDING_TRANSFER_EXPIRED]
    with funded.begin() as conn:
        assert expire_pending_transfers(conn, now_ns=S + 30 * S) == [1]
    assert balances(funded, 1) == (0, 1000, 0, 0)
    assert post(funded, [late], now_ns=S + 31 * S) == [R.PENDING_TRANSFER_EXPIRED]
    assert_invariants(funded)


def test_linked_chain_is_all_or_nothing(funded: Engine) -> None:
    principal = Transfer(1, 1, 3, 900, KES, flags=F.LINKED)
    fee = Transfer(2, 1, 2, 200, KES)  # 900 + 200 > 1000: the fee fails, so the chain does
    assert post(funded, [principal, fee]) == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert balances(funded, 1) == (0, 1000, 0, 0)
    fee = Transfer(2, 1, 2, 100, KES)
    assert post(funded, [principal, fee]) == [R.OK, R.OK]
    assert post(funded, [principal, fee]) == [R.EXISTS, R.EXISTS]  # a retry of the chain
    assert balances(funded, 1) == (1000, 1000, 0, 0)
    assert_invariants(funded)


def test_chain_mixing_existing_and_new_fails(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 10, KES)]) == [R.OK]
    chain = [Transfer(2, 1, 3, 10, KES, flags=F.LINKED), Transfer(1, 1, 3, 10, KES)]
    assert post(funded, chain) == [R.LINKED_EVENT_FAILED, R.EXISTS]
    assert balances(funded, 3) == (0, 10, 0, 0)


def test_open_chain_at_end_of_batch_applies_nothing(funded: Engine) -> None:
    batch = [Transfer(1, 1, 3, 10, KES), Transfer(2, 1, 3, 10, KES, flags=F.LINKED)]
    batch.append(Transfer(3, 1, 3, 10, KES, flags=F.LINKED))
    assert post(funded, batch) == [R.OK, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]
    assert balances(funded, 3) == (0, 10, 0, 0)


def test_failed_chain_rolls_back_a_post_and_a_pending_created_in_it(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 100, KES, flags=F.PENDING)]) == [R.OK]
    chain = [
        Transfer(2, pending_id=1, flags=F.POST_PENDING | F.LINKED),
        Transfer(3, 1, 3, 50, KES, flags=F.PENDING | F.LINKED),
        Transfer(4, 9, 3, 1, KES),  # currency mismatch
    ]
    assert post(funded, chain) == [
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY,
    ]
    assert balances(funded, 1) == (0, 1000, 100, 0)
    assert post(funded, [Transfer(5, pending_id=3, flags=F.VOID_PENDING)]) == [
        R.PENDING_TRANSFER_NOT_FOUND
    ]
    assert post(funded, [Transfer(2, pending_id=1, flags=F.POST_PENDING)]) == [R.OK]
    assert_invariants(funded)


def test_closing_transfer_closes_and_void_reopens(funded: Engine) -> None:
    closing = Transfer(1, 3, 2, 0, KES, flags=F.PENDING | F.CLOSING_DEBIT)
    assert post(funded, [closing]) == [R.OK]
    assert post(funded, [Transfer(2, 1, 3, 10, KES)]) == [R.CREDIT_ACCOUNT_ALREADY_CLOSED]
    assert post(funded, [Transfer(3, 3, 2, 0, KES, flags=F.PENDING | F.CLOSING_DEBIT)]) == [
        R.DEBIT_ACCOUNT_ALREADY_CLOSED
    ]
    assert_invariants(funded)
    assert post(funded, [Transfer(4, pending_id=1, flags=F.VOID_PENDING)]) == [R.OK]
    assert post(funded, [Transfer(2, 1, 3, 10, KES)]) == [R.OK]
    assert_invariants(funded)


def test_batch_over_the_limit_raises(engine: Engine) -> None:
    with pytest.raises(LedgerBatchTooLarge), engine.begin() as conn:
        create_transfers(conn, [Transfer(i + 1, 1, 2, 1, KES) for i in range(MAX_BATCH + 1)], 0)


def test_timestamps_never_go_backwards(funded: Engine) -> None:
    assert post(funded, [Transfer(1, 1, 3, 1, KES)], now_ns=50 * S) == [R.OK]
    assert post(funded, [Transfer(2, 1, 3, 1, KES)], now_ns=10 * S) == [R.OK]
    with funded.connect() as conn:
        found = get_transfers(conn, [1, 2])
    assert found[2].timestamp_ns == found[1].timestamp_ns == 50 * S
    assert found[2].seq == found[1].seq + 1


BIG = INT64_MAX - 5
BAD_INPUT = [
    (Transfer(0, 1, 3, 1, KES), R.ID_OUT_OF_RANGE),
    (Transfer(2**63, 1, 3, 1, KES), R.ID_OUT_OF_RANGE),
    (Transfer(1, 1, 3, 1, KES, flags=1 << 9), R.RESERVED_FLAG),
    (Transfer(1, 1, 3, 1, KES, flags=F.PENDING | F.VOID_PENDING), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
    (Transfer(1, 1, 3, 1, KES, flags=F.CLOSING_CREDIT), R.CLOSING_TRANSFER_MUST_BE_PENDING),
    (Transfer(1, 0, 3, 1, KES), R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
    (Transfer(1, 1, 0, 1, KES), R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
    (Transfer(1, 1, 1, 1, KES), R.ACCOUNTS_MUST_BE_DIFFERENT),
    (Transfer(1, 1, 3, 1, KES, pending_id=100), R.PENDING_ID_MUST_BE_ZERO),
    (Transfer(1, 1, 3, 1, KES, timeout_s=5), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
    (Transfer(1, 1, 3, 1, KES, flags=F.PENDING, timeout_s=-1), R.TIMEOUT_OUT_OF_RANGE),
    (Transfer(1, 1, 2, 1, KES, flags=F.PENDING, timeout_s=INT64_MAX // S), R.TIMEOUT_OUT_OF_RANGE),
    (Transfer(1, 1, 3, 0, KES), R.AMOUNT_MUST_NOT_BE_ZERO),
    (Transfer(1, 1, 3, -5, KES), R.AMOUNT_MUST_NOT_BE_NEGATIVE),
    (Transfer(1, 2, 3, 2**63, KES), R.AMOUNT_OVERFLOWS),
    (Transfer(1, 1, 3, 1, "kes"), R.INVALID_CURRENCY),
    (Transfer(1, 1, 3, 1, KES, code=-1), R.CODE_OUT_OF_RANGE),
    (Transfer(1, 1, 3, 1, KES, user_data="x" * 65), R.USER_DATA_TOO_LONG),
    (Transfer(1, 77, 3, 1, KES), R.DEBIT_ACCOUNT_NOT_FOUND),
    (Transfer(1, 1, 77, 1, KES), R.CREDIT_ACCOUNT_NOT_FOUND),
    (Transfer(1, 9, 3, 1, KES), R.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY),
    (Transfer(1, 1, 3, 1, "USD"), R.TRANSFER_MUST_HAVE_THE_SAME_CURRENCY_AS_ACCOUNTS),
    (Transfer(1, 2, 3, BIG, KES), R.OVERFLOWS_DEBITS_POSTED),
    (Transfer(1, 3, 1, BIG, KES), R.OVERFLOWS_CREDITS_POSTED),
    (Transfer(1, 3, 2, BIG, KES), R.OVERFLOWS_CREDITS),
    (Transfer(1, 2, 3, BIG, KES, flags=F.PENDING), R.OVERFLOWS_DEBITS),
    (Transfer(1, 100, pending_id=0, flags=F.POST_PENDING), R.PENDING_ID_MUST_NOT_BE_ZERO),
    (Transfer(1, pending_id=1, flags=F.POST_PENDING), R.PENDING_ID_MUST_BE_DIFFERENT),
    (Transfer(1, pending_id=55, flags=F.POST_PENDING), R.PENDING_TRANSFER_NOT_FOUND),
    (Transfer(1, pending_id=100, flags=F.POST_PENDING), R.PENDING_TRANSFER_NOT_PENDING),
    (
        Transfer(1, pending_id=101, flags=F.VOID_PENDING, timeout_s=1),
        R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER,
    ),
    (
        Transfer(1, 3, pending_id=101, flags=F.VOID_PENDING),
        R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID,
    ),
    (
        Transfer(1, 0, 3, pending_id=101, flags=F.VOID_PENDING),
        R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID,
    ),
    (
        Transfer(1, currency="USD", pending_id=101, flags=F.VOID_PENDING),
        R.PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY,
    ),
    (
        Transfer(1, code=5, pending_id=101, flags=F.VOID_PENDING),
        R.PENDING_TRANSFER_HAS_DIFFERENT_CODE,
    ),
    (
        Transfer(1, amount=5, pending_id=101, flags=F.VOID_PENDING),
        R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT,
    ),
    (Transfer(1, pending_id=102, flags=F.POST_PENDING), R.PENDING_TRANSFER_ALREADY_VOIDED),
    (Transfer(1, pending_id=102, flags=F.VOID_PENDING), R.PENDING_TRANSFER_ALREADY_VOIDED),
    (Transfer(1, pending_id=104, flags=F.POST_PENDING), R.PENDING_TRANSFER_EXPIRED),
    (Transfer(1, 1, 5, 1, KES), R.CREDIT_ACCOUNT_ALREADY_CLOSED),
    (Transfer(1, 5, 2, 1, KES), R.DEBIT_ACCOUNT_ALREADY_CLOSED),
    (Transfer(1, 1, 4, 1, KES), R.EXCEEDS_DEBITS),
    (Transfer(1, 1, 2, 991, KES), R.EXCEEDS_CREDITS),
    (Transfer(100, 2, 1, 1000, KES), R.EXISTS),
    (Transfer(100, 2, 1, 999, KES), R.EXISTS_WITH_DIFFERENT_FIELDS),
]


@pytest.fixture
def prepared(funded: Engine) -> Engine:
    """funded + pending 101 (1→2, 10, live), 102 (voided), 104 (timed out); account 5 closed."""
    assert post(funded, [
        Transfer(101, 1, 2, 10, KES, flags=F.PENDING),
        Transfer(102, 1, 2, 10, KES, flags=F.PENDING),
        Transfer(103, pending_id=102, flags=F.VOID_PENDING),
        Transfer(104, 1, 2, 10, KES, flags=F.PENDING, timeout_s=1),
        Transfer(105, 5, 2, 0, KES, flags=F.PENDING | F.CLOSING_DEBIT),
    ], now_ns=0) == [R.OK] * 5  # fmt: skip
    return funded


@pytest.mark.parametrize(("transfer", "expected"), BAD_INPUT, ids=[e.value for _t, e in BAD_INPUT])
def test_bad_input_gets_its_code_and_changes_nothing(
    prepared: Engine, transfer: Transfer, expected: R
) -> None:
    with prepared.begin() as conn:
        before = dump(conn)
        assert create_transfers(conn, [transfer], now_ns=2 * S) == [expected]
        assert dump(conn) == before
    assert_invariants(prepared)
