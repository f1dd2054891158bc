"""REQ / PAY <code> / NO <code> through the TranProc: a customer's request paid as a SEND, a merchant's
as a TILL payment; refused, expired, paid twice, re-delivered, voided and paid again; every refusal.
Every test ends with the ledger checked and the trust account reconciled."""

import re

import pytest
from sqlalchemy import select, update

from daemon.commands import Role
from daemon.money import pay_requests, request_rows
from daemon.money.common import money_env
from daemon.money.request_rows import RequestState
from daemon.outbox import OutboxStatus
from daemon.schema import moves, subscribers
from daemon.schema import pay_requests as requests_table
from tests.daemon.money_world import World
from tests.daemon.test_money_agents import redelivered
from tests.daemon.test_money_tills import MERCHANT, add_till

ALICE, BOB, CAROL, STRANGER, AGENT = (
    "254712000001", "254712000002", "254712000003", "254712000077", "254712000009",
)  # fmt: skip
KES = 100
WALLET = 10_000 * KES


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="John Kamau")
    world.add(CAROL, balance_minor=WALLET, name="Carol Njeri")
    add_till(world)
    yield world
    world.check()


def code_in(text):
    return re.search(r"PAY (R\d{4}) PIN", text).group(1)


def ask(world, requester=BOB, payer=ALICE, amount="500", note="lunch"):
    """REQ from `requester`; the code the payer was sent."""
    reply = world.sms(requester, f"REQ {payer} {amount} {note}".strip())
    assert reply.startswith("Asked"), reply
    return code_in(world.last_to(payer))


def state_of(world, code, payer=ALICE):
    with world.engine.begin() as conn:
        return request_rows.find_txn(conn, payer, code)


def send_fee(world, amount_minor):
    return money_env(world.config).tariff.fee_minor("SEND", amount_minor)


def test_a_request_tells_both_and_is_paid_as_a_send(world):
    reply = world.sms(BOB, "REQ 0712000001 500 lunch")
    assert reply.startswith("Asked ALICE A. 0712 000001 for KES 500.00, request R")
    asked = world.last_to(ALICE)
    assert asked.startswith("JOHN K. 0712 000002 asks you for KES 500.00 (lunch). Reply PAY R")
    code = code_in(asked)
    assert f"NO {code} to refuse" in asked and code in reply
    paid = world.sms(ALICE, f"PAY {code} 1234")
    assert "KES 500.00 sent to JOHN K. 0712 000002" in paid
    assert not [t for t in world.texts_to(BOB) if "received" in t]  # not before it is posted
    world.receipts(OutboxStatus.DELIVERED)  # SEND waits for the payer's confirmation
    assert "You have received KES 500.00 from ALICE A." in world.last_to(BOB)
    assert world.balance(BOB) == 500 * KES
    assert world.balance(ALICE) == WALLET - 500 * KES - send_fee(world, 500 * KES)
    found = state_of(world, code)
    assert found.state is RequestState.PAID and found.move_id is not None


def test_a_merchant_request_is_paid_as_a_till_payment(world):
    reply = world.sms(MERCHANT, "REQ 0712000001 350")
    assert reply.startswith("Asked ALICE A.")
    asked = world.last_to(ALICE)
    assert asked.startswith("MAMA MBOGA 0712 000050 asks you for KES 350.00. Reply PAY R")
    code = code_in(asked)
    paid = world.sms(ALICE, f"PAY {code} 1234")
    assert "KES 350.00 paid to MAMA MBOGA till 123456" in paid
    told = world.last_to(MERCHANT)  # TILL posts at once: the merchant is told now
    assert f"KES 350.00 from ALICE A. 0712 000001 for {code}" in told
    merchant_fee = money_env(world.config).tariff.merchant_fee_minor("TILL", 350 * KES)
    assert world.balance(MERCHANT) == 350 * KES - merchant_fee
    move_id = state_of(world, code).move_id
    with world.engine.begin() as conn:
        assert conn.execute(select(moves.c.kind).where(moves.c.id == move_id)).scalar() == "till"


def test_paid_twice_says_already_paid_with_its_ref(world):
    code = ask(world)
    paid = world.sms(ALICE, f"PAY {code} 1234")
    ref = paid.split()[0]
    world.advance(300)  # a new message, not a re-delivery
    assert world.sms(ALICE, f"PAY {code} 1234") == (
        f"Request {code} is paid already, ref {ref}. Nothing more was taken."
    )
    assert f"ref {ref}" in world.sms(ALICE, f"NO {code}")
    world.receipts()
    assert world.balance(BOB) == 500 * KES


