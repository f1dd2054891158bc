"""Every bill-payment reply (daemon/locale/*/bills.po) fits in one SMS (160 GSM-7 septets) with the
worst values PAY can put in it: the longest biller label and account, amounts at the tier maximum."""

import pytest

from daemon import replies
from daemon.money.account_rules import ACCOUNT_MAX_CHARS, parse_rule
from daemon.money.bills import BILLER_NAME_SHOWN_CHARS
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.catalogue_keys import keys_in
from tests.daemon.test_money_replies import SMS_SEPTETS, WORST

# One of each kind of rule, at its longest description.
RULES = ("digits:20", "digits:10-20", "digits:20,luhn", "alnum:20", "alnum:10-20", "regex:A+")


def longest_rule(language):
    texts = []
    for written in RULES:
        key, fields = parse_rule(written).description()
        texts.append(replies.render(language, key, **fields))
    return max(texts, key=septet_count)


def worst(language):
    rule = longest_rule(language)
    return {
        **WORST,
        "biller": "W" * BILLER_NAME_SHOWN_CHARS,
        "account": "9" * ACCOUNT_MAX_CHARS,
        "due": "KES 250,000.00",
        "rule": rule,
        "count": ACCOUNT_MAX_CHARS,
        "low": 10,
        "high": ACCOUNT_MAX_CHARS,
    }


def bill_keys():
    return keys_in("bills.po")


def test_every_bill_key_is_measured():
    assert {key for _, key in bill_keys()} >= {"bill_paid", "bill_paid_part", "bill_bad_account"}


@pytest.mark.parametrize(("language", "key"), bill_keys())
def test_bill_reply_fits_one_sms(language, key):
    values = worst(language)
    fields = replies.template_fields(replies.template(language, key))
    missing = fields - values.keys()
    assert not missing, f"add worst-case values for {missing}"
    text = replies.render(language, key, **{name: values[name] for name in fields})
    assert septet_count(text) <= SMS_SEPTETS, f"{septet_count(text)}: {text}"
