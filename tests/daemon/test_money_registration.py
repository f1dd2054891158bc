"""REG at an agent, the first PIN set with the one-time code, PIN changes, and vouchers moved into a
new wallet at registration, through the TranProc. Codes, PINs and identity numbers never appear in
stored text or replies."""

import re

import pytest
from sqlalchemy import select, update

from daemon.commands import Role
from daemon.money.tariff import RecipientKind
from daemon.outbox import OutboxStatus
from daemon.schema import inbox, one_time_codes, outbox, subscribers, vouchers
from tests.daemon.money_world import World
from tests.daemon.test_money_agents import money, tariff

ALICE, NEW = "254712000001", "254712000009"
STORE, ASSISTANT = "254722000100", "254722000101"
KES = 100
ID = "12345678"
REG = f"REG 0712 000 009 {ID} Jane Wanjiku Mwangi 1234"


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(STORE, Role.AGENT, name="Mama Mboga Shop", agent_number="123456")
    world.add(ASSISTANT, Role.ASSISTANT, pin="5678", name="Peter Otieno", store_msisdn=STORE)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    yield world
    world.check()


def code_in(text):
    return re.search(r"PIN (\d{8}) ", text).group(1)


def stored_texts(world):
    with world.engine.begin() as conn:
        return [row.text for row in conn.execute(select(inbox.c.text).order_by(inbox.c.id))]


def registered(world):
    world.sms(STORE, REG)
    return code_in(world.last_to(NEW))


def test_an_agent_registers_a_customer_who_sets_the_pin_with_the_code(world):
    reply = world.sms(STORE, REG)
    assert reply == (
        "JANE M. 0712 000009 is registered. We sent them a code by SMS to set their PIN."
    )
    customer = world.subscriber(NEW)
    assert (customer.role, customer.kyc_tier, customer.name) == (
        Role.CUSTOMER,
        1,
        "Jane Wanjiku Mwangi",
    )
    assert (customer.id_number, customer.registered_by, customer.pin_hmac) == (ID, STORE, None)
    [welcome] = world.texts_to(NEW)
    assert welcome.startswith("Welcome to smscore, JANE M.! To set your PIN send: PIN ")
    code = code_in(welcome)
    assert "You have no PIN yet. Set it with the code" in world.sms(NEW, "BAL 4821")
    assert world.sms(NEW, f"PIN {code} 4821").startswith("Your smscore PIN is set.")
    assert world.sms(NEW, "BAL 4821") == "Your smscore balance is KES 0.00."
    with world.engine.begin() as conn:
        assert conn.execute(select(one_time_codes)).all() == []
    stored = stored_texts(world)
    assert stored[0] == "REG 0712 000 009 **** Jane Wanjiku Mwangi ****"
    assert "PIN **** ****" in stored
    everything = " ".join(stored + [m.text for m in world.outbox()])
    assert ID not in everything and "4821" not in " ".join(stored)


def test_an_assistant_registers_for_its_store(world):
    assert "is registered" in world.sms(ASSISTANT, REG.replace(" 1234", " 5678"))
    assert world.subscriber(NEW).registered_by == ASSISTANT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"REG 0712000001 {ID} Jane Wanjiku 1234", "0712 000001 is already registered"),
        (f"REG 0722000101 {ID} Jane Wanjiku 1234", "0722 000101 is already registered"),
        (f"REG 0712 {ID} Jane Wanjiku 1234", "not a valid PHONE"),
        (f"REG +1 415 555 0100 {ID} Jane 1234", "not a valid PHONE"),
        ("REG 0712000009 12-34 Jane Wanjiku 1234", "that IDNUMBER is not valid (6 to 10 digits"),
        ("REG 0712000009 JANE Wanjiku 1234", "that IDNUMBER is not valid"),
        (f"REG 0712000009 {ID} {'Jane ' * 13}W 1234", "at most 64 characters"),
        (f"REG 0712000009 {ID} 4455 1234", "Give the customer's name in letters"),
        (f"REG 0712000009 {ID} Jane Wanjiku 9999", "Wrong PIN. 2 attempt(s) left"),
        (f"REG 0712000009 {ID} Jane Wanjiku", "that PIN is not valid"),
        (f"REG 0712000009 {ID} 1234", "PIN is missing"),
    ],
)
def test_registration_refusals_register_nobody(world, text, expected):
    reply = world.sms(STORE, text)
    assert expected in reply
    assert ID not in reply
    assert world.subscriber(NEW) is None and world.texts_to(NEW) == []


