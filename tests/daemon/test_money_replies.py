"""Every money reply fits in one SMS (160 GSM-7 septets) with realistic worst-case values: the
longest amounts a tier allows, a long name, a full reference, a date and time."""

import pytest

from daemon import replies
from daemon.catalogues import default_catalogues
from smscore.text import gsm7_septet_length as septet_count

SMS_SEPTETS = 160
# Catalogue files measured elsewhere: core.po, and flows with worst values of their own
# (bills.po: tests/daemon/test_bill_replies.py; receipts.po, the tag: test_receipt_replies.py;
# offline.po: test_offline_replies.py; app_receipts.po: test_app_receipt_replies.py; ussd.po:
# test_ussd_menu_replies.py; ussd_sessions.po: test_ussd_sessions_replies.py).
OWN_TESTS = frozenset(
    {
        "core.po",
        "bills.po",
        "receipts.po",
        "offline.po",
        "app_receipts.po",
        "ussd.po",
        "ussd_sessions.po",
        "api.po",  # tests/api/test_api_replies.py
    }
)
WORST = {
    "service": "smscore",
    # An enrolment's token: #E1:<device id, 8 bytes in hex>:<X25519 key, 32 bytes in base64>.
    "token": "#E1:" + "f" * 16 + ":" + "A" * 43 + "=",
    "amount": "KES 250,000.00",
    "needed": "KES 250,120.00",
    "balance": "KES 500,000.00",
    "fee": "KES 350.00",
    "commission": "KES 1,000.00",
    "allowed": "KES 250,000.00",
    "name": "WANJIKUMUTHONI K.",
    "phone": "0712 345678",
    "payer": "WANJIKUMUTHONI K. 0712 345678",
    "payee": "WANJIKUMUTHONI K. 0712 345678",
    "agent": "MAMA MBOGA SHOP 0712 345678",
    "ref": "QK7A2B9XYZ",
    "code": "48213795",
    "when": "30/12/26 23:59",
    "until": "30/12/26",
    "minutes": 2,
    "count": 5,
    "state": "cancelled, nothing moved",
    "lines": "",  # MINI is measured by its own test below
    "codes": "en, sw",
    "agent_number": "949981",
    "id_number": "12345678",
    "cash": "KES 249,650.00",
    "remaining": 2,
    "most": 64,
    "sent_ref": "QK7A2B9XYZ",
    "hours": "2160",  # money.reversal_window_hours at its largest (90 days)
    "till": "1234567890",  # tills.po, requests.po (their own worst cases: test_money_payments_replies)
    "note": " (nnnnnnnnnnnnnnnnnnnn)",
    "device": "0123456789abcdef",  # devices.po: a device id, 8 bytes in hex
    "tries": 20,  # channels.po: security.pin_max_failures at its largest
}


def money_keys():
    sources = default_catalogues().sources
    return sorted(
        (language, key)
        for language, keys in sources.items()
        for key, path in keys.items()
        if path.name not in OWN_TESTS and not key.startswith("help_")
    )


@pytest.mark.parametrize(("language", "key"), money_keys())
def test_money_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    missing = fields - WORST.keys()
    assert not missing, f"add worst-case values for {missing}"
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert septet_count(text) <= SMS_SEPTETS, f"{len(text)}: {text}"


def test_a_full_mini_statement_fits_one_sms():
    line = "30/12 -250,350.50* QK7A2B9XYZ"  # the longest line account._line writes
    for language in replies.LANGUAGES:
        text = replies.render(language, "mini", count=5, lines=";".join([line] * 5))
        assert septet_count(text) <= SMS_SEPTETS, text