def test_a_repeated_pay_mo_pays_once(world):
    code = ask(world)
    redelivered(world, ALICE, f"PAY {code} 1234")
    first, again = world.texts_to(ALICE)[-2:]
    assert "sent to JOHN K." in first and again.startswith("You sent this message already")
    world.receipts()
    assert world.balance(BOB) == 500 * KES
    with world.engine.begin() as conn:
        assert len(conn.execute(select(moves)).all()) == 1


def test_a_pin_typed_into_the_note_is_neither_stored_nor_sent(world):
    # Every other command ends with the PIN: a requester who adds theirs must not hand it to the payer.
    world.sms(BOB, "REQ 0712000001 500 lunch 7390")
    asked = world.last_to(ALICE)
    assert "7390" not in asked and "(lunch ****)" in asked
    with world.engine.begin() as conn:
        [note] = conn.execute(select(requests_table.c.note)).scalars()
    assert note == "lunch ****"


def test_a_repeated_req_mo_asks_once(world):
    redelivered(world, BOB, "REQ 0712000001 500")
    assert len([t for t in world.texts_to(ALICE) if "asks you" in t]) == 1
    with world.engine.begin() as conn:
        assert len(conn.execute(select(requests_table)).all()) == 1


def test_refused_tells_the_requester_and_cannot_be_paid(world):
    code = ask(world)
    reply = world.sms(ALICE, f"NO {code}")
    assert reply == f"You refused request {code} from JOHN K. for KES 500.00. Nothing was paid."
    assert world.last_to(BOB) == (
        f"ALICE A. 0712 000001 refused your request {code} for KES 500.00."
    )
    assert "You refused request" in world.sms(ALICE, f"PAY {code} 1234")
    assert "You refused request" in world.sms(ALICE, f"NO {code}")
    assert world.balance(ALICE) == WALLET and state_of(world, code).state is RequestState.REFUSED


def test_expired_tells_the_requester_once_and_cannot_be_paid(world):
    code = ask(world)
    world.advance(world.config.money.request_expiry_s - 1)
    world.settle()
    assert state_of(world, code).state is RequestState.OPEN
    world.advance(1)
    assert "has expired" in world.sms(ALICE, f"PAY {code} 1234")  # before the step ran, too
    world.settle()
    world.settle()
    told = [t for t in world.texts_to(BOB) if "expired" in t]
    assert told == [f"Your request {code} to ALICE A. 0712 000001 for KES 500.00 expired unpaid."]
    assert f"Request {code} from JOHN K. has expired" in world.sms(ALICE, f"PAY {code} 1234")
    assert "has expired" in world.sms(ALICE, f"NO {code}")
    assert world.balance(ALICE) == WALLET


def test_a_paid_request_never_expires(world):
    code = ask(world)
    world.sms(ALICE, f"PAY {code} 1234")
    world.receipts()
    world.advance(world.config.money.request_expiry_s + 1)
    world.settle()
    assert state_of(world, code).state is RequestState.PAID
    assert not [t for t in world.texts_to(BOB) if "expired" in t]


def test_a_stale_change_loses_to_the_one_made_first(world):
    code = ask(world)
    read = state_of(world, code)
    world.advance(world.config.money.request_expiry_s)
    world.settle()  # the expiry wins
    with world.engine.begin() as conn:
        assert not request_rows.change_txn(conn, read, RequestState.PAID, world.now_ns, move_id=1)
    assert state_of(world, code).state is RequestState.EXPIRED


def test_a_voided_payment_leaves_the_request_open_to_pay_again(world):
    code = ask(world)
    world.sms(ALICE, f"PAY {code} 1234")
    world.receipts(OutboxStatus.FAILED)
    assert "did not go through" in world.last_to(ALICE)
    assert world.balance(ALICE) == WALLET and world.balance(BOB) == 0
    world.advance(300)
    assert "sent to JOHN K." in world.sms(ALICE, f"PAY {code} 1234")
    world.receipts()
    assert world.balance(BOB) == 500 * KES


def test_a_voided_payment_then_expiry_tells_the_requester(world):
    code = ask(world)
    world.sms(ALICE, f"PAY {code} 1234")
    world.receipts(OutboxStatus.FAILED)
    world.advance(world.config.money.request_expiry_s)
    world.settle()
    assert "expired unpaid" in world.last_to(BOB)
    assert state_of(world, code).state is RequestState.EXPIRED