def test_customers_cannot_register_others_and_a_frozen_store_cannot_either(world):
    assert "REG is not available" in world.sms(ALICE, REG)
    with world.engine.begin() as conn:
        conn.execute(
            update(subscribers).where(subscribers.c.msisdn == STORE).values(state="frozen")
        )
    assert "frozen" in world.sms(ASSISTANT, REG.replace(" 1234", " 5678"))
    assert world.subscriber(NEW) is None


def test_wrong_codes_lock_setting_the_pin(world):
    code = registered(world)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    tries = world.config.security.pin_max_failures
    for left in range(tries - 1, 0, -1):
        assert f"{left} attempt(s) left" in world.sms(NEW, f"PIN {wrong} 4821")
    assert "Your PIN is locked" in world.sms(NEW, f"PIN {wrong} 4821")
    assert "Your PIN is locked" in world.sms(NEW, f"PIN {code} 4821")
    assert world.subscriber(NEW).pin_hmac is None
    world.advance(world.config.security.pin_lockout_s + 1)
    assert "PIN is set" in world.sms(NEW, f"PIN {code} 4821")


def test_the_code_expires(world):
    code = registered(world)
    world.advance(world.config.money.first_pin_code_ttl_s + 1)
    assert "no valid code" in world.sms(NEW, f"PIN {code} 4821")
    assert world.subscriber(NEW).pin_hmac is None


def test_a_weak_first_pin_is_refused_without_using_the_code(world):
    code = registered(world)
    assert "too easy to guess" in world.sms(NEW, f"PIN {code} 1111")
    assert "too easy to guess" in world.sms(NEW, f"PIN {code} 6543")
    assert "PIN is set" in world.sms(NEW, f"PIN {code} 4821")


def test_a_pin_is_changed_with_the_old_one(world):
    assert world.sms(ALICE, "PIN 1234 4821").startswith("Your smscore PIN is changed.")
    assert "Wrong PIN" in world.sms(ALICE, "BAL 1234")
    assert "balance is" in world.sms(ALICE, "BAL 4821")
    assert "same as the old one" in world.sms(ALICE, "PIN 4821 4821")
    assert "too easy to guess" in world.sms(ALICE, "PIN 4821 9876")
    with world.engine.begin() as conn:
        texts = [r.text for r in conn.execute(select(outbox.c.text))]
    assert not any("4821" in text for text in texts)


def test_wrong_old_pins_count_and_lock(world):
    assert "Wrong PIN. 2 attempt(s) left" in world.sms(ALICE, "PIN 1111 4821")
    assert "Wrong PIN. 1 attempt(s) left" in world.sms(ALICE, "BAL 0000")
    assert "Your PIN is locked" in world.sms(ALICE, "PIN 2222 4821")
    assert "Your PIN is locked" in world.sms(ALICE, "PIN 1234 4821")
    assert "Your PIN is locked" in world.sms(ALICE, "BAL 1234")
    world.advance(world.config.security.pin_lockout_s + 1)
    assert "PIN is changed" in world.sms(ALICE, "PIN 1234 4821")


def test_vouchers_waiting_for_the_number_move_into_the_new_wallet(world):
    world.sms(ALICE, "SEND 0712000009 300 1234")
    world.sms(ALICE, "SEND 0712000009 450 1234")
    world.receipts(OutboxStatus.DELIVERED)
    sent_refs = [text.split()[0] for text in world.texts_to(ALICE)]
    world.sms(STORE, REG)
    assert world.balance(NEW) == 750 * KES
    with world.engine.begin() as conn:
        states = [row.state for row in conn.execute(select(vouchers.c.state))]
    assert states == ["claimed", "claimed"]
    welcome, *claims = world.texts_to(NEW)[2:]  # after the two voucher codes
    assert "Welcome" in welcome
    assert "KES 300.00 sent to you by ALICE A. 0712 000001 is now in your wallet" in claims[0]
    assert claims[1].endswith("New balance KES 750.00.")
    told = world.texts_to(ALICE)[-2:]
    assert [text.split(":")[0] for text in told] == sent_refs
    assert "0712 000009 has registered, and the KES 450.00 you sent" in told[1]
    fee = tariff(world).fee_minor("SEND", 300 * KES, RecipientKind.UNREGISTERED)
    assert money(fee) not in told[0]  # the sender's own balance is not re-stated, nor a fee


