"""Mobile money at the agent's counter, end to end: registration and the first PIN, DEPOSIT, WITHDRAW
(and its rollback), vouchers (collected as cash, claimed at registration, returned when they expire),
with their refusals. The daemon is tests/e2e/conftest.py's `money`; every test asserts the balances
in the ledger and ends with `smscore ledger check`."""

from daemon.commands import Role
from daemon.money.tariff import RecipientKind
from tests.e2e.money import (
    AGENT_PIN,
    FLOAT,
    KES,
    PIN,
    START,
    STORE_PREFIX,
    UNREACHABLE,
    code_in,
    kes,
    national,
    ref_in,
)

NEW_PIN = "4826"
UNREGISTERED = RecipientKind.UNREGISTERED


def welcome_code(text: str) -> str:
    return code_in(text, r"send: PIN (\d+) NEWPIN")


def voucher_code(text: str) -> str:
    return code_in(text, r"with code (\d{8}) by")


# --- registration and the first PIN


def test_registration_then_first_pin_then_a_pin_change(money) -> None:
    store = money.store()
    jane = money.phone(money.number())
    done = store.send(f"REG {national(jane.msisdn)} 12345678 Jane Wanjiku {AGENT_PIN}")
    assert done.startswith("JANE W. ") and "is registered. We sent them a code" in done
    welcome = jane.next("the welcome with the one-time code")
    assert welcome.startswith("Welcome to smscore, JANE W.! To set your PIN send: PIN ")
    code = welcome_code(welcome)
    assert "is not right. 2 attempt(s) left" in jane.send(f"PIN {int(code) ^ 1:0{len(code)}d} 4826")
    assert "too easy to guess" in jane.send(f"PIN {code} 1234")
    assert jane.send(f"PIN {code} {NEW_PIN}").startswith("Your smscore PIN is set.")
    assert jane.send(f"BAL {NEW_PIN}") == "Your smscore balance is KES 0.00."
    assert "same as the old one" in jane.send(f"PIN {NEW_PIN} {NEW_PIN}")
    assert "Wrong PIN" in jane.send("PIN 9999 5937")
    assert jane.send(f"PIN {NEW_PIN} 5937").startswith("Your smscore PIN is changed.")
    assert "Wrong PIN" in jane.send(f"BAL {NEW_PIN}")
    assert jane.send("BAL 5937") == "Your smscore balance is KES 0.00."
    money.quiet()
    assert money.posted(jane.msisdn) == 0 and money.posted(store.msisdn) == FLOAT


def test_registration_refusals(money) -> None:
    store = money.store()
    alice = money.customer(START)
    number = money.number()
    newcomer = national(number)
    assert "is already registered. Nothing was done." in store.send(
        f"REG {national(alice.msisdn)} 23456789 Alice Again {AGENT_PIN}"
    )
    assert "Wrong PIN" in store.send(f"REG {newcomer} 23456789 New Comer 1357")
    assert "Give the customer's name in letters" in store.send(
        f"REG {newcomer} 23456789 12345 {AGENT_PIN}"
    )
    assert "REG is not available for your account" in alice.send(
        f"REG {newcomer} 23456789 New Comer {PIN}"
    )
    money.quiet()
    assert not money.registered(number)
    assert money.posted(alice.msisdn) == START and money.posted(store.msisdn) == FLOAT


# --- DEPOSIT: cash in


def test_deposit_moves_float_to_the_wallet_with_commission(money) -> None:
    store = money.store(name="Mama Mboga Shop")
    alice = money.customer(name="Alice Atieno")
    amount = 1_000 * KES
    commission = money.commission("DEPOSIT", amount)
    done = store.send(f"DEPOSIT {national(alice.msisdn)} 1000 {AGENT_PIN}")
    assert f"Confirmed. {kes(amount)} deposited to ALICE A. " in done
    assert f"Comm. {kes(commission)}. Float {kes(FLOAT - amount + commission)}." in done
    told = alice.next("the customer's notice")
    assert told.startswith(f"{ref_in(done)} Confirmed. You deposited {kes(amount)} at ")
    assert f"{store.agent_number} MAMA MBOGA SHOP" in told and f"New balance {kes(amount)}" in told
    assert "New balance" not in done  # the agent sees its float, never the customer's balance
    money.quiet()
    assert money.posted(alice.msisdn) == amount
    assert money.posted(store.msisdn) == FLOAT - amount + commission


