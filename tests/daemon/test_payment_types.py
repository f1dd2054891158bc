"""The payment commands' arguments as the registry parses them: PAY's two forms (a bill, or a
request's code), a till number, and BUY's amount with an optional number; the PIN is always the last
word and never shows in the stored text."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.commands.errors import BadArgument, MissingArgument
from daemon.commands.msisdn import Numbering
from daemon.commands.types import ParseEnv
from daemon.money.commands import service_registry
from daemon.money.payment_types import AirtimeOrder, BillTarget, RequestTarget

ENV = ParseEnv(Numbering("KE"))
REGISTRY = service_registry()


def parse(text: str):
    return REGISTRY.parse(text, ENV)


def test_pay_with_three_words_is_a_bill():
    parsed = parse("PAY kplc 12345678 1,500.50 1234")
    assert parsed.args.target == BillTarget("KPLC", "12345678", 150_050)
    assert parsed.args.pin == "1234"
    assert parsed.masked_text == "PAY kplc 12345678 1,500.50 ****"


def test_pay_with_one_word_is_a_request_code():
    parsed = parse("lipa r4821 1234")
    assert parsed.args.target == RequestTarget("R4821")
    assert parsed.masked_text == "lipa r4821 ****"


@pytest.mark.parametrize(
    "text",
    ["PAY 4821 1234", "PAY KPLC 1234", "PAY KPLC 123 1234", "PAY K 123 100 1234",
     "PAY KPLC 1 2 3 1234", "PAY R48 1234"],
)  # fmt: skip
def test_pay_in_neither_form_says_how_to_write_it(text):
    with pytest.raises(BadArgument) as caught:
        parse(text)
    assert caught.value.reason == "pay_format"
    assert "1234" not in caught.value.masked_text.split()


def test_pay_with_a_bad_amount_names_the_amount_problem():
    with pytest.raises(BadArgument) as caught:
        parse("PAY KPLC 12345678 -5 1234")
    assert caught.value.reason != "pay_format"


def test_pay_without_a_pin_says_the_pin_is_missing():
    with pytest.raises(MissingArgument) as caught:
        parse("PAY")
    assert caught.value.arg.name == "target"


def test_till_number_is_digits():
    parsed = parse("TILL 123456 350 1234")
    assert (parsed.args.till, parsed.args.amount, parsed.args.pin) == ("123456", 35_000, "1234")
    with pytest.raises(BadArgument) as caught:
        parse("TILL SHOP 350 1234")
    assert caught.value.reason == "till_format"


def test_buy_for_oneself_and_for_another_number_written_in_groups():
    assert parse("BUY 100 1234").args.order == AirtimeOrder(10_000, None)
    other = parse("BUY 50 0712 345 678 1234")
    assert other.args.order == AirtimeOrder(5_000, "254712345678")
    assert other.masked_text.endswith(" ****")


def test_buy_with_words_after_the_number_says_how_to_write_it():
    with pytest.raises(BadArgument) as caught:
        parse("BUY 50 0712345678 now 1234")
    assert caught.value.reason in {"buy_format", "not_digits"}


def test_req_takes_an_optional_note_and_no_pin():
    parsed = parse("REQ 0712345678 500 for lunch")
    assert (parsed.args.phone, parsed.args.amount, parsed.args.note) == (
        "254712345678",
        50_000,
        "for lunch",
    )
    assert parse("REQ 0712345678 500").args.note is None


@given(
    code=st.from_regex(r"[A-Za-z][0-9]{4}", fullmatch=True),
    pin=st.from_regex(r"[0-9]{4,6}", fullmatch=True),
)
def test_every_request_code_parses_and_the_pin_never_shows(code, pin):
    parsed = parse(f"PAY {code} {pin}")
    assert parsed.args.target == RequestTarget(code.upper())
    assert parsed.masked_text == f"PAY {code} ****"


@given(
    biller=st.from_regex(r"[A-Za-z0-9]{2,16}", fullmatch=True),
    account=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}", fullmatch=True),
    amount=st.integers(min_value=1, max_value=250_000),
)
def test_every_bill_parses_to_its_parts(biller, account, amount):
    parsed = parse(f"PAY {biller} {account} {amount} 1234")
    assert parsed.args.target == BillTarget(biller.upper(), account.upper(), amount * 100)


@pytest.mark.parametrize(
    ("text", "shown", "label"),
    [
        ("BUY 100 0799123 1234", "0799123", "arg_phone"),
        ("BUY 1x 1234", "1x", "arg_amount"),
        ("PAY KPLC 123 1x 1234", "1x", "arg_amount"),
        ("PAY KPLC 1@3 100 1234", "1@3", "arg_account"),
    ],
)
def test_a_bad_part_is_named_with_its_own_word(text, shown, label):
    with pytest.raises(BadArgument) as caught:
        parse(text)
    assert (caught.value.shown, caught.value.label) == (shown, label)
    reply = REGISTRY.explain(caught.value, "en")
    assert f'"{shown}"' in reply and len(reply) <= 160


def test_airtime_is_only_for_mobile_numbers():
    with pytest.raises(BadArgument) as caught:
        parse("BUY 100 020 2345678 1234")  # a Nairobi landline
    assert (caught.value.reason, caught.value.label) == ("not_mobile", "arg_phone")
    assert parse("BUY 100 0110 123456 1234").args.order.msisdn == "254110123456"
