"""Merchant tills and requests to pay end to end: the real daemon and simulator over 127.0.0.1, the
till set up with `smscore admin till add`, the phones reading what they get. Tills: paid (the
merchant told), till unknown; requests: paid, refused, expired, paid twice. Every test ends with
nothing in flight, every SMS read and `smscore ledger check` passing (tests/e2e/money.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.admin.cli import admin
from tests.e2e import money as e2e_money
from tests.e2e.money import KES, PIN, START, MoneyService, Phone, code_in, kes, national, ref_in

REQUEST_EXPIRY_S = 6.0  # long enough to pay a request in the tests that do, short to wait for
REQUEST_CODE = r"PAY (R\d{4}) PIN"


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    """The module's daemon, as tests/e2e/conftest.py's but with requests that expire quickly."""
    plain = e2e_money.money_settings

    def settings() -> dict:
        sections = plain()
        sections["money"]["request_expiry_s"] = REQUEST_EXPIRY_S
        return sections

    workdir: Path = tmp_path_factory.mktemp("tills")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e2e_money, "money_settings", settings)
        service = MoneyService.start(workdir, f"sqlite:///{workdir / 'money.db'}")
    try:
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


def merchant(money: MoneyService, name: str = "Mama Mboga") -> tuple[Phone, str]:
    """A till set up by staff (`smscore admin till add`): the merchant's phone and the till."""
    msisdn, till = money.number("2547330"), money.agent_number()
    args = ["till", "add", till, "--phone", msisdn, "--name", name, "--pin", "4826",
            "--actor", "e2e", "--config", str(money.daemon.config_path)]  # fmt: skip
    result = CliRunner().invoke(admin, args)
    assert result.exit_code == 0, result.output
    return money.phone(msisdn), till


def merchant_fee(money: MoneyService, amount_minor: int) -> int:
    return money.tariff.merchant_fee_minor("TILL", amount_minor)


def test_a_till_payment_tells_the_merchant(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    shop, till = merchant(money)
    reply = alice.send(f"TILL {till} 350 {PIN}")
    assert f"Confirmed. {kes(350 * KES)} paid to MAMA MBOGA till {till}" in reply
    assert f"Balance {kes(START - 350 * KES)}" in reply
    told = shop.next("the merchant's notice")
    fee = merchant_fee(money, 350 * KES)
    assert told.startswith(f"{ref_in(reply)} Confirmed. {kes(350 * KES)} received from ALICE A.")
    assert f"Fee {kes(fee)}. Balance {kes(350 * KES - fee)}." in told
    assert f"MAMA MBOGA {till}" in alice.send(f"VERIFY {ref_in(reply)}")
    money.quiet()
    assert money.posted(alice.msisdn) == START - 350 * KES
    assert money.posted(shop.msisdn) == 350 * KES - fee
    [move] = money.moves_of(alice.msisdn)
    assert (move.kind, move.state) == ("till", "posted")


def test_an_unknown_till_moves_nothing(money) -> None:
    alice = money.customer(START)
    reply = alice.send(f"TILL 99999999 350 {PIN}")
    assert reply.startswith("There is no till 99999999.")
    money.quiet()
    assert money.posted(alice.msisdn) == START and money.moves_of(alice.msisdn) == []


def test_a_request_paid(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="John Kamau")
    asked = bob.send(f"REQ {national(alice.msisdn)} 500 lunch")
    assert asked.startswith(f"Asked ALICE A. {_shown(alice)} for {kes(500 * KES)}, request R")
    ask = alice.next("the request")
    assert ask.startswith(f"JOHN K. {_shown(bob)} asks you for {kes(500 * KES)} (lunch).")
    code = code_in(ask, REQUEST_CODE)
    assert code in asked
    paid = alice.send(f"PAY {code} {PIN}")
    assert f"Confirmed. {kes(500 * KES)} sent to JOHN K." in paid
    received = bob.next("the payment")
    assert f"{ref_in(paid)} Confirmed. You have received {kes(500 * KES)} from ALICE A." in received
    money.quiet()
    assert money.posted(bob.msisdn) == 500 * KES
    assert money.posted(alice.msisdn) == START - 500 * KES - money.fee(500 * KES)


def test_a_merchant_request_paid_twice(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    shop, till = merchant(money, "Duka La Juma")
    assert shop.send(f"REQ {national(alice.msisdn)} 200").startswith("Asked ALICE A.")
    code = code_in(alice.next("the request"), REQUEST_CODE)
    paid = alice.send(f"PAY {code} {PIN}")
    assert f"{kes(200 * KES)} paid to DUKA LA JUMA till {till}" in paid
    told = shop.next("the merchant's notice")
    assert f"from ALICE A. {_shown(alice)} for {code}" in told
    again = alice.send(f"pay {code.lower()} {PIN}")  # typed again (the same bytes are a repeat)
    assert again == f"Request {code} is paid already, ref {ref_in(paid)}. Nothing more was taken."
    money.quiet()
    assert money.posted(alice.msisdn) == START - 200 * KES
    assert money.posted(shop.msisdn) == 200 * KES - merchant_fee(money, 200 * KES)


def test_a_request_refused(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="John Kamau")
    bob.send(f"REQ {national(alice.msisdn)} 500")
    code = code_in(alice.next("the request"), REQUEST_CODE)
    refused = alice.send(f"NO {code}")
    assert (
        refused
        == f"You refused request {code} from JOHN K. for {kes(500 * KES)}. Nothing was paid."
    )
    told = bob.next("the refusal")
    assert told == f"ALICE A. {_shown(alice)} refused your request {code} for {kes(500 * KES)}."
    assert alice.send(f"PAY {code} {PIN}").startswith(f"You refused request {code}")
    money.quiet()
    assert money.posted(alice.msisdn) == START and money.posted(bob.msisdn) == 0


def test_a_request_expired(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="John Kamau")
    bob.send(f"REQ {national(alice.msisdn)} 500")
    code = code_in(alice.next("the request"), REQUEST_CODE)
    told = bob.next("the expiry")  # the settle step ends it after REQUEST_EXPIRY_S
    assert (
        told
        == f"Your request {code} to ALICE A. {_shown(alice)} for {kes(500 * KES)} expired unpaid."
    )
    assert alice.send(f"PAY {code} {PIN}").startswith(f"Request {code} from JOHN K. has expired")
    money.quiet()
    assert money.posted(alice.msisdn) == START and money.moves_of(alice.msisdn) == []


def _shown(phone: Phone) -> str:
    """The number as replies show it: 0712 000001."""
    local = national(phone.msisdn)
    return f"{local[:4]} {local[4:]}"