def test_an_assistant_deposits_from_its_stores_float(money) -> None:
    store = money.store()
    assistant = money.number(STORE_PREFIX)
    money.add(assistant, role=Role.ASSISTANT, name="Peter Otieno", store_msisdn=store.msisdn)
    helper = money.phone(assistant)
    alice = money.customer()
    amount = 500 * KES
    commission = money.commission("DEPOSIT", amount)
    done = helper.send(f"DEPOSIT {national(alice.msisdn)} 500 {PIN}")
    assert f"Float {kes(FLOAT - amount + commission)}." in done
    assert f"You deposited {kes(amount)}" in alice.next("the customer's notice")
    assert "not available for your account" in helper.send(
        f"WITHDRAW {store.agent_number} 100 {PIN}"
    )
    money.quiet()
    assert money.posted(alice.msisdn) == amount
    assert money.posted(store.msisdn) == FLOAT - amount + commission
    assert money.posted(assistant) == 0


def test_deposit_refusals(money) -> None:
    store = money.store(float_minor=5_000 * KES)
    alice = money.customer()
    full = money.customer(49_900 * KES)  # 100 short of tier 1's maximum balance
    stranger = national(money.number())
    most = money.tariff.limits(1).per_transaction_max_minor
    cases = {
        f"DEPOSIT {stranger} 1000 {AGENT_PIN}": "is not registered. Register them first with REG.",
        f"DEPOSIT {national(alice.msisdn)} 49 {AGENT_PIN}": "The smallest amount is KES 50.00.",
        f"DEPOSIT {national(alice.msisdn)} {most // KES + 1} {AGENT_PIN}": (
            f"can receive at most {kes(most)} in one deposit"
        ),
        f"DEPOSIT {national(full.msisdn)} 500 {AGENT_PIN}": "cannot receive this money",
        f"DEPOSIT {national(alice.msisdn)} 6000 {AGENT_PIN}": "Not enough money",
        f"DEPOSIT {national(alice.msisdn)} 100 1357": "Wrong PIN",
    }
    for text, expected in cases.items():
        assert expected in store.send(text), text
    assert "DEPOSIT is not available" in alice.send(f"DEPOSIT {national(full.msisdn)} 100 {PIN}")
    money.set_state(store.msisdn, state="frozen")
    assert "account is frozen" in store.send(f"DEPOSIT {national(alice.msisdn)} 100 {AGENT_PIN}")
    money.quiet()
    assert money.moves_of(store.msisdn) == []
    assert money.posted(store.msisdn) == 5_000 * KES and money.posted(alice.msisdn) == 0
    assert money.posted(full.msisdn) == 49_900 * KES


# --- WITHDRAW: cash out, held until the customer's confirmation is delivered


def test_withdraw_pays_the_agent_once_the_confirmation_is_delivered(money) -> None:
    store = money.store(name="Duka Kuu")
    alice = money.customer(START, name="Alice Atieno")
    amount = 1_000 * KES
    fee = money.fee(amount, command="WITHDRAW")
    commission = money.commission("WITHDRAW", amount)
    done = alice.send(f"WITHDRAW {store.agent_number} 1000 {PIN}")
    assert f"Confirmed. {kes(amount)} withdrawn at {store.agent_number} DUKA KUU" in done
    assert f"Fee {kes(fee)}. New balance {kes(START - amount - fee)}." in done
    give = store.next("the agent's word to hand over the cash")
    assert give.startswith(f"{ref_in(done)} Confirmed. Give {kes(amount)} cash to ALICE A. ")
    assert f"Comm. {kes(commission)}. Float {kes(FLOAT + amount + commission)}." in give
    assert kes(START - amount - fee) not in give  # never the customer's balance
    # By the store's phone number too.
    assert "withdrawn at " in alice.send(f"WITHDRAW {national(store.msisdn)} 100 {PIN}")
    assert "Give KES 100.00 cash" in store.next("the second hand-over")
    money.quiet()
    fee_100 = money.fee(100 * KES, command="WITHDRAW")
    assert money.posted(alice.msisdn) == START - amount - fee - 100 * KES - fee_100
    assert money.posted(store.msisdn) == (
        FLOAT + amount + commission + 100 * KES + money.commission("WITHDRAW", 100 * KES)
    )


