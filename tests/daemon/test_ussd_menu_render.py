"""Screens fit the network (daemon.ussd.render): whatever the labels a menu that loads has, every
page of every list, wrong-choice pages included, is within screen_max_chars GSM-7 septets (or the
UCS-2 limit when a label needs UCS-2), and "98" pages through every choice exactly once."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.commands.registry import Role
from daemon.ussd.engine import Screen, View, answer, start
from daemon.ussd.menu import MenuError
from daemon.ussd.render import ucs2_max_chars
from smscore.text import TextEncodingError, gsm7_septet_length
from tests.daemon.ussd_menus import list_menu, menu_of

GSM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-!?@&()"
EXTENSION = "€[]^~|"  # two septets each (braces are fields: {{ in a file)
UCS2 = "\u0645\u4e2d\u00e2"  # Arabic, Chinese, a circumflex: not GSM-7
LINE = re.compile(r"^(\d+)\. ", re.MULTILINE)


def size_and_limit(text: str, max_chars: int) -> tuple[int, int]:
    try:
        return gsm7_septet_length(text), max_chars
    except TextEncodingError:
        return len(text.encode("utf-16-be")) // 2, max_chars * 80 // 182


def label_text(ucs2: bool):
    alphabet = GSM + EXTENSION + (UCS2 if ucs2 else "")
    return st.text(alphabet, min_size=1, max_size=40).map(str.strip).filter(bool)


@st.composite
def menus(draw):
    ucs2 = draw(st.booleans())
    count = draw(st.integers(1, 40))
    labels = [{"en": draw(label_text(ucs2)), "sw": draw(label_text(False))} for _ in range(count)]
    roles = draw(
        st.lists(st.sampled_from([None, ["customer"], ["agent"]]), min_size=count, max_size=count)
    )
    return labels, roles, draw(st.integers(40, 182))


def pages(menu, role, language, max_chars):
    """Every page shown by pressing 98 from the first, and the choice numbers on each."""
    v = View(role, language, screen_max_chars=max_chars)
    shown = start(menu, v)
    seen = [shown]
    while "\n98. " in shown.text and len(seen) < 100:
        shown = answer(menu, shown.state, "98", v)
        seen.append(shown)
    return v, seen


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(menus())
def test_every_page_fits_and_paging_shows_every_choice_once(drawn):
    labels, roles, max_chars = drawn
    try:
        menu = menu_of(list_menu(labels, roles), max_chars)
    except MenuError as exc:
        assert "does not fit" in str(exc)  # then some choice really cannot fit a page
        return
    for role in (Role.CUSTOMER, Role.AGENT):
        visible = sum(1 for r in roles if r is None or role.value in r)
        for language in ("en", "sw"):
            v, seen = pages(menu, role, language, max_chars)
            numbers = [
                int(n) for page in seen for n in LINE.findall(page.text) if n not in ("98", "0")
            ]
            if visible == 0:
                assert seen[0].final and numbers == []
                continue
            assert numbers == list(range(1, visible + 1))
            for index, page in enumerate(seen):
                assert ("\n0. " in page.text) == (index > 0)
                wrong = answer(menu, page.state, "99", v)
                for text in (page.text, wrong.text):
                    size, limit = size_and_limit(text, max_chars)
                    assert size <= limit, (size, limit, text)
                assert wrong.text.partition("\n")[2] == page.text
            if len(seen) > 1:
                back = answer(menu, seen[1].state, "0", v)
                assert back.text == seen[0].text


def test_a_choice_on_a_later_page_is_picked_by_its_number():
    labels = [{"en": f"Service number {i}", "sw": f"Huduma {i}"} for i in range(20)]
    menu = menu_of(list_menu(labels))
    v, seen = pages(menu, Role.CUSTOMER, "en", 182)
    assert len(seen) >= 2
    last = seen[-1]
    picked = answer(menu, last.state, "20", v)
    assert picked.final and picked.text == "end 19"
    # A number from another page is not on this one: the same page comes back with the error.
    again = answer(menu, last.state, "1", v)
    assert again.text == "Invalid choice.\n" + last.text and again.state == last.state


def test_the_ucs2_limit_is_the_share_of_a_182_screen():
    assert ucs2_max_chars(182) == 80 and ucs2_max_chars(40) == 17


@pytest.mark.parametrize("language", ["en", "sw"])
def test_paging_lines_are_localised(language):
    labels = [{"en": f"Service number {i}", "sw": f"Huduma nambari {i}"} for i in range(20)]
    menu = menu_of(list_menu(labels))
    _, seen = pages(menu, Role.CUSTOMER, language, 182)
    more = {"en": "98. More", "sw": "98. Zaidi"}[language]
    back = {"en": "0. Back", "sw": "0. Rudi"}[language]
    assert seen[0].text.endswith(more) and seen[1].text.endswith(back)
    assert isinstance(seen[0], Screen)
