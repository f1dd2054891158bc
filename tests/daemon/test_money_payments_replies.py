"""Every reply of merchant tills and requests to pay (tills.po, requests.po) fits in one SMS (160 GSM-7
septets) with the worst values these flows can give: a till's longest name, the longest till number
and note, a merchant's large balance, the longest amounts a tier allows."""

import pytest

from daemon import replies
from daemon.catalogues import default_catalogues
from daemon.money.pay_requests import NOTE_MAX_CHARS
from daemon.money.tills import NAME_MAX_CHARS
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.test_money_replies import SMS_SEPTETS, WORST

TILL_NAME = "W" * NAME_MAX_CHARS
NOTE = "n" * NOTE_MAX_CHARS
WORST_HERE = {
    **WORST,
    "till": "1234567890",
    "code": "R4821",
    "balance": "KES 99,999,999.00",  # a merchant's wallet has no tier's maximum
    "note": f" ({NOTE})",
    "minutes": 1440,
}
FILES = ("tills.po", "requests.po")
# Replies whose {name} is a till's (a merchant's), not a customer's short name.
TILL_NAMED = {"till_suspended", "till_paid", "till_voided", "req_incoming", "req_you_refused",
              "req_expired", "req_refused"}  # fmt: skip


def keys():
    sources = default_catalogues().sources
    return sorted(
        (language, key)
        for language, found in sources.items()
        for key, path in found.items()
        if path.name in FILES
    )


def test_both_files_are_in_every_language():
    assert {language for language, _ in keys()} == set(replies.LANGUAGES)
    assert len(keys()) > 20


@pytest.mark.parametrize(("language", "key"), keys())
def test_reply_fits_one_sms(language, key):
    fields = replies.template_fields(replies.template(language, key))
    missing = fields - WORST_HERE.keys()
    assert not missing, f"add worst-case values for {missing}"
    values = {**WORST_HERE, "name": TILL_NAME} if key in TILL_NAMED else WORST_HERE
    text = replies.render(language, key, **{name: values[name] for name in fields})
    assert septet_count(text) <= SMS_SEPTETS, f"{septet_count(text)}: {text}"


@pytest.mark.parametrize("language", replies.LANGUAGES)
def test_the_note_clause_is_the_note_in_brackets(language):
    assert replies.render(language, "req_note_clause", note=NOTE) == f" ({NOTE})"
