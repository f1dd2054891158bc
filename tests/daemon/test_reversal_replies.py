"""Every reversal reply (daemon/locale/*/reversals.po) fits in one SMS with the worst values it can
be given: the longest amounts, names, a bill's payee, a reference typed at its longest, the longest
window; and VERIFY of a hold or a refund, whose payee is the reversal's own label."""

import pytest

from daemon import replies
from daemon.money.reversals import SHOWN_REF_CHARS
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.catalogue_keys import keys_in

SMS_SEPTETS = 160
PARTY = "WANJIKUMUTHONI K. 0712 345678"  # the longest short name and number the tests use
BILL_PAYEE = "B" * 16 + " " + "9" * 20  # moves.detail of a bill: biller code and account number
WORST = {
    "service": "smscore",
    "ref": "Q" * SHOWN_REF_CHARS,
    "sent_ref": "QK7A2B9XYZ",
    "amount": "KES 250,000.00",
    "balance": "KES 500,000.00",
    "name": "WANJIKUMUTHONI K.",
    "phone": "0712 345678",
    "payee": max(PARTY, BILL_PAYEE, key=len),
    "when": "30/12/26 23:59",
    "hours": "2160",  # config: reversal_window_hours <= 90 days
}


def reversal_keys():
    return keys_in("reversals.po")


def test_every_language_has_the_reversal_replies():
    keys = {key for _, key in reversal_keys()}
    assert {"reverse_asked", "reversal_approved_payer", "reversal_payee"} <= keys
    assert {language for language, _ in reversal_keys()} == set(replies.LANGUAGES)


@pytest.mark.parametrize(("language", "key"), reversal_keys())
def test_a_reversal_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    assert fields <= WORST.keys(), f"add worst-case values for {fields - WORST.keys()}"
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert septet_count(text) <= SMS_SEPTETS, f"{septet_count(text)}: {text}"


@pytest.mark.parametrize("language", ["en", "sw"])
def test_verify_of_a_hold_and_of_a_refund_fits_one_sms(language):
    def verify(payer, payee):
        return replies.render(
            language, "verify_found", ref="QK7A2B9XYZ", amount=WORST["amount"], payer=payer,
            payee=payee, when=WORST["when"],
            state=replies.template(language, "state_pending"),
        )  # fmt: skip

    hold = replies.render(language, "reversal_hold_payee", sent_ref=WORST["sent_ref"])
    refund = replies.render(language, "reversal_payee", payee=PARTY, sent_ref=WORST["sent_ref"])
    for text in (verify(PARTY, hold), verify("smscore", refund)):  # a refund's payer: the service
        assert septet_count(text) <= SMS_SEPTETS, f"{septet_count(text)}: {text}"
