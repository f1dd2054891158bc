"""Account rules: the grammar (and its one-line errors), what each kind accepts, the Luhn digit."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.money.account_rules import (
    ACCOUNT_MAX_CHARS,
    AccountRuleError,
    RuleKind,
    luhn_check_digit,
    luhn_valid,
    parse_rule,
)

FULLWIDTH_8 = "".join(chr(0xFF10 + int(d)) for d in "12345678")  # fullwidth digits
payloads = st.text(alphabet="0123456789", min_size=1, max_size=ACCOUNT_MAX_CHARS - 1)


@given(payloads)
def test_a_number_with_its_check_digit_is_valid(payload):
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(payloads, st.data())
def test_one_digit_changed_is_caught(payload, data):
    number = payload + luhn_check_digit(payload)
    position = data.draw(st.integers(0, len(number) - 1))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    changed = number[:position] + other + number[position + 1 :]
    assert not luhn_valid(changed)


def test_known_luhn_numbers():
    assert luhn_valid("79927398713")  # the textbook example
    assert luhn_check_digit("7992739871") == "3"
    assert not luhn_valid("79927398710")
    assert not luhn_valid("7")  # a lone check digit checks nothing
    assert not luhn_valid(
        "\uff17\uff19\uff19\uff12\uff17\uff13\uff19\uff18\uff17\uff11\uff13"
    )  # fullwidth digits are not digits here


@pytest.mark.parametrize(
    ("written", "kind", "low", "high", "luhn"),
    [
        ("digits:8", RuleKind.DIGITS, 8, 8, False),
        ("digits:6-10", RuleKind.DIGITS, 6, 10, False),
        ("DIGITS: 8 , LUHN", RuleKind.DIGITS, 8, 8, True),
        ("alnum:4-12", RuleKind.ALNUM, 4, 12, False),
    ],
)
def test_rules_parse(written, kind, low, high, luhn):
    rule = parse_rule(written)
    assert (rule.kind, rule.min_chars, rule.max_chars, rule.luhn) == (kind, low, high, luhn)
    assert rule.text == written.strip()


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("", "1 to 128 characters"),
        ("letters:8", "starts with digits:, alnum: or regex:"),
        ("digits", "needs what follows the colon"),
        ("digits:", "needs what follows the colon"),
        ("digits:ten", "write N or N-M"),
        ("digits:10-6", "shortest first"),
        ("digits:0", "from 1 to 20"),
        ("digits:8-21", "from 1 to 20"),
        ("digits:8,mod97", "unknown option 'mod97'"),
        ("alnum:8,luhn", "luhn is for digits: rules"),
        ("regex:[A-", "not a regular expression"),
        ("x" * 129, "1 to 128 characters"),
    ],
)
def test_a_bad_rule_says_what_is_wrong_on_one_line(written, problem):
    with pytest.raises(AccountRuleError) as caught:
        parse_rule(written)
    message = str(caught.value)
    assert problem in message and "\n" not in message
    assert message.startswith("account rule ")


@pytest.mark.parametrize(
    ("written", "good", "bad"),
    [
        ("digits:8", ["12345678"], ["1234567", "123456789", "1234567A", FULLWIDTH_8]),
        ("digits:6-10", ["123456", "1234567890"], ["12345", "12345678901"]),
        ("digits:11,luhn", ["79927398713"], ["79927398710", "7992739871"]),
        ("alnum:4-12", ["AB12", "ab12cd34ef56"], ["AB1", "AB-12", "AB12CD34EF567"]),
        ("regex:[A-Z]{2}\\d{6}", ["KE123456", "ke123456"], ["KE12345", "K1234567", "KE123456X"]),
    ],
)
def test_what_a_rule_accepts(written, good, bad):
    rule = parse_rule(written)
    assert all(rule.accepts(account) for account in good), good
    assert not any(rule.accepts(account) for account in bad), bad


@given(st.text(max_size=30))
def test_no_account_longer_than_an_sms_can_carry_is_accepted(account):
    for written in ("alnum:1-20", "regex:.*", "digits:1-20"):
        accepted = parse_rule(written).accepts(account)
        assert not accepted or 0 < len(account) <= ACCOUNT_MAX_CHARS


def test_descriptions_name_the_lengths():
    assert parse_rule("digits:8,luhn").description() == ("bill_rule_digits", {"count": 8})
    assert parse_rule("alnum:4-12").description() == (
        "bill_rule_alnum_range",
        {"low": 4, "high": 12},
    )
    assert parse_rule("regex:\\d+").description() == ("bill_rule_pattern", {})
