"""Screens as the network carries them: at most `screen_max_chars` GSM-7 septets (an extension
character counts two), or, when a text needs UCS-2, the UCS-2 share of it (80 characters of 182:
USSD's 160 octets). A list longer than one screen is paged: "98. More" on every page but the last,
"0. Back" on every page but the first (and on the first too when the list was reached from another
screen: 0 then goes back to it). Every page keeps room for the one-line error a wrong
choice puts above it, so an answer never changes where the pages break.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from daemon import replies
from smscore.text import TextEncodingError, gsm7_septet_length

MORE = "98"
BACK = "0"
NETWORK_MAX_SEPTETS = 182
NETWORK_MAX_UCS2_CHARS = 80


class DoesNotFit(ValueError):
    """One choice (with the title and the paging lines) is longer than a screen."""


def septets(text: str) -> int | None:
    """GSM-7 septets of `text`; None if it needs UCS-2."""
    try:
        return gsm7_septet_length(text)
    except TextEncodingError:
        return None


def ucs2_max_chars(max_chars: int) -> int:
    return max_chars * NETWORK_MAX_UCS2_CHARS // NETWORK_MAX_SEPTETS


def room_used(text: str, max_chars: int) -> tuple[int, int]:
    """(size, limit) of `text`: septets of max_chars, or UTF-16 units of the UCS-2 limit."""
    found = septets(text)
    if found is not None:
        return found, max_chars
    return len(text.encode("utf-16-be")) // 2, ucs2_max_chars(max_chars)


def fits(text: str, max_chars: int, reserve: int = 0) -> bool:
    size, limit = room_used(text, max_chars)
    return size + reserve <= limit


def clip(text: str, max_chars: int) -> str:
    """`text` cut to fit (a last resort: a described name longer than the menu was measured for)."""
    while text and not fits(text, max_chars):
        text = text[:-1]
    return text


def pick(labels: Mapping[str, str], language: str, default: str) -> str:
    return labels.get(language) or labels[default]


class _Shown(dict):
    def __missing__(self, key: str) -> str:
        return ""  # a checked menu never names an input it lacks; a forged state shows nothing


def fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(_Shown(values))


def fields_of(template: str) -> list[str]:
    """The {names} in a text; ValueError if it is not a plain template (no formats, no indexes)."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}}: a field is a plain input name")
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class Nav:
    """The paging lines' labels and the error line kept room for, in one language."""

    more: str
    back: str
    reserve: int  # septets of the longest error line above a list, and its line break

    @classmethod
    def of(cls, language: str) -> Nav:
        error = replies.render(language, "ussd_bad_choice")
        return cls(
            f"{MORE}. {replies.render(language, 'ussd_more')}",
            f"{BACK}. {replies.render(language, 'ussd_back')}",
            (septets(error) or len(error)) + 1,
        )


def compose(title: str | None, lines: Sequence[str], nav: Nav, back: bool, more: bool) -> str:
    shown = [*([title] if title else []), *lines]
    if more:
        shown.append(nav.more)
    if back:
        shown.append(nav.back)
    return "\n".join(shown)


def paginate(
    title: str | None, lines: Sequence[str], nav: Nav, max_chars: int, back_first: bool = False
) -> list[tuple[int, int]]:
    """Pages as (first, end) indexes into `lines`, filled greedily; DoesNotFit if one line cannot
    fit a page whatever the others. `back_first`: the first page has "0. Back" too (a list
    reached from another screen)."""
    pages: list[tuple[int, int]] = []
    first = 0
    while first < len(lines):

        def page_fits(end: int, first: int = first) -> bool:
            back = bool(pages) or back_first
            text = compose(title, lines[first:end], nav, back, end < len(lines))
            return fits(text, max_chars, nav.reserve)

        end = first + 1
        if not page_fits(end):
            raise DoesNotFit(lines[first])
        while end < len(lines) and page_fits(end + 1):
            end += 1
        pages.append((first, end))
        first = end
    return pages


def page_text(
    title: str | None,
    lines: Sequence[str],
    nav: Nav,
    pages: Sequence[tuple[int, int]],
    page: int,
    back_first: bool = False,
) -> str:
    first, end = pages[page]
    return compose(title, lines[first:end], nav, page > 0 or back_first, page + 1 < len(pages))


def with_error(error: str | None, text: str, max_chars: int) -> str:
    return clip(f"{error}\n{text}" if error else text, max_chars)