def test_withdraw_undelivered_is_voided_and_the_agent_never_told(money) -> None:
    store = money.store()
    alice = money.customer(START, prefix=UNREACHABLE)
    money.simulator.send_mo(alice.msisdn, f"WITHDRAW {store.agent_number} 700 {PIN}")
    voided = money.wait_outbox_text(alice.msisdn, "did not go through")
    assert f"your withdrawal of {kes(700 * KES)} at agent {store.agent_number}" in voided.text
    assert f"Nothing was taken. Balance {kes(START)}" in voided.text
    money.quiet()
    assert [move.state for move in money.moves_of(alice.msisdn)] == ["voided"]
    assert money.posted(alice.msisdn) == START and money.posted(store.msisdn) == FLOAT
    assert money.usage_today(alice.msisdn) == (0, 0)
    assert money.outbox_to(store.msisdn) == []  # no "give the cash" ever


def test_withdraw_refusals(money) -> None:
    store = money.store()
    other = money.store()
    alice = money.customer(500 * KES)
    money.set_state(other.msisdn, state="frozen")
    cases = {
        f"WITHDRAW 999999 100 {PIN}": "There is no smscore agent 999999.",
        f"WITHDRAW {national(alice.msisdn)} 100 {PIN}": "There is no smscore agent",
        f"WITHDRAW {other.agent_number} 100 {PIN}": "cannot serve withdrawals now",
        f"WITHDRAW {store.agent_number} 49 {PIN}": "The smallest amount is KES 50.00.",
        f"WITHDRAW {store.agent_number} 500 {PIN}": "Not enough money",
        f"WITHDRAW {store.agent_number} 25000 {PIN}": "Over your limit per transaction",
        f"WITHDRAW {store.agent_number} 100 1357": "Wrong PIN",
    }
    for text, expected in cases.items():
        assert expected in alice.send(text), text
    money.quiet()
    assert money.moves_of(alice.msisdn) == []
    assert money.posted(alice.msisdn) == 500 * KES
    assert money.posted(store.msisdn) == FLOAT and money.posted(other.msisdn) == FLOAT


# --- vouchers: a SEND to an unregistered number


def test_a_voucher_collected_as_cash_at_an_agent(money) -> None:
    store = money.store(name="Duka Moja")
    alice = money.customer(START, name="Alice Atieno")
    carol = money.phone(money.number())
    amount = 300 * KES
    suspense = money.suspense()
    sent = alice.send(f"SEND {national(carol.msisdn)} 300 {PIN}")
    assert "(not registered: they get a code)" in sent
    told = carol.next("the voucher code")
    assert told.startswith(f"{ref_in(sent)}: ALICE A. ") and f"sent you {kes(amount)}." in told
    assert money.suspense() == suspense + amount
    code = voucher_code(told)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    assert "No money for" in store.send(f"COLLECT {wrong} {national(carol.msisdn)} {AGENT_PIN}")
    cash = amount - money.fee(amount, command="COLLECT")
    commission = money.commission("COLLECT", amount)
    paid = store.send(f"COLLECT {code} {national(carol.msisdn)} {AGENT_PIN}")
    assert f"Confirmed. Give {kes(cash)} cash for {kes(amount)} to " in paid
    assert f"Comm. {kes(commission)}. Float {kes(FLOAT + cash + commission)}." in paid
    assert f"Collected {kes(amount)} from ALICE A." in carol.next("the collection notice")
    assert "was collected at agent" in alice.next("the sender's notice")
    money.quiet()
    [voucher] = money.vouchers_for(carol.msisdn)
    assert voucher.state == "collected"
    assert money.suspense() == suspense
    assert money.posted(store.msisdn) == FLOAT + cash + commission
    assert money.posted(alice.msisdn) == START - amount - money.fee(amount, UNREGISTERED)


