"""Every fraud reply (daemon/locale/*/fraud.po) fits in one SMS (160 GSM-7 septets) with the worst
values a hold can put in it: a SEND at the tier maximum to the longest name, the longest service name
a deployment is likely to set, and the longest payee label a held, rejected or expired move shows
(a bill: the longest biller code and account, daemon.money.held.payee_label)."""

import pytest

from daemon import replies
from daemon.money.account_rules import ACCOUNT_MAX_CHARS
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.catalogue_keys import keys_in

BILLER_CODE_MAX_CHARS = 16  # daemon.money.billers.normal_code
WORST = {
    "service": "M-PESA PLUS",
    "amount": "KES 250,000.00",
    "payee": "W" * BILLER_CODE_MAX_CHARS + " " + "9" * ACCOUNT_MAX_CHARS,
    "phone": "0712 345678",
    "ref": "QK7A2B9XYZ",
}


def fraud_keys():
    return keys_in("fraud.po")


def test_every_fraud_key_is_measured_in_both_languages():
    assert set(fraud_keys()) == {
        (language, key)
        for language in ("en", "sw")
        for key in (
            "fraud_held",
            "fraud_refused",
            "fraud_rejected",
            "fraud_expired",
            "fraud_held_agent",
            "fraud_ended_agent",
            "fraud_refused_deposit",
        )
    }


@pytest.mark.parametrize(("language", "key"), fraud_keys())
def test_fraud_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    assert fields <= WORST.keys(), f"add worst-case values for {fields - WORST.keys()}"
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert septet_count(text) <= 160, f"{septet_count(text)}: {text}"
