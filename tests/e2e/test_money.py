"""Mobile money end to end: every money command and every refusal, through the daemon and the
simulator over 127.0.0.1, as the phones see it. One daemon serves the module (each test has its own
numbers); every test asserts the balances in the ledger and ends with `smscore ledger check`.

The daemon and its timings are in tests/e2e/conftest.py (`money`) and tests/e2e/money.py; agents'
commands (REG, PIN, DEPOSIT, WITHDRAW, COLLECT) and vouchers are in test_money_agents.py.
"""

from daemon.commands import Role
from tests.e2e.money import (
    KES,
    PIN,
    SLOW,
    START,
    UNREACHABLE,
    code_in,
    kes,
    national,
    ref_in,
)

# --- SEND and the M-Pesa rollback


def test_send_delivered_posts_and_tells_the_recipient(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="Bob Otieno")
    amount = 500 * KES
    charged = amount + money.fee(amount)
    reply = alice.send(f"SEND {national(bob.msisdn)} 500 {PIN}")
    assert f"Confirmed. {kes(amount)} sent to BOB O." in reply
    assert f"Fee {kes(money.fee(amount))}. New balance {kes(START - charged)}" in reply
    told = bob.next("the recipient's notice")
    assert f"{ref_in(reply)} Confirmed. You have received {kes(amount)} from ALICE A." in told
    assert f"New balance {kes(amount)}" in told and kes(START - charged) not in told
    money.quiet()
    assert money.posted(alice.msisdn) == START - charged
    assert money.posted(bob.msisdn) == amount
    [move] = money.moves_of(alice.msisdn)
    assert (move.state, move.ref) == ("posted", ref_in(reply))


def test_send_whose_confirmation_is_undelivered_is_voided(money) -> None:
    alice = money.customer(START, prefix=UNREACHABLE)
    bob = money.customer()
    money.simulator.send_mo(alice.msisdn, f"SEND {national(bob.msisdn)} 700 {PIN}")
    voided = money.wait_outbox_text(alice.msisdn, "did not go through")
    assert f"your {kes(700 * KES)} to" in voided.text
    assert f"Nothing was taken. Your balance is {kes(START)}" in voided.text
    money.quiet()
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "voided"
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0
    assert money.usage_today(alice.msisdn) == (0, 0)  # nothing moved: no limit used either
    # The network could reach neither of Alice's SMS; Bob never heard of the money.
    assert alice.unread() == [] and bob.unread() == [] and money.outbox_to(bob.msisdn) == []


def test_send_with_no_receipt_in_time_is_voided(money) -> None:
    alice = money.customer(START, prefix=SLOW)
    bob = money.customer()
    money.simulator.send_mo(alice.msisdn, f"SEND {national(bob.msisdn)} 300 {PIN}")
    money.wait_move_state(alice.msisdn, "pending")
    charged = 300 * KES + money.fee(300 * KES)
    assert money.balance(alice.msisdn) == (START, charged)  # reserved while the receipt is awaited
    money.wait_outbox_text(alice.msisdn, "did not go through")
    # Voided at the timeout, though the receipt (later) says the confirmation was delivered.
    confirmation = alice.next("the late confirmation")
    assert "Confirmed." in confirmation
    voided = alice.next("the notice that nothing happened")
    assert voided.startswith(f"{ref_in(confirmation)}: your {kes(300 * KES)} to")
    assert f"did not go through. Nothing was taken. Your balance is {kes(START)}" in voided
    money.quiet()
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "voided"  # the late receipt changed nothing
    assert [row.status for row in money.outbox_to(alice.msisdn)] == ["delivered", "delivered"]
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0
    assert money.outbox_to(bob.msisdn) == []


