"""The USSD engine's texts and the menu download's replies (daemon/locale/*/ussd.po) fit one SMS
(160 GSM-7 septets) with their worst values; the download itself is the exception: it carries the
whole menu, encrypted, in as many parts as it needs (daemon.ussd.download)."""

import pytest

from daemon import replies
from daemon.ussd.arg_kinds import KINDS
from smscore.text import gsm7_septet_length
from tests.daemon.catalogue_keys import keys_in

SMS_SEPTETS = 160
LONG_DOCUMENT = {"menu_document"}


def worst_values(language: str) -> dict[str, str]:
    reasons = {r for kind in KINDS.values() for r in kind.reasons} | {"ussd_reason_one_value"}
    whys = [
        replies.render(language, r if r.startswith("ussd_") else f"reason_{r}") for r in reasons
    ]
    return {"service": "smscore", "why": max(whys, key=len), "version": "V" * 64}


@pytest.mark.parametrize(
    ("language", "key"), [k for k in keys_in("ussd.po") if k[1] not in LONG_DOCUMENT]
)
def test_each_text_fits_one_sms_with_its_worst_values(language, key):
    template = replies.template(language, key)
    values = worst_values(language)
    missing = replies.template_fields(template) - values.keys()
    assert not missing, f"add worst values for {missing}"
    text = template.format(**values)
    assert gsm7_septet_length(text) <= SMS_SEPTETS, text


def test_the_engine_texts_are_in_every_language():
    for key in ("ussd_more", "ussd_back", "ussd_bad_choice", "ussd_bad_input", "ussd_empty_input"):
        texts = {replies.template(language, key) for language in replies.LANGUAGES}
        assert len(texts) == len(replies.LANGUAGES), key  # translated, not English everywhere
