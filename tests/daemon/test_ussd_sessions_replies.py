"""The screens the USSD session shows itself (ussd_sessions.po) exist in every language with the
same fields, and fit one screen (and one SMS) with the worst values: the longest code a menu may
list, a long service name."""

import pytest

from daemon import replies
from daemon.catalogues import default_catalogues
from smscore.text import gsm7_septet_length as septet_count
from tests.daemon.test_money_replies import SMS_SEPTETS

FILE = "ussd_sessions.po"
CODE = "*" + "9" * 30 + "#"  # the longest a menu may list (daemon.ussd.menu.Code)
WORST = {"code": CODE, "main": CODE, "service": "M-PESA PLUS"}


def keys():
    sources = default_catalogues().sources
    return sorted(
        (language, key)
        for language, found in sources.items()
        for key, path in found.items()
        if path.name == FILE
    )


def test_the_file_is_in_every_language_with_the_same_keys():
    by_language = {}
    for language, key in keys():
        by_language.setdefault(language, set()).add(key)
    assert set(by_language) == set(replies.LANGUAGES)
    assert {"ussd_session_ended", "ussd_unknown_code"} <= by_language["en"]
    assert len({frozenset(found) for found in by_language.values()}) == 1


@pytest.mark.parametrize(("language", "key"), keys())
def test_a_session_screen_fits_with_the_worst_values(language, key):
    fields = replies.template_fields(replies.template(language, key))
    assert fields == replies.template_fields(replies.template("en", key))
    text = replies.render(language, key, **{name: WORST[name] for name in fields})
    assert septet_count(text) <= SMS_SEPTETS, f"{septet_count(text)}: {text}"
