"""Moves: linked chains posted at once, or reserved then posted or voided; refusals keep nothing."""

import pytest

from daemon.chart import SystemAccount, TransferCode, deposit_txn, ensure_chart_txn, open_wallet_txn
from daemon.commands import Role
from daemon.money.moves import (
    LedgerRefusal,
    Leg,
    MoveError,
    MoveKind,
    MoveRequest,
    MoveState,
    find_move_by_ref_txn,
    open_move_txn,
    post_move_txn,
    recent_moves_txn,
    release_move_txn,
    reserve_held_txn,
)
from daemon.schema import moves
from ledger import check_ledger, get_balance

NOW = 1_700_000_000 * 10**9
ALICE, BOB = "254712000001", "254712000002"


@pytest.fixture
def wallets(engine):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        alice = open_wallet_txn(conn, ALICE, Role.CUSTOMER, "KES", NOW)
        bob = open_wallet_txn(conn, BOB, Role.CUSTOMER, "KES", NOW)
        deposit_txn(conn, alice, 10_000, "KES", NOW, transfer_id=7, user_data="test")
    return alice, bob


def _send(alice: int, bob: int, amount: int = 1_000, fee: int = 50) -> MoveRequest:
    legs = [
        Leg(alice, bob, amount, TransferCode.P2P),
        Leg(alice, int(SystemAccount.FEE_INCOME), fee, TransferCode.FEE),
    ]
    return MoveRequest(MoveKind.SEND, ALICE, BOB, amount, legs, fee_minor=fee)


def _available(conn, account_id: int) -> int:
    return get_balance(conn, account_id).available


def test_posted_at_once_moves_principal_and_fee_together(engine, wallets):
    alice, bob = wallets
    with engine.begin() as conn:
        move = open_move_txn(conn, _send(alice, bob), currency="KES", now_ns=NOW)
        assert move.state is MoveState.POSTED and len(move.ref) == 10
        assert _available(conn, alice) == 10_000 - 1_050
        assert _available(conn, bob) == 1_000
        assert find_move_by_ref_txn(conn, move.ref.lower()) == move
        assert recent_moves_txn(conn, BOB) == [move]
        assert check_ledger(conn).ok


def test_a_refused_leg_keeps_nothing(engine, wallets):
    alice, bob = wallets
    with engine.begin() as conn:
        refusal = open_move_txn(conn, _send(alice, bob, amount=9_990), currency="KES", now_ns=NOW)
        assert isinstance(refusal, LedgerRefusal) and refusal.insufficient_funds
        assert refusal.leg == 1  # the fee leg is the one that went over
        assert _available(conn, alice) == 10_000 and _available(conn, bob) == 0
        assert conn.execute(moves.select()).first() is None


def test_pending_then_posted(engine, wallets):
    alice, bob = wallets
    with engine.begin() as conn:
        move = open_move_txn(
            conn, _send(alice, bob), currency="KES", now_ns=NOW, state=MoveState.PENDING
        )
        assert _available(conn, alice) == 10_000 - 1_050  # reserved
        assert _available(conn, bob) == 0  # not yet credited
        posted = post_move_txn(conn, move, "KES", NOW + 1)
        assert posted.state is MoveState.POSTED and posted.decided_at_ns == NOW + 1
        assert _available(conn, bob) == 1_000
        with pytest.raises(MoveError):
            post_move_txn(conn, posted, "KES", NOW + 2)  # never posted twice
        assert check_ledger(conn).ok


def test_pending_then_voided_gives_everything_back(engine, wallets):
    alice, bob = wallets
    with engine.begin() as conn:
        move = open_move_txn(
            conn, _send(alice, bob), currency="KES", now_ns=NOW, state=MoveState.PENDING
        )
        voided = release_move_txn(conn, move, MoveState.VOIDED, "KES", NOW + 1)
        assert voided.state is MoveState.VOIDED
        assert _available(conn, alice) == 10_000 and _available(conn, bob) == 0
        with pytest.raises(MoveError):
            release_move_txn(conn, move, MoveState.VOIDED, "KES", NOW + 2)  # stale copy
        assert recent_moves_txn(conn, ALICE) == []
        assert check_ledger(conn).ok


def test_held_reserves_nothing_until_confirmed(engine, wallets):
    alice, bob = wallets
    request = _send(alice, bob)
    with engine.begin() as conn:
        held = open_move_txn(conn, request, currency="KES", now_ns=NOW, state=MoveState.HELD)
        assert _available(conn, alice) == 10_000
        pending = reserve_held_txn(conn, held, request.legs, "KES", NOW + 1, MoveState.PENDING)
        assert pending.state is MoveState.PENDING
        assert _available(conn, alice) == 10_000 - 1_050
        post_move_txn(conn, pending, "KES", NOW + 2)
        assert _available(conn, bob) == 1_000


def test_release_refuses_a_state_that_moves_money(engine, wallets):
    alice, bob = wallets
    with engine.begin() as conn:
        move = open_move_txn(conn, _send(alice, bob), currency="KES", now_ns=NOW)
        with pytest.raises(MoveError):
            release_move_txn(conn, move, MoveState.POSTED, "KES", NOW)
        with pytest.raises(MoveError):
            release_move_txn(conn, move, MoveState.VOIDED, "KES", NOW)  # posted: too late
