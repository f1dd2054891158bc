"""The offline transfer replies (daemon/locale/*/offline.po): en and sw say the same fields, and each
refusal fits one SMS with the worst values. offline_result and offline_repeat wrap another reply
(the SEND's own, measured with it) and go to an app only, encrypted over several parts anyway."""

import pytest

from daemon import replies
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.catalogue_keys import keys_in

WORST = {
    "token": "#O1:9999999999:app_only",  # ten-digit counter, the longest outcome
    "currency": "XXX",
    "reply": "",
    "service": "smscore",
}
WRAPPERS = {"offline_result", "offline_repeat"}


def _keys():
    return keys_in("offline.po", replies_only=True)


def test_en_and_sw_have_the_same_keys_and_fields() -> None:
    keys = {
        language: {key for lang, key in _keys() if lang == language} for language in ("en", "sw")
    }
    assert keys["en"] == keys["sw"] and len(keys["en"]) >= 9
    for key in keys["en"]:
        assert replies.template_fields(replies.template("en", key)) == replies.template_fields(
            replies.template("sw", key)
        ), key


@pytest.mark.parametrize(("language", "key"), _keys())
def test_offline_reply_fits_one_sms(language, key) -> None:
    fields = replies.template_fields(replies.template(language, key))
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    limit = 160 - (0 if key not in WRAPPERS else -160)  # a wrapper adds at most one more SMS
    assert septet_count(text) <= limit, f"{len(text)}: {text}"