def test_a_send_records_todays_use(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    alice.send(f"SEND {national(bob.msisdn)} 1,250.50 {PIN}")
    bob.next("the recipient's notice")
    money.quiet()
    assert money.usage_today(alice.msisdn) == (125_050, 1)
    assert money.posted(bob.msisdn) == 125_050
    assert money.posted(alice.msisdn) == START - 125_050 - money.fee(125_050)


# --- refusals: one clear reply each, nothing moves


def test_wrong_pin_then_locked(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    to_bob = f"SEND {national(bob.msisdn)} 100"
    assert alice.send(f"{to_bob} 9999").startswith("Wrong PIN. 2 attempt(s) left")
    assert alice.send(f"{to_bob} 9998").startswith("Wrong PIN. 1 attempt(s) left")
    assert alice.send(f"{to_bob} 9997").startswith("Wrong PIN entered too many times")
    # Locked: the right PIN does not help now, and says so.
    assert "Your PIN is locked; try again in 15 minutes" in alice.send(f"{to_bob} {PIN}")
    assert "Your PIN is locked" in alice.send(f"BAL {PIN}")
    money.quiet()
    assert money.moves_of(alice.msisdn) == []
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0


def test_one_wrong_pin_then_the_right_one_sends(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    assert "Wrong PIN" in alice.send(f"SEND {national(bob.msisdn)} 100 1111")
    assert "Confirmed" in alice.send(f"SEND {national(bob.msisdn)} 100 {PIN}")
    bob.next("the recipient's notice")
    money.quiet()
    assert money.posted(bob.msisdn) == 100 * KES
    assert money.posted(alice.msisdn) == START - 100 * KES - money.fee(100 * KES)


def test_frozen_accounts_move_nothing(money) -> None:
    alice = money.customer(START)
    bob = money.customer(START)
    money.set_state(alice.msisdn, state="frozen")
    assert "account is frozen, so no money can move" in alice.send(
        f"SEND {national(bob.msisdn)} 100 {PIN}"
    )
    # Nor can money move to a frozen account.
    assert "cannot receive this money. Nothing was sent." in bob.send(
        f"SEND {national(alice.msisdn)} 100 {PIN}"
    )
    money.quiet()
    assert money.moves_of(alice.msisdn) == [] and money.moves_of(bob.msisdn) == []
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == START


def test_too_little_money(money) -> None:
    alice = money.customer(1_000 * KES)
    bob = money.customer()
    needed = 1_000 * KES + money.fee(1_000 * KES)
    reply = alice.send(f"SEND {national(bob.msisdn)} 1000 {PIN}")
    assert reply == (
        f"Not enough money: this needs {kes(needed)} and your balance is {kes(1_000 * KES)}."
    )
    money.quiet()
    assert money.moves_of(alice.msisdn) == []
    assert money.posted(alice.msisdn) == 1_000 * KES and money.posted(bob.msisdn) == 0


def test_each_limit(money) -> None:
    alice = money.customer(60_000 * KES)
    bob = money.customer()
    full = money.customer(49_800 * KES)  # 200 short of tier 1's maximum balance
    limits = money.tariff.limits(1)
    to_bob = f"SEND {national(bob.msisdn)}"
    most = limits.per_transaction_max_minor
    assert alice.send(f"{to_bob} {most // KES + 1} {PIN}") == (
        f"Over your limit per transaction. The most you can move at once is {kes(most)}."
    )
    assert alice.send(f"{to_bob} 0.50 {PIN}") == "The smallest amount is KES 1.00."
    assert alice.send(f"SEND {national(full.msisdn)} 500 {PIN}").endswith(
        "cannot receive this money. Nothing was sent."
    )
    # Today's earlier use, as the daemon records it: 5,000 short of the daily value.
    money.use_today(alice.msisdn, limits.daily_value_max_minor - 5_000 * KES, 3)
    assert alice.send(f"{to_bob} 6000 {PIN}") == (
        f"Over your daily limit. You can move {kes(5_000 * KES)} more today."
    )
    money.use_today(alice.msisdn, 100 * KES, limits.daily_count_max)
    assert alice.send(f"{to_bob} 10 {PIN}") == (
        f"Over your daily limit of {limits.daily_count_max} transactions. Try again tomorrow."
    )
    money.quiet()
    assert money.moves_of(alice.msisdn) == []
    assert money.posted(alice.msisdn) == 60_000 * KES
    assert money.posted(bob.msisdn) == 0 and money.posted(full.msisdn) == 49_800 * KES


def test_malformed_and_impossible_sends(money) -> None:
    alice = money.customer(START)
    agent = money.number()
    money.add(agent, role=Role.AGENT, name="Duka Moja", agent_number=money.agent_number())
    stranger = money.phone(money.number())
    bob = national(money.customer().msisdn)
    cases = {
        f"SEND {national(alice.msisdn)} 100 {PIN}": "You cannot send money to yourself.",
        f"SEND {bob} -100 {PIN}": "must be more than zero",
        f"SEND {bob} 1.005 {PIN}": "at most 2 decimals",
        f"SEND {bob} lots {PIN}": "write it like 1,000.50",
        f"SEND {bob} 100": "PIN is missing. Use: SEND PHONE AMOUNT PIN",
        f"SEND 0612 100 {PIN}": "not a valid PHONE",
        f"SEND {national(agent)} 100 {PIN}": "is an agent: for cash there send WITHDRAW",
    }
    for text, expected in cases.items():
        assert expected in alice.send(text), text
    assert "You are not registered" in stranger.send(f"SEND {bob} 100 {PIN}")
    money.quiet()
    assert money.moves_of(alice.msisdn) == [] and money.moves_of(stranger.msisdn) == []
    assert money.posted(alice.msisdn) == START and money.posted(agent) == 0


# --- the double-send guard


def test_the_same_send_again_is_held_until_yes(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    first = alice.send(f"SEND {national(bob.msisdn)} 200 {PIN}")
    bob.next("the first notice")
    # The same SEND written another way: not a re-delivery, a second SEND.
    again = alice.send(f"send +{bob.msisdn} 200.00 {PIN}")
    assert again.startswith(f"You sent {kes(200 * KES)} to")
    assert f"a moment ago ({ref_in(first)}). To send it again reply YES" in again
    money.quiet(states_too=False)
    assert money.posted(bob.msisdn) == 200 * KES  # only the first, and nothing reserved
    assert money.balance(alice.msisdn)[1] == 0
    confirmed = alice.send(f"YES {code_in(again)}")
    assert "Confirmed. KES 200.00 sent" in confirmed and ref_in(confirmed) != ref_in(first)
    assert "You have received KES 200.00" in bob.next("the second notice")
    money.quiet()
    assert money.posted(bob.msisdn) == 400 * KES
    assert money.posted(alice.msisdn) == START - 2 * (200 * KES + money.fee(200 * KES))


def test_an_unconfirmed_repeat_expires(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    alice.send(f"SEND {national(bob.msisdn)} 150 {PIN}")
    bob.next("the first notice")
    again = alice.send(f"SEND {bob.msisdn} 150 {PIN}")
    money.wait_move_state(alice.msisdn, "expired")
    assert "That code matches nothing" in alice.send(f"YES {code_in(again)}")
    money.quiet()
    assert [move.state for move in money.moves_of(alice.msisdn)] == ["posted", "expired"]
    assert money.posted(bob.msisdn) == 150 * KES
    assert money.posted(alice.msisdn) == START - 150 * KES - money.fee(150 * KES)


# --- confirm before commit (above money.confirm_above_minor)


def test_a_large_send_asks_first_and_yes_sends_it(money) -> None:
    alice = money.customer(START)
    bob = money.customer(name="Jane Wanjiku")
    amount = 9_000 * KES
    charged = amount + money.fee(amount)
    ask = alice.send(f"SEND {national(bob.msisdn)} 9000 {PIN}")
    assert ask.startswith(f"Send {kes(amount)} to JANE W. ")
    assert f"? Fee {kes(money.fee(amount))}. Reply YES {code_in(ask)} within 1 min" in ask
    assert money.balance(alice.msisdn) == (START, charged)  # held meanwhile
    assert bob.unread() == []
    assert "Confirmed." in alice.send(f"YES {code_in(ask)}")
    assert f"You have received {kes(amount)}" in bob.next("the recipient's notice")
    money.quiet()
    assert money.posted(alice.msisdn) == START - charged
    assert money.posted(bob.msisdn) == amount


def test_a_large_send_declined_with_no(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    ask = alice.send(f"SEND {national(bob.msisdn)} 8000.01 {PIN}")
    code = code_in(ask)
    assert alice.send(f"NO {code}").endswith(f": cancelled. {kes(800_001)} was not sent.")
    assert "That code matches nothing" in alice.send(f"YES {code}")
    money.quiet()
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "declined"
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0
    assert money.usage_today(alice.msisdn) == (0, 0)


def test_a_large_send_not_confirmed_in_time_is_released(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    ask = alice.send(f"SEND {national(bob.msisdn)} 9500 {PIN}")
    assert money.balance(alice.msisdn)[1] > 0
    expired = alice.next("the notice that the time ran out")
    assert expired.endswith(f"you did not confirm sending {kes(9_500 * KES)}, so nothing was sent.")
    assert "That code matches nothing" in alice.send(f"YES {code_in(ask)}")
    money.quiet()
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "expired"
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0
    assert money.usage_today(alice.msisdn) == (0, 0)


# --- MINI, VERIFY, LANG


def test_mini_verify_and_lang(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer()
    stranger = money.phone(money.number())
    assert alice.send(f"MINI {PIN}") == "You have no transactions yet."
    sent = alice.send(f"SEND {national(bob.msisdn)} 250 {PIN}")
    ref = ref_in(sent)
    bob.next("the recipient's notice")
    money.quiet()
    charged = 250 * KES + money.fee(250 * KES)
    mini = alice.send(f"MINI {PIN}")
    assert mini.startswith("Last 1: ") and mini.endswith(f" -{charged // KES:,} {ref}")
    assert bob.send(f"MINI {PIN}").endswith(f" +250 {ref}")
    genuine = bob.send(f"VERIFY {ref}")
    assert genuine.startswith(f"{ref} is genuine: {kes(250 * KES)} from ALICE A. ")
    assert genuine.endswith(", completed.")
    assert "no such transaction for your number" in stranger.send(f"VERIFY {ref}")
    assert "no such transaction for your number" in bob.send("VERIFY ABCDEFGHJK")
    assert "Kiswahili" in bob.send("LANG SW")
    assert bob.send(f"MINI {PIN}").startswith("Mwisho 1: ")
    assert "en, sw" in bob.send("LANG XX")  # the codes it knows (in Swahili now)
    assert "English" in bob.send("LANG EN")
    assert "Send money to a phone number" in alice.send("HELP SEND")
    money.quiet()
    assert money.posted(alice.msisdn) == START - charged
    assert money.posted(bob.msisdn) == 250 * KES


# --- the same MO twice (an SMSC's re-delivery, or a person resending)


def test_a_repeated_send_is_answered_with_the_first_reply_and_posted_once(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    first, repeat = alice.send_twice(f"SEND {national(bob.msisdn)} 400 {PIN}")
    assert "Confirmed." in first and ref_in(first) in repeat
    assert "You have received KES 400.00" in bob.next("the one notice")
    money.quiet()
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "posted"
    assert money.posted(bob.msisdn) == 400 * KES
    assert money.posted(alice.msisdn) == START - 400 * KES - money.fee(400 * KES)


def test_a_repeated_yes_confirms_once(money) -> None:
    alice = money.customer(START)
    bob = money.customer()
    ask = alice.send(f"SEND {national(bob.msisdn)} 9000 {PIN}")
    confirmed, repeat = alice.send_twice(f"YES {code_in(ask)}")
    assert "Confirmed." in confirmed and ref_in(confirmed) in repeat
    assert "You have received KES 9,000.00" in bob.next("the one notice")
    money.quiet()
    assert [move.state for move in money.moves_of(alice.msisdn)] == ["posted"]
    assert money.posted(bob.msisdn) == 9_000 * KES
    assert money.posted(alice.msisdn) == START - 9_000 * KES - money.fee(9_000 * KES)
