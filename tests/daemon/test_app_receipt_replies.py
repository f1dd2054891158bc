"""The receipt-key replies (daemon/locale/*/app_receipts.po, RKEY): en and sw say the same fields,
and each fits one SMS with the worst values (the longest serial and a full key token)."""

import pytest

from daemon import replies
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.catalogue_keys import keys_in

WORST = {
    "serial": "K99",  # daemon.security.receipt_keys.MAX_SERIAL
    # a raw Ed25519 public key, 32 bytes in base64, and a few revoked serials (the worst list is
    # longer than one SMS: its frame size is tested in test_receipt_key_revocations.py)
    "token": "#R1:K99:" + "A" * 43 + "= #V1:K1-K9,K11,K13-K97",
    "service": "smscore",
}


def _keys():
    return keys_in("app_receipts.po", replies_only=True)


def test_en_and_sw_have_the_same_keys_and_fields() -> None:
    keys = {
        language: {key for lang, key in _keys() if lang == language} for language in ("en", "sw")
    }
    assert (
        keys["en"]
        == keys["sw"]
        == {
            "receipt_key",
            "receipt_key_unknown",
            "receipt_key_revoked",
        }
    )
    for key in keys["en"]:
        assert replies.template_fields(replies.template("en", key)) == replies.template_fields(
            replies.template("sw", key)
        ), key


@pytest.mark.parametrize(("language", "key"), _keys())
def test_receipt_key_reply_fits_one_sms(language, key) -> None:
    fields = replies.template_fields(replies.template(language, key))
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert septet_count(text) <= 160, f"{len(text)}: {text}"
