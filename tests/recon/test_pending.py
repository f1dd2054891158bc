"""Report 5: pending transfers, vouchers and reversals by age (on SQLite and PostgreSQL)."""

from sqlalchemy import insert, update

from daemon.chart import TransferCode
from daemon.commands import Role
from daemon.money.moves import Leg, MoveKind, MoveState
from daemon.money.reversal_records import ReversalState, create_reversal_txn
from daemon.money.settle import HOOK
from daemon.outbox import OutgoingSms, queue_sms_txn
from daemon.recon.pending import bucket, pending_report_txn
from daemon.schema import moves, vouchers
from tests.recon.books import NS, Books, utc_ns

T0 = utc_ns("2025-12-01T09:00")
DELIVER_BY_S = 600


def _pending_send(books: Books) -> object:
    """A SEND whose money is reserved until its confirmation SMS is delivered (by T0 + 600 s)."""
    payer = books.person("254700000001")
    payee = books.person("254700000002")
    books.issue("254700000001", payer, 1_000_000, T0 - 86_400 * NS, kind=MoveKind.ISSUE)
    leg = Leg(payer, payee, 100_000, TransferCode.P2P)
    move = books.move(MoveKind.SEND, "254700000001", "254700000002", [leg], T0,
                      state=MoveState.PENDING)  # fmt: skip
    sms = OutgoingSms("254700000001", "sent", "12345", on_failure=HOOK, on_failure_ref=move.id,
                      deliver_by_ns=T0 + DELIVER_BY_S * NS)  # fmt: skip
    with books.engine.begin() as conn:
        queue_sms_txn(conn, [sms], T0)
    return move


def _report(books: Books, now_ns: int):
    with books.engine.connect() as conn:
        return pending_report_txn(conn, now_ns, grace_s=60)


def test_buckets() -> None:
    assert [bucket(s) for s in (0, 3599, 3600, 86_399, 86_400, 7 * 86_400)] == [
        "under 1 hour", "under 1 hour", "1 to 24 hours", "1 to 24 hours", "1 to 7 days",
        "over 7 days",
    ]  # fmt: skip


def test_open_items_within_their_deadlines_balance(any_books: Books) -> None:
    move = _pending_send(any_books)
    with any_books.engine.begin() as conn:
        create_reversal_txn(conn, move, "254700000001", ReversalState.UNFUNDED, None, None, T0)
    report = _report(any_books, T0 + 300 * NS)
    assert report.ok, report.problems
    assert report.rows == [
        ("pending transfer", "under 1 hour", 1, 100_000, 0),
        ("reversal", "under 1 hour", 1, 100_000, 0),
    ]
    week_later = _report(any_books, T0 + 8 * 86_400 * NS)  # a reversal has no deadline
    assert ("reversal", "over 7 days", 1, 100_000, 0) in week_later.rows


def test_a_transfer_past_its_confirmation_deadline_is_overdue(any_books: Books) -> None:
    move = _pending_send(any_books)
    report = _report(any_books, T0 + (DELIVER_BY_S + 61) * NS)
    assert report.rows == [("pending transfer", "under 1 hour", 1, 100_000, 1)]
    assert report.problems == [
        f"1 past their deadline: transfer {move.leg_id(0)} (move {move.ref}, pending)"
    ]
    assert _report(any_books, T0 + (DELIVER_BY_S + 59) * NS).ok  # within the grace


def test_an_expired_voucher_still_open_is_overdue(any_books: Books) -> None:
    payer = any_books.person("254700000001")
    any_books.issue("254700000001", payer, 1_000_000, T0, kind=MoveKind.ISSUE)
    leg = Leg(payer, 4, 20_000, TransferCode.VOUCHER)  # to the voucher suspense account
    move = any_books.move(MoveKind.VOUCHER, "254700000001", None, [leg], T0)
    with any_books.engine.begin() as conn:
        voucher_id = conn.execute(insert(vouchers).values(
            move_id=move.id, sender_msisdn="254700000001", recipient_msisdn="254799999999",
            amount_minor=20_000, code_hmac=b"x" * 32, state="open", created_at_ns=T0,
            expires_at_ns=T0 + 7 * 86_400 * NS,
        )).inserted_primary_key[0]  # fmt: skip
    assert _report(any_books, T0 + 6 * 86_400 * NS).ok
    late = _report(any_books, T0 + 8 * 86_400 * NS)
    assert late.rows == [("voucher", "over 7 days", 1, 20_000, 1)]
    assert late.problems == [f"1 past their deadline: voucher {voucher_id} (open)"]


def test_money_still_reserved_for_an_ended_move_is_found(any_books: Books) -> None:
    move = _pending_send(any_books)
    with any_books.engine.begin() as conn:  # the move row says posted; its leg was never posted
        conn.execute(update(moves).where(moves.c.id == move.id).values(state="posted"))
    report = _report(any_books, T0 + 60 * NS)
    assert report.problems == [
        f"transfer {move.leg_id(0)} (move {move.ref}, posted): the move is posted but its money "
        "is still reserved"
    ]


def test_an_agent_store_role_is_not_needed(any_books: Books) -> None:
    any_books.person("254712000100", Role.AGENT)
    report = _report(any_books, T0)
    assert report.ok and report.rows == []
