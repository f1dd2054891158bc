"""Posting events on the channels: written in the posting's own transaction (a rolled-back posting
leaves no event and takes no number; a second connection sees nothing before the commit), numbered
without gaps, one per party with a channel, the balance after the change; each device at its own
position; the balance and statement endpoints agree with the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.channels.events import get_channel_txn, write_event_txn
from daemon.chart import TransferCode, wallet_account_id
from daemon.money.moves import (
    Leg,
    MoveKind,
    MoveRequest,
    MoveState,
    open_move_txn,
    reserve_held_txn,
)
from daemon.outbox import OutboxStatus
from daemon.schema_api import channel_events, channel_positions
from ledger import make_engine
from tests.api.channels import ALICE, BOB, CAROL, KES, ChannelWorld, opened


@pytest.fixture
def world(engine, tmp_path):
    world = ChannelWorld(engine, tmp_path)
    world.add(ALICE, balance_minor=1000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    world.add(CAROL, balance_minor=50 * KES, name="Carol Chebet")
    yield world
    world.close()
    world.check()


def _postings(device, grant, page) -> list[dict]:
    return [e for e in opened(device, grant, page) if e["type"] == "posting"]


def test_a_send_tells_both_parties_pending_then_posted_with_balances(world):
    alice, bob = world.enrol(ALICE), world.enrol(BOB)
    world.sms(ALICE, "SEND 0712000002 100 1234")
    world.receipts(OutboxStatus.DELIVERED)
    a_grant, b_grant = world.token(alice), world.token(bob)
    paid = _postings(alice, a_grant, world.events(a_grant["token"]))
    got = _postings(bob, b_grant, world.events(b_grant["token"]))
    assert [(e["state"], e["direction"]) for e in paid] == [
        ("pending", "debit"),
        ("posted", "debit"),
    ]
    assert [(e["state"], e["direction"]) for e in got] == [
        ("pending", "credit"),
        ("posted", "credit"),
    ]
    assert {e["kind"] for e in paid + got} == {"send"} and paid[0]["ref"] == got[1]["ref"]
    assert paid[0]["amountMinor"] == 100 * KES and paid[0]["counterparty"] == BOB
    assert got[0]["counterparty"] == ALICE and got[0]["feeMinor"] == 0
    fee = paid[0]["feeMinor"]
    assert paid[0]["availableMinor"] == 1000 * KES - 100 * KES - fee  # reserved
    assert paid[0]["balanceMinor"] == 1000 * KES  # not posted yet
    assert paid[1]["balanceMinor"] == paid[1]["availableMinor"] == world.balance(ALICE)
    assert got[0]["balanceMinor"] == 0 and got[1]["balanceMinor"] == 100 * KES
    balance = world.get("/channels/me/balance", b_grant["token"]).body
    assert balance == {"balanceMinor": 100 * KES, "availableMinor": 100 * KES,
                       "currency": "KES", "headSeq": got[-1]["seq"]}  # fmt: skip


def test_an_undelivered_confirmation_tells_voided(world):
    alice = world.enrol(ALICE)
    world.sms(ALICE, "SEND 0712000002 100 1234")
    world.receipts(OutboxStatus.FAILED)
    grant = world.token(alice)
    states = [e["state"] for e in _postings(alice, grant, world.events(grant["token"]))]
    assert states == ["pending", "voided"]
    assert _postings(alice, grant, world.events(grant["token"]))[-1]["availableMinor"] == 1000 * KES


def test_numbers_have_no_gaps_and_a_refused_send_takes_none(world):
    alice = world.enrol(ALICE)
    for amount in (10, 20, 5000, 30):  # 5000: more than Alice has: refused, nothing moved
        world.sms(ALICE, f"SEND 0712000002 {amount} 1234")
    world.receipts(OutboxStatus.DELIVERED)
    grant = world.token(alice)
    page = world.events(grant["token"])
    seqs = [e["seq"] for e in page["events"]]
    assert seqs == list(range(1, len(seqs) + 1)) and page["head"] == seqs[-1]
    amounts = {e["amountMinor"] for e in _postings(alice, grant, page)}
    assert amounts == {10 * KES, 20 * KES, 30 * KES}
    assert len(seqs) == 1 + 3 * 2  # the enrolment notice, then pending and posted of three sends


def _issue(world, payee: str, amount_minor: int, conn):
    request = MoveRequest(
        kind=MoveKind.ISSUE, payer_msisdn=None, payee_msisdn=payee, amount_minor=amount_minor,
        legs=[Leg(1, wallet_account_id(payee), amount_minor, TransferCode.DEPOSIT)],
    )  # fmt: skip
    return open_move_txn(conn, request, currency="KES", now_ns=world.now_ns)


def test_a_rolled_back_posting_leaves_no_event_and_its_number_is_taken_again(world):
    world.enrol(CAROL)
    with world.engine.connect() as conn:
        before = get_channel_txn(conn, CAROL).next_seq
        conn.rollback()
        transaction = conn.begin()
        _issue(world, CAROL, 5 * KES, conn)
        assert get_channel_txn(conn, CAROL).next_seq == before + 1
        transaction.rollback()
    with world.engine.begin() as conn:
        assert get_channel_txn(conn, CAROL).next_seq == before
        assert conn.execute(select(channel_events.c.seq)).all() == [(1,)]  # the enrolment
        _issue(world, CAROL, 5 * KES, conn)
    with world.engine.begin() as conn:
        assert conn.execute(select(channel_events.c.seq)).all() == [(1,), (before,)]


def test_an_event_is_not_visible_before_its_posting_commits(world):
    world.enrol(CAROL)
    url = world.engine.url.render_as_string(hide_password=False)
    readers = make_engine(url, sqlite_begin="DEFERRED")  # SQLite: a reader beside the writer
    with world.engine.connect() as writer, readers.connect() as reader:
        writer.begin()
        _issue(world, CAROL, 5 * KES, writer)
        written = writer.execute(select(channel_events.c.seq)).all()
        assert len(written) == 2
        reader.begin()
        assert reader.execute(select(channel_events.c.seq)).all() == [(1,)]
        reader.rollback()
        writer.commit()
        assert len(reader.execute(select(channel_events.c.seq)).all()) == 2
    readers.dispose()


def test_two_devices_each_have_their_own_position(world):
    first = world.enrol(ALICE)
    second = world.enrol(ALICE)  # the code sent by SMS: a further device
    world.sms(ALICE, "SEND 0712000002 10 1234")
    world.receipts(OutboxStatus.DELIVERED)
    one, two = world.token(first), world.token(second)
    assert one["channel"] == two["channel"]
    page = world.events(one["token"])
    head = page["head"]
    assert [e["seq"] for e in page["events"]] == list(range(1, head + 1))
    later = world.events(two["token"], after=2, limit=1)
    assert [e["seq"] for e in later["events"]] == [3] and later["next"] == 3
    assert opened(second, two, later) == opened(first, one, {"events": page["events"][2:3]})
    world.events(one["token"], after=head)
    with world.engine.begin() as conn:
        query = select(channel_positions.c.device_id, channel_positions.c.acked_seq)
        rows = {device_id: acked for device_id, acked in conn.execute(query)}
    assert rows == {first.device_id: head, second.device_id: 2}


def test_the_statement_lists_the_latest_moves_from_the_ledger(world):
    bob = world.enrol(BOB)
    world.sms(ALICE, "SEND 0712000002 10 1234")
    world.sms(ALICE, "SEND 0712000002 20 1234")
    world.receipts(OutboxStatus.DELIVERED)
    grant = world.token(bob)
    answer = world.get("/channels/me/statement?limit=5", grant["token"]).body
    assert answer["currency"] == "KES"
    assert [(e["amountMinor"], e["direction"], e["state"]) for e in answer["entries"]] == [
        (20 * KES, "credit", "posted"), (10 * KES, "credit", "posted"),
    ]  # fmt: skip
    assert answer["entries"][0]["counterparty"] == ALICE


def test_no_channel_no_event(world):
    with world.engine.begin() as conn:
        assert write_event_txn(conn, BOB, {"type": "notice"}, world.now_ns) is None
        _issue(world, BOB, 5 * KES, conn)
        assert conn.execute(select(channel_events.c.seq)).all() == []


def test_a_reversal_says_so_by_its_kind(world):
    alice = world.enrol(ALICE)
    with world.engine.begin() as conn:
        request = MoveRequest(
            kind=MoveKind.REVERSAL, payer_msisdn=None, payee_msisdn=ALICE, amount_minor=7 * KES,
            legs=[Leg(1, wallet_account_id(ALICE), 7 * KES, TransferCode.REVERSAL)],
        )  # fmt: skip
        open_move_txn(conn, request, currency="KES", now_ns=world.now_ns, state=MoveState.PENDING)
    grant = world.token(alice)
    [posting] = _postings(alice, grant, world.events(grant["token"]))
    assert (posting["kind"], posting["state"], posting["direction"]) == (
        "reversal",
        "pending",
        "credit",
    )


def _held(conn, world):
    """A HELD move (nothing reserved): a repeat SEND waiting for YES."""
    request = MoveRequest(
        kind=MoveKind.SEND, payer_msisdn=ALICE, payee_msisdn=BOB, amount_minor=KES,
        legs=[Leg(wallet_account_id(ALICE), wallet_account_id(BOB), KES, TransferCode.P2P)],
    )  # fmt: skip
    return open_move_txn(conn, request, currency="KES", now_ns=world.now_ns, state=MoveState.HELD)


def test_a_held_move_tells_nothing_and_its_reservation_does(world):
    alice = world.enrol(ALICE)
    with world.engine.begin() as conn:
        held = _held(conn, world)
        assert conn.execute(select(channel_events.c.seq)).all() == [(1,)]
        reserve_held_txn(conn, held, [Leg(wallet_account_id(ALICE), wallet_account_id(BOB), KES,
                         TransferCode.P2P)], "KES", world.now_ns, MoveState.CONFIRMING)  # fmt: skip
    grant = world.token(alice)
    [posting] = _postings(alice, grant, world.events(grant["token"]))
    assert (posting["state"], posting["availableMinor"]) == ("pending", 999 * KES)
