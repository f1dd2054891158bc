"""The staff's moves table names the other side of a move with no subscriber there: the biller or
till (the move's detail), or the system account it came from, never "trust" for all of them."""

from rich.console import Console

from daemon.admin.views import moves_table
from daemon.money.moves import Move, MoveKind, MoveState


def _move(kind: MoveKind, payer: str | None, payee: str | None, detail: str | None = None) -> Move:
    return Move(
        id=1, ref="QK7A2B9XYZ", kind=kind, state=MoveState.POSTED, payer_msisdn=payer,
        payee_msisdn=payee, actor_msisdn=None, amount_minor=10_000, fee_minor=0,
        commission_minor=0, transfer_id_base=None, legs=1, inbox_id=None, audit_id=None,
        code_hmac=None, created_at_ns=1_764_590_400 * 10**9, decided_at_ns=None,
        expires_at_ns=None, detail=detail,
    )  # fmt: skip


def _shown(move: Move) -> str:
    console = Console(width=200, record=True)
    console.print(moves_table([move], "KES", "Africa/Nairobi"))
    return console.export_text()


def test_a_refund_comes_from_the_reversal_suspense_account():
    shown = _shown(_move(MoveKind.REVERSAL, None, "254712000001"))
    assert "reversal suspense" in shown and "trust" not in shown


def test_a_bill_shows_its_biller_and_account():
    assert "KPLC 12345678" in _shown(_move(MoveKind.BILL, "254712000001", None, "KPLC 12345678"))


def test_e_money_issued_by_staff_comes_from_trust():
    assert "trust" in _shown(_move(MoveKind.ISSUE, None, "254712000001"))
