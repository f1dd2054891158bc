"""parse_receipt_text's one-match path for the SMPP 3.4 Appendix B layout finds what the general
field search finds, for any values, and is taken for that layout only."""

from hypothesis import given
from hypothesis import strategies as st

from daemon import receipts
from daemon.receipts import _parse_any_layout, parse_receipt_text

KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")
# Values built from pieces of field names, colons and spaces: where a fast path could go wrong.
VALUE = st.lists(
    st.sampled_from(["a", "0", "7f", "-", ":", " ", "\t", "stat", "ID", "text", "date", "done",
                     "submit", "é", "err:", "sub:1"]),
    max_size=5,
).map("".join)  # fmt: skip


def layout(values: list[str], rest: str, keys=KEYS) -> str:
    return " ".join(f"{key}:{value}" for key, value in zip(keys, values, strict=True)) + (
        f" text:{rest}"
    )


@given(st.lists(VALUE, min_size=7, max_size=7), VALUE, st.booleans())
def test_the_one_match_path_agrees_with_the_general_search(values, rest, upper):
    text = layout(values, rest)
    text = text.upper() if upper else text
    assert parse_receipt_text(text) == _parse_any_layout(text)


def test_a_standard_receipt_takes_the_one_match_path(monkeypatch):
    def general(text):
        raise AssertionError("the general search ran")

    monkeypatch.setattr(receipts, "_parse_any_layout", general)
    text = layout(["0a1B", "001", "001", "2612020503", "2612020504", "DELIVRD", "000"], "Hi there")
    assert parse_receipt_text(text) == {
        "id": "0a1B", "sub": "001", "dlvrd": "001", "submitdate": "2612020503",
        "donedate": "2612020504", "stat": "DELIVRD", "err": "000", "text": "Hi there",
    }  # fmt: skip


def test_other_layouts_still_parse():
    assert parse_receipt_text("ID : abc123   Stat:undeliv  ERR:  12") == {
        "id": "abc123", "stat": "undeliv", "err": "12",
    }  # fmt: skip
    assert parse_receipt_text("stat:DELIVRD id:9") == {"stat": "DELIVRD", "id": "9"}
