"""Every reply of a move held for its one-time password (daemon/locale/*/otp.po) fits one SMS (160
GSM-7 septets) in each language with the worst values it can carry: amounts at the tier maximum, an
eight-digit OTP good for a day, the longest payee a question names (a biller's shown name and the
longest account), the longest label a held move's later SMS names (the longest biller code and
account), the longest agent store label."""

import pytest

from daemon import replies
from daemon.money.account_rules import ACCOUNT_MAX_CHARS
from daemon.money.agents import STORE_NAME_SHOWN_CHARS
from daemon.money.bills import BILLER_NAME_SHOWN_CHARS
from smscore.text import gsm7_septet_length
from tests.daemon.catalogue_keys import keys_in

BILLER_CODE_MAX_CHARS = 16  # daemon.money.billers.normal_code
LABEL = "W" * BILLER_CODE_MAX_CHARS + " " + "9" * ACCOUNT_MAX_CHARS  # a held bill's detail
WORST = {
    "amount": "KES 250,000.00",
    "fee": "KES 350.00",
    "name": "WANJIKUMUTHONI K.",
    "phone": "0712 345678",
    "code": "48213795",
    "ref": "QK7A2B9XYZ",
    "remaining": 9,
    "minutes": 1440,
    "payee": LABEL,
    "agent": "1234567 " + "W" * STORE_NAME_SHOWN_CHARS,
}
# What a key's field carries beyond WORST: the question names the biller by its shown name; a
# released or locked move names its payee by label in {phone}.
FOR_KEY = {
    "otp_pay_confirm": {"payee": "W" * BILLER_NAME_SHOWN_CHARS + " " + "9" * ACCOUNT_MAX_CHARS},
    "otp_locked_released": {"phone": LABEL},
}
NEW_KEYS = {"otp_pay_confirm", "otp_buy_confirm", "otp_withdraw_confirm", "otp_expired",
            "held_price_changed"}  # fmt: skip


def test_the_new_keys_are_in_both_languages():
    found = {(language, key) for language, key in keys_in("otp.po") if key in NEW_KEYS}
    assert found == {(language, key) for language in ("en", "sw") for key in NEW_KEYS}


@pytest.mark.parametrize(("language", "key"), keys_in("otp.po", replies_only=True))
def test_otp_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    values = {**WORST, **FOR_KEY.get(key, {})}
    assert fields <= values.keys(), f"add worst-case values for {fields - values.keys()}"
    text = replies.render(language, key, **{name: values[name] for name in fields})
    assert gsm7_septet_length(text) <= 160, f"{gsm7_septet_length(text)}: {text}"