def test_wrong_voucher_codes_lock_collecting(money) -> None:
    store = money.store()
    alice = money.customer(START)
    carol = money.phone(money.number())
    alice.send(f"SEND {national(carol.msisdn)} 200 {PIN}")
    code = voucher_code(carol.next("the voucher code"))
    collect = f"{national(carol.msisdn)} {AGENT_PIN}"
    for guess, left in (("11111111", 2), ("22222222", 1)):
        assert f"{left} attempt(s) left" in store.send(f"COLLECT {guess} {collect}")
    assert "collecting is locked" in store.send(f"COLLECT 33333333 {collect}")
    assert "collecting is locked" in store.send(f"COLLECT {code} {collect}")  # even the right one
    money.wait_voucher_state(carol.msisdn, "returned")  # it expires meanwhile, back to Alice
    assert "was not collected, so it is back in your wallet" in alice.next("the return")
    money.quiet()
    assert money.posted(store.msisdn) == FLOAT
    assert money.posted(alice.msisdn) == START - money.fee(200 * KES, UNREGISTERED)


def test_a_voucher_is_claimed_when_the_number_registers(money) -> None:
    store = money.store()
    alice = money.customer(START, name="Alice Atieno")
    dave = money.phone(money.number())
    amount = 250 * KES
    sent = alice.send(f"SEND {national(dave.msisdn)} 250 {PIN}")
    dave.next("the voucher code")
    store.send(f"REG {national(dave.msisdn)} 34567890 Dave Kamau {AGENT_PIN}")
    told = {dave.next("the welcome or the claim"), dave.next("the welcome or the claim")}
    [claimed] = [text for text in told if "is now in your wallet" in text]
    assert f"{kes(amount)} sent to you by ALICE A." in claimed
    assert f"New balance {kes(amount)}" in claimed
    assert alice.next("the sender's notice").startswith(f"{ref_in(sent)}: ")
    money.quiet()
    [voucher] = money.vouchers_for(dave.msisdn)
    assert voucher.state == "claimed"
    assert money.posted(dave.msisdn) == amount
    assert money.posted(alice.msisdn) == START - amount - money.fee(amount, UNREGISTERED)


def test_an_unclaimed_voucher_returns_to_the_sender(money) -> None:
    alice = money.customer(START)
    erin = money.phone(money.number())
    amount = 400 * KES
    fee = money.fee(amount, UNREGISTERED)
    sent = alice.send(f"SEND {national(erin.msisdn)} 400 {PIN}")
    assert f"New balance {kes(START - amount - fee)}" in sent
    erin.next("the voucher code")
    returned = alice.next("the return, once the voucher expires")
    assert f"the {kes(amount)} you sent to {national(erin.msisdn)[:4]}" in returned
    assert f"({ref_in(sent)}) was not collected, so it is back in your wallet." in returned
    assert f"New balance {kes(START - fee)}" in returned
    money.quiet()
    [voucher] = money.vouchers_for(erin.msisdn)
    assert voucher.state == "returned"
    assert money.posted(alice.msisdn) == START - fee


# --- the same MO twice: every money command runs once, the repeat gets the first reply again


def test_repeated_agent_commands_run_once(money) -> None:
    store = money.store()
    alice = money.customer(START)
    fred = money.phone(money.number())
    deposited, again = store.send_twice(f"DEPOSIT {national(alice.msisdn)} 600 {AGENT_PIN}")
    assert "deposited to" in deposited and ref_in(deposited) in again
    assert "You deposited KES 600.00" in alice.next("the one deposit notice")
    withdrawn, again = alice.send_twice(f"WITHDRAW {store.agent_number} 300 {PIN}")
    assert "withdrawn at " in withdrawn and ref_in(withdrawn) in again
    assert "Give KES 300.00 cash" in store.next("the one hand-over")
    registered, again = store.send_twice(
        f"REG {national(fred.msisdn)} 45678901 Fred Ochieng {AGENT_PIN}"
    )
    assert "is registered" in registered and "is registered" in again
    welcome = fred.next("the one welcome")
    set_pin, again = fred.send_twice(f"PIN {welcome_code(welcome)} {NEW_PIN}")
    assert set_pin.startswith("Your smscore PIN is set.") and "PIN is set" in again
    money.quiet()
    deposit = 600 * KES
    withdrawal = 300 * KES
    assert money.posted(alice.msisdn) == (
        START + deposit - withdrawal - money.fee(withdrawal, command="WITHDRAW")
    )
    assert money.posted(store.msisdn) == (
        FLOAT
        - deposit
        + money.commission("DEPOSIT", deposit)
        + withdrawal
        + money.commission("WITHDRAW", withdrawal)
    )
    assert len(money.moves_of(store.msisdn)) == 1 and len(money.moves_of(alice.msisdn)) == 1