def test_a_voucher_that_would_overfill_the_new_wallet_stays_open(world):
    most = tariff(world).limits(1).balance_max_minor
    rich = "254712000005"
    world.add(rich, balance_minor=2 * most, name="Rich Kamau", kyc_tier=2)
    first = most - 5_000 * KES
    world.sms(rich, f"SEND 0712000009 {first // KES} 1234")
    world.sms(rich, "SEND 0712000009 5000.01 1234")  # one cent too many for a tier-1 wallet
    world.receipts(OutboxStatus.DELIVERED)
    world.sms(STORE, REG)
    with world.engine.begin() as conn:
        states = [
            row.state for row in conn.execute(select(vouchers.c.state).order_by(vouchers.c.id))
        ]
    assert states == ["claimed", "open"]
    assert world.balance(NEW) == first


def batch(world, sender, *texts):
    """`texts` from `sender` handled in one TranProc batch; the replies, in order."""
    ids = [world.mo(sender, text) for text in texts]
    world.run_tranproc()
    return [world.outbox(inbox_id=row_id)[0].text for row_id in ids]


def test_later_messages_in_the_same_batch_see_the_new_pin(world):
    changed, balance = batch(world, ALICE, "PIN 1234 4821", "BAL 4821")
    assert "PIN is changed" in changed and "balance is" in balance


def test_a_lock_from_wrong_old_pins_holds_for_the_rest_of_the_batch(world):
    *_, after = batch(world, ALICE, "PIN 1111 4821", "PIN 2222 4821", "PIN 3333 4821", "BAL 1234")
    assert "Your PIN is locked" in after


def test_a_voucher_still_waiting_for_its_receipt_goes_to_the_wallet_of_a_number_registered_meanwhile(
    world,
):
    world.sms(ALICE, "SEND 0712000009 300 1234")  # pending: its confirmation not yet delivered
    world.sms(STORE, REG)
    assert world.balance(NEW) == 0
    world.receipts(OutboxStatus.DELIVERED)
    assert world.balance(NEW) == 300 * KES  # no code to collect: it is in the new wallet
    with world.engine.begin() as conn:
        assert [row.state for row in conn.execute(select(vouchers.c.state))] == ["claimed"]
    assert not any(re.search(r"code \d{8}", text) for text in world.texts_to(NEW)[1:])


def test_codes_do_not_stay_readable_in_the_outbox_once_sent(world):
    code = registered(world)
    world.sms(ALICE, "SEND 0712000003 300 1234")  # a voucher: its code goes to 0712000003
    world.receipts(OutboxStatus.DELIVERED)
    voucher_code = re.search(r"code (\d{8})", world.last_to("254712000003")).group(1)
    assert code in " ".join(world.texts_to(NEW))  # queued: the code must still be sendable
    with world.engine.begin() as conn:
        conn.execute(update(outbox).values(status=OutboxStatus.DELIVERED))
    world.settle()
    stored = " ".join(sms.text for sms in world.outbox())
    assert code not in stored and voucher_code not in stored
    assert "PIN **** NEWPIN" in stored and "with code ****" in stored


def test_one_id_number_registers_one_person(world):
    world.sms(STORE, REG)
    reply = world.sms(STORE, f"REG 0712000016 {ID} Other Person 1234")
    assert reply.startswith("That ID number is already registered")
    assert ID not in reply and world.subscriber("254712000016") is None


@pytest.mark.parametrize("name", ["Wanjiku 1234 Kamau", "😀 Smile"])
def test_a_name_is_letters(world, name):
    assert "name" in world.sms(STORE, f"REG 0712000017 {ID} {name} 1234").lower()
    assert world.subscriber("254712000017") is None