def test_not_enough_money_leaves_the_request_open(world):
    code = ask(world, amount="20,000")
    assert "Not enough money" in world.sms(ALICE, f"PAY {code} 1234")
    assert (
        state_of(world, code).state is RequestState.OPEN and state_of(world, code).move_id is None
    )
    with world.engine.begin() as conn:
        assert conn.execute(select(moves)).all() == []


def test_an_unknown_code_and_somebody_elses_get_one_answer(world):
    code = ask(world)
    other = "R0000" if code != "R0000" else "R0001"
    mine = world.sms(CAROL, f"PAY {code} 1234")
    assert mine == f"There is no request {code} for you. Check the code in the SMS that asked you."
    assert world.sms(ALICE, f"PAY {other} 1234").startswith(f"There is no request {other}")
    assert world.sms(CAROL, f"NO {code}").startswith(f"There is no request {code}")
    assert state_of(world, code).state is RequestState.OPEN


def test_codes_are_unique_among_the_payers_requests(world, monkeypatch):
    draws = iter([4821, 4821, 4821, 7])
    monkeypatch.setattr(request_rows.secrets, "randbelow", lambda _: next(draws))
    assert ask(world, requester=BOB) == "R4821"
    assert ask(world, requester=CAROL) == "R0007"


@pytest.mark.parametrize(
    ("sender", "text", "expected"),
    [
        (BOB, "REQ 0712000077 500", "0712 000077 is not registered for smscore"),
        (BOB, "REQ 0712000002 500", "You cannot ask yourself for money."),
        (BOB, "REQ 0712000001 0.50", "The smallest amount is KES 1.00."),
        (BOB, "REQ 0712000001 500 " + "x" * 21, "The note is at most 20 plain characters"),
        (BOB, "REQ 0712000001 500 café☕", "The note is at most 20 plain characters"),
        (BOB, "REQ 0712000009 500", "0712 000009 cannot pay requests."),
        (BOB, "REQ 0712000050 500", "0712 000050 cannot pay requests."),
        (STRANGER, "REQ 0712000001 500", ""),
        (AGENT, "REQ 0712000001 500", ""),
    ],
)
def test_refusals_ask_nothing(world, sender, text, expected):
    world.add(AGENT, Role.AGENT, agent_number="123457", name="Duka")
    reply = world.sms(sender, text)
    assert expected in reply and not reply.startswith("Asked")
    assert not [t for t in world.texts_to(ALICE) if "asks you" in t]


def test_over_the_payers_limit_per_transaction(world):
    limit = money_env(world.config).tariff.limits(1).per_transaction_max_minor
    reply = world.sms(BOB, f"REQ 0712000001 {(limit + KES) // KES}")
    assert reply == (
        f"Too much: 0712 000001 can pay at most KES {limit / KES:,.2f} at once. Nothing was asked."
    )


def test_a_frozen_requester_is_refused(world):
    with world.engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.msisdn == BOB).values(state="frozen"))
    assert "frozen" in world.sms(BOB, "REQ 0712000001 500")


def test_a_suspended_merchant_cannot_ask(world):
    from daemon.schema import tills

    with world.engine.begin() as conn:
        conn.execute(update(tills).values(state="suspended"))
    assert "Your till cannot take payments now" in world.sms(MERCHANT, "REQ 0712000001 500")


def test_every_queue_is_bounded(world, monkeypatch):
    for amount in range(1, pay_requests.MAX_OPEN_PER_PAIR + 1):
        ask(world, amount=str(amount * 100))
    reply = world.sms(BOB, "REQ 0712000001 900")
    assert reply.startswith(f"0712 000001 already has {pay_requests.MAX_OPEN_PER_PAIR} requests")
    monkeypatch.setattr(pay_requests, "MAX_OPEN_PER_PAYER", pay_requests.MAX_OPEN_PER_PAIR)
    assert world.sms(CAROL, "REQ 0712000001 900").startswith("0712 000001 has too many requests")
    monkeypatch.setattr(pay_requests, "MAX_OPEN_PER_PAYER", 10)
    monkeypatch.setattr(pay_requests, "MAX_OPEN_PER_REQUESTER", 1)
    assert world.sms(CAROL, "REQ 0712000002 900").startswith("Asked")
    assert world.sms(CAROL, "REQ 0712000001 900").startswith("You have 1 requests waiting")
    world.advance(world.config.money.request_expiry_s)  # expired ones no longer count
    assert world.sms(BOB, "REQ 0712000001 900").startswith("Asked")


def test_no_still_answers_a_held_send_and_explains_a_bad_code(world):
    assert "NO and the code from the SMS" in world.sms(ALICE, "NO X12")
    assert world.sms(ALICE, "NO 4821").startswith("That code matches nothing waiting")
