"""Every PIN the documentation shows passes the PIN rules: a reader who copies an example (README,
the console's placeholder, the etc/ comments) must not be told the PIN is too easy to guess."""

import re
from pathlib import Path

import pytest

from daemon.subscribers import is_weak_pin

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    REPO / "README.md",
    REPO / "simulators" / "console" / "index.html",
    *sorted((REPO / "etc").glob("*.toml")),
]
# Commands whose last word is the PIN (the README's table "Mobile money").
PIN_LAST = "SEND|WITHDRAW|PAY|TILL|BAL|MINI|REG|DEPOSIT|COLLECT|BUY"
EXAMPLE = re.compile(rf"""\b(?:{PIN_LAST}) [^"'`<>\n]*?\b(\d{{4,6}})(?=["'`]|$)""", re.IGNORECASE)


def pins_shown(text: str) -> list[str]:
    return [match.group(1) for match in EXAMPLE.finditer(text)]


def test_the_scan_finds_pin_examples() -> None:
    assert pins_shown('texts "SEND 0712345678 500 4821" or `PAY KPLC 12345678 1500 1234`') == [
        "4821",
        "1234",
    ]
    assert pins_shown('placeholder="type an SMS, e.g. BAL 1234"') == ["1234"]
    assert pins_shown("`REQ 0712345678 500 lunch`, `SEND <phone> <amount> <PIN>`") == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_pin_shown_passes_the_pin_rules(document: Path) -> None:
    weak = [pin for pin in pins_shown(document.read_text(encoding="utf-8")) if is_weak_pin(pin)]
    assert weak == [], f"{document.name} shows PINs the rules refuse: {weak}"


def test_the_readme_and_the_console_show_pins() -> None:
    assert len(pins_shown((REPO / "README.md").read_text(encoding="utf-8"))) >= 5
    assert pins_shown(DOCUMENTS[1].read_text(encoding="utf-8"))
