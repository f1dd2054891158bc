"""The business API's SMS to customers fit one SMS (160 GSM-7 septets) with the worst values: the
longest amounts, the longest business label an SMS shows, a full reference, a date and time."""

import pytest

from daemon import replies
from daemon.api.worker import BUSINESS_LABEL_CHARS
from daemon.catalogues import default_catalogues
from smscore.text import gsm7_septet_length

WORST = {
    "service": "smscore",
    "ref": "QK7A2B9XYZ",
    "sent_ref": "QK7A2B9XYZ",
    "amount": "KES 250,000.00",
    "balance": "KES 500,000.00",
    "business": "W" * BUSINESS_LABEL_CHARS,
    "when": "30/12/26 23:59",
}


def api_keys():
    sources = default_catalogues().sources
    return sorted(
        (language, key)
        for language, keys in sources.items()
        for key, path in keys.items()
        if path.name == "api.po"
    )


def test_both_languages_have_the_keys():
    assert {language for language, _ in api_keys()} >= {"en", "sw"}
    assert len(api_keys()) >= 4


@pytest.mark.parametrize(("language", "key"), api_keys())
def test_api_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    assert fields <= WORST.keys(), f"add worst-case values for {fields - WORST.keys()}"
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert gsm7_septet_length(text) <= 160, f"{gsm7_septet_length(text)}: {text}"
