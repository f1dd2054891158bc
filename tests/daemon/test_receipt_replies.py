"""Every reply that carries a receipt tag (receipt_tags.TAGGED_KEYS) still fits in one SMS (160 GSM-7
septets) with the tag at its longest, " Sig K99-" and the most tag characters, and the worst values
its own file's test uses."""

import pytest

from daemon import replies
from daemon.catalogues import default_catalogues
from daemon.money.receipt_tags import TAG_KEY, TAGGED_KEYS
from daemon.security.receipt_keys import MAX_SERIAL, MAX_TAG_CHARS
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon import test_bill_replies, test_money_payments_replies, test_reversal_replies
from tests.daemon.test_money_replies import SMS_SEPTETS, WORST

WORST_TAG = f"K{MAX_SERIAL}-" + "W" * MAX_TAG_CHARS


def worst_values(language: str, file_name: str, key: str) -> dict:
    if file_name == "bills.po":
        return test_bill_replies.worst(language)
    if file_name in test_money_payments_replies.FILES:
        values = test_money_payments_replies.WORST_HERE
        if key in test_money_payments_replies.TILL_NAMED:
            return {**values, "name": test_money_payments_replies.TILL_NAME}
        return values
    if file_name == "reversals.po":
        return test_reversal_replies.WORST
    return WORST


def receipt_keys():
    found = []
    for language, keys in default_catalogues().sources.items():
        for key, path in keys.items():
            if key in TAGGED_KEYS:
                found.append((language, path.name, key))
    return sorted(found)


def test_every_tagged_reply_is_in_every_language():
    assert len(receipt_keys()) == len(TAGGED_KEYS) * len(replies.LANGUAGES)


@pytest.mark.parametrize("key", sorted(TAGGED_KEYS))
def test_a_tagged_reply_shows_what_its_check_needs(key):
    for language in replies.LANGUAGES:
        assert {"ref", "amount"} <= replies.template_fields(replies.template(language, key))


@pytest.mark.parametrize(("language", "file_name", "key"), receipt_keys())
def test_a_receipt_with_its_tag_fits_one_sms(language, file_name, key):
    values = worst_values(language, file_name, key)
    fields = replies.template_fields(replies.template(language, key))
    text = replies.render(language, key, **{name: values[name] for name in fields})
    tagged = f"{text} {replies.render(language, TAG_KEY, tag=WORST_TAG)}"
    assert septet_count(tagged) <= SMS_SEPTETS, f"{septet_count(tagged)}: {tagged}"


@pytest.mark.parametrize("language", replies.LANGUAGES)
def test_the_tag_is_typed_back_as_sent(language):
    assert replies.render(language, TAG_KEY, tag="K3-7QX3M2A") == "Sig K3-7QX3M2A"
