"""USSD menus end to end, in each built-in dialect: subscribers dial *334# on the real simulator,
walk the shipped menu (plus a long "Find an agent" list: tests/e2e/ussd.py) over SMPP to the real
daemon, and the money moves exactly once, posted only when the last screen reached the network.

One simulator and one daemon per dialect (the module's `money_service`, parametrized); each test
takes fresh numbers and ends with every SMS read and `smscore ledger check` (the ledger's
invariants and the trust reconciliation: tests/e2e/conftest.py's `money`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from daemon.money.tariff import RecipientKind
from tests.e2e.harness import wait_for
from tests.e2e.money import KES, PIN, REPLY_TIMEOUT_S, START, MoneyService, kes, national, ref_in
from tests.e2e.test_money_airtime import order_of, provider_orders
from tests.e2e.ussd import (
    BILL_ACCOUNT,
    BILLER,
    DIALECTS,
    SCREEN_TIMEOUT_S,
    SESSION_TIMEOUT_S,
    TOWNS,
    Dial,
    restart,
    screens_to,
    sessions_of,
    ussd_service,
)

_SIG = re.compile(r" Sig K\d-[A-Z2-7]+$")


@pytest.fixture(scope="module", params=DIALECTS)
def money_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MoneyService]:
    service = ussd_service(tmp_path_factory.mktemp(f"ussd-{request.param}"), request.param)
    try:
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


def _to_send_pin(money: MoneyService, payer: str, payee: str, amount: str) -> Dial:
    dial = Dial.start(money.simulator, payer)
    assert dial.choose("Send money") == "Send money\nEnter phone number\n0. Back"
    assert dial.answer(national(payee)).endswith("\nEnter amount\n0. Back")
    assert dial.answer(amount).endswith("?\nEnter PIN to confirm\n0. Back")
    return dial


def _ended_in_daemon(money: MoneyService, msisdn: str, *states: str) -> object:
    return wait_for(
        lambda: (found := sessions_of(money, msisdn)) and found[-1].state in states and found[-1],
        REPLY_TIMEOUT_S,
        f"{msisdn}'s USSD session in the daemon to be {'/'.join(states)}",
    )


def test_my_balance_shows_the_balance_and_keeps_no_pin(money: MoneyService) -> None:
    alice = money.customer(START)
    dial = Dial.start(money.simulator, alice.msisdn)
    assert dial.screen.startswith("Mobile money\n1. Send money\n")
    assert "Deposit for a customer" not in dial.screen  # an agent's choice: hidden from customers
    assert dial.choose("My balance") == "My balance\nEnter PIN\n0. Back"
    assert dial.answer(PIN) == f"Your smscore balance is {kes(START)}."
    assert dial.state == "ended" and dial.session["final"]
    [session] = sessions_of(money, alice.msisdn)
    assert session.state == "ended" and PIN not in session.inputs
    with money.engine.connect() as conn:
        typed = conn.exec_driver_sql(
            "SELECT text FROM inbox WHERE source_addr = ? ORDER BY id", (alice.msisdn,)
        ).scalars()
        assert PIN not in list(typed)


def test_send_money_posts_once_after_the_last_screen_then_both_get_an_sms(
    money: MoneyService,
) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(0, name="Bob Kamau")
    dial = _to_send_pin(money, alice.msisdn, bob.msisdn, "500")
    assert dial.screen == f"Send {kes(500 * KES)} to BOB K. {national(bob.msisdn)[:4]} " \
        f"{national(bob.msisdn)[4:]}?\nEnter PIN to confirm\n0. Back"  # fmt: skip
    last = dial.answer(PIN)
    assert dial.state == "ended" and dial.session["final"]
    ref = ref_in(last)
    assert f"{ref} Confirmed. {kes(500 * KES)} sent to BOB K." in last and _SIG.search(last)
    assert "You have received" in bob.next("the recipient's SMS")
    # The last screen is gone from the phone once read: the same text, receipt tag and all,
    # comes as the confirmation SMS, queued once the screen's submit was accepted.
    assert alice.next("the sender's confirmation SMS") == last
    money.quiet()
    fee = money.fee(500 * KES, RecipientKind.REGISTERED)
    assert money.posted(alice.msisdn) == START - 500 * KES - fee
    assert money.posted(bob.msisdn) == 500 * KES
    [move] = money.moves_of(alice.msisdn)
    assert move.state == "posted" and move.ref == ref
    screen = screens_to(money, alice.msisdn)[-1]
    sms = [row for row in money.outbox_to(alice.msisdn) if row.ussd_op is None]
    assert screen.text == last and screen.status == "delivered"
    assert [row.text for row in sms] == [last] and sms[0].id > screen.id


def test_pay_a_bill(money: MoneyService) -> None:
    alice = money.customer(START, name="Alice Atieno")
    dial = Dial.start(money.simulator, alice.msisdn)
    assert dial.choose("Pay bill") == "Pay bill\nEnter business number\n0. Back"
    dial.walk(BILLER, BILL_ACCOUNT, "1,000")
    assert dial.screen.startswith(f"Pay {kes(1000 * KES)} to ")
    last = dial.answer(PIN)
    assert f"Confirmed. {kes(1000 * KES)} paid to KENYA POWER {BILL_ACCOUNT}" in last, last
    assert alice.next("the confirmation SMS") == last
    money.quiet()
    fee = money.tariff.fee_minor("PAY", 1000 * KES, biller=BILLER)
    assert money.posted(alice.msisdn) == START - 1000 * KES - fee


def _to_buy_pin(money: MoneyService, payer: str) -> Dial:
    dial = Dial.start(money.simulator, payer)
    assert dial.choose("Buy airtime").startswith("Buy airtime\n1. For my number\n")
    assert dial.choose("For my number") == "Airtime for my number\nEnter amount\n0. Back"
    assert dial.answer("100").startswith(f"Buy {kes(100 * KES)} airtime for your number?")
    return dial


def test_buy_airtime_for_my_number(money: MoneyService) -> None:
    alice = money.customer(START)
    dial = _to_buy_pin(money, alice.msisdn)
    last = dial.answer(PIN)
    ref = ref_in(last.split("ref ", 1)[1])
    assert last.startswith(f"Buying {kes(100 * KES)} airtime for"), last
    # The order goes to the provider once the last screen was accepted; that screen's text
    # comes as an SMS (as for every flow), then the provider's answer decides the purchase.
    assert alice.next("the last screen as an SMS") == last
    done = alice.next("the airtime confirmation")
    assert done.startswith(f"{ref} Confirmed. {kes(100 * KES)} airtime bought for"), done
    money.quiet()
    assert money.posted(alice.msisdn) == START - 100 * KES
    assert provider_orders(money)[ref]["topups"] == 1


def test_a_long_list_pages_with_more_and_back(money: MoneyService) -> None:
    alice = money.customer(START)
    dial = Dial.start(money.simulator, alice.msisdn)
    first = dial.choose("Find an agent")
    lines = first.splitlines()
    assert lines[0] == "Find an agent in" and lines[1] == f"1. {TOWNS[0]}"
    assert lines[-2:] == ["98. More", "0. Back"] and len(first) <= 182  # Back: to the main list
    shown = len(lines) - 3  # the towns on page one
    second = dial.answer("98")
    assert second.splitlines()[1] == f"{shown + 1}. {TOWNS[shown]}"
    assert second.splitlines()[-1] == "0. Back" and "98. More" not in second
    assert f"{len(TOWNS)}. {TOWNS[-1]}" in second
    assert dial.answer("0") == first
    assert dial.answer("98") == second
    assert dial.answer(str(len(TOWNS))) == "Look for the green sign."
    assert dial.state == "ended" and dial.session["final"]


def test_a_wrong_input_is_asked_again_and_a_wrong_pin_moves_nothing(money: MoneyService) -> None:
    alice = money.customer(START)
    bob = money.customer(0)
    dial = Dial.start(money.simulator, alice.msisdn)
    menu = dial.screen
    assert dial.answer("99") == f"Invalid choice.\n{menu}"
    assert dial.answer("") == f"Invalid choice.\n{menu}"
    dial.choose("Send money")
    assert dial.answer("Bob") == "Invalid: digits only.\nSend money\nEnter phone number\n0. Back"
    amount_screen = dial.answer(national(bob.msisdn))
    assert dial.answer("12x") == f"Invalid: write it like 1,000.50.\n{amount_screen}"
    assert dial.answer("9" * 150).startswith("Invalid")  # a long answer: re-asked, screen fits
    assert len(dial.screen) <= 182
    dial.answer("250")
    last = dial.answer("9999")
    assert "Wrong PIN" in last and dial.state == "ended", last
    money.quiet()
    assert money.posted(alice.msisdn) == START and money.moves_of(alice.msisdn) == []


def test_a_hang_up_mid_menu_ends_the_session_and_moves_nothing(money: MoneyService) -> None:
    alice = money.customer(START)
    bob = money.customer(0)
    dial = _to_send_pin(money, alice.msisdn, bob.msisdn, "500")
    dial.hang_up()
    assert dial.state == "aborted"
    session = _ended_in_daemon(money, alice.msisdn, "aborted")
    assert session.end_reason == "released"
    money.quiet()
    assert money.posted(alice.msisdn) == START and money.moves_of(alice.msisdn) == []
    assert money.simulator.stats()["ussd_screens_refused"] == 0


def test_a_last_screen_that_never_reaches_the_network_voids_the_money(
    money: MoneyService,
) -> None:
    """The network drops the final screen's submit_sm (no answer: the simulator's `withhold`)
    and then, its screen timer run out, releases the dialogue: the SEND reserved for it is
    voided and the sender told by SMS that nothing happened."""
    alice = money.customer(START)
    bob = money.customer(0)
    dial = _to_send_pin(money, alice.msisdn, bob.msisdn, "500")
    money.simulator.faults({"withhold": {}})
    try:
        dial.answer(PIN, wait=False)
        dial.wait_state("timed_out", "ended", timeout_s=SCREEN_TIMEOUT_S + REPLY_TIMEOUT_S)
    finally:
        money.simulator.faults({"withhold": None})
    assert dial.state == "timed_out" and dial.session["end_reason"] == "screen_timeout"
    assert dial.screens[-1].endswith("Enter PIN to confirm\n0. Back")  # the last screen never came
    told = alice.next("the SMS that nothing happened")
    assert "did not go through. Nothing was taken." in told, told
    move = money.wait_move_state(alice.msisdn, "voided")
    assert move.ref in told
    money.quiet()
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0
    assert screens_to(money, alice.msisdn)[-1].status != "delivered"


def test_a_purchase_whose_last_screen_never_reaches_the_network_buys_nothing(
    money: MoneyService,
) -> None:
    """As for SEND above, for BUY: the order waited for its last screen, so the provider never
    hears of it; the money is voided and the buyer told once that nothing was bought."""
    alice = money.customer(START)
    dial = _to_buy_pin(money, alice.msisdn)
    money.simulator.faults({"withhold": {}})
    try:
        dial.answer(PIN, wait=False)
        dial.wait_state("timed_out", "ended", timeout_s=SCREEN_TIMEOUT_S + REPLY_TIMEOUT_S)
    finally:
        money.simulator.faults({"withhold": None})
    assert dial.state == "timed_out" and dial.session["end_reason"] == "screen_timeout"
    told = alice.next("the SMS that nothing was bought")
    assert "could not be bought. Nothing was taken." in told, told
    move = money.wait_move_state(alice.msisdn, "voided")
    assert move.ref in told
    money.quiet()
    assert money.posted(alice.msisdn) == START
    assert order_of(money, move.ref).state == "cancelled"
    assert move.ref not in provider_orders(money)
    assert alice.unread() == []


def test_a_restart_mid_session_continues_it_and_an_idle_session_times_out(
    money: MoneyService,
) -> None:
    """Alice's dialogue survives a daemon restart between two answers (the session is in the
    database). Carol, meanwhile, leaves hers on a question until the network releases it (both
    in one test: the network's session timer runs while the daemon restarts)."""
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(0, name="Bob Kamau")
    carol = money.customer(START)
    idle = Dial.start(money.simulator, carol.msisdn)
    idle.choose("Send money")
    dial = Dial.start(money.simulator, alice.msisdn)
    dial.choose("Send money")
    assert dial.answer(national(bob.msisdn)).startswith("Send to BOB K.")
    restart(money)
    assert dial.answer("700").startswith(f"Send {kes(700 * KES)} to BOB K.")
    last = dial.answer(PIN)
    assert f"Confirmed. {kes(700 * KES)} sent to BOB K." in last, last
    assert "You have received" in bob.next("the recipient's SMS")
    assert alice.next("the confirmation SMS") == last
    idle.wait_state("timed_out", timeout_s=SESSION_TIMEOUT_S + REPLY_TIMEOUT_S)
    assert idle.session["end_reason"] == "session_timeout"
    _ended_in_daemon(money, carol.msisdn, "aborted", "timed_out")
    money.quiet()
    fee = money.fee(700 * KES, RecipientKind.REGISTERED)
    assert money.posted(alice.msisdn) == START - 700 * KES - fee
    assert money.posted(bob.msisdn) == 700 * KES and money.posted(carol.msisdn) == START
    assert [move.state for move in money.moves_of(alice.msisdn)] == ["posted"]
