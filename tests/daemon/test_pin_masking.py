"""PINs typed in any shape (stuck to a word, fullwidth, other scripts' digits, with control
characters) are accepted when the command is right, and never kept, logged or quoted back when not."""

import itertools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, LargeBinary, MetaData, String, select
from twisted.logger import capturedLogs, formatEvent

from daemon.chart import ensure_chart_txn
from daemon.commands import ParseEnv, UnknownCommand, mask_pins, normalise_text
from daemon.commands.builtin import default_registry
from daemon.config import build_config
from daemon.lis import IncomingMo, write_batch_txn
from daemon.masking import stored_form
from daemon.schema import inbox, outbox
from daemon.subscribers import (
    PEPPER_BYTES,
    PinHasher,
    create_subscriber_txn,
    get_subscriber_txn,
    set_pin_txn,
)
from daemon.tranproc import TranProcEnv, process_batch_txn
from smscore.text import decode_text, encode_text

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
ALICE = "254712000001"
SHORT_CODE = "555"  # shorter than a PIN: it is stored with every row
HASHER = PinHasher(b"p" * PEPPER_BYTES)
ENV = TranProcEnv.build(default_registry(), build_config({}), HASHER)
NOT_UNDERSTOOD = 'Sorry, we did not understand "{}". Send HELP for the list of commands.'
# Digests: random-looking by design, so they may contain any digits.
_DIGEST_COLUMNS = {("inbox", "dedupe_key"), ("subscribers", "pin_hmac")}


# --- normalisation


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("\uff42\uff41\uff4c \uff11\uff12\uff13\uff14", "bal 1234"),
        ("BAL ١٢٣٤", "BAL 1234"),  # Arabic-Indic digits: NFKC alone keeps them
        ("BAL ۱۲۳۴", "BAL 1234"),  # Extended Arabic-Indic (Persian)
        ("BAL १२३४", "BAL 1234"),  # Devanagari
        ("BAL\x001234", "BAL1234"),
        ("BAL\u200b 12\u00ad34\x7f", "BAL 1234"),
        ("  bal\t\n\r 1234\u3000\x85end ", "bal 1234 end"),
        ("BAL\x1f1234", "BAL1234"),
    ],
)
def test_text_is_normalised_before_parsing(written, normalised):
    assert normalise_text(written) == normalised


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("BAL1234", "BAL****"),
        ("Bal:1234", "Bal:****"),
        ("pin=123456,x", "pin=****,x"),
        ("call 0712345678", "call 0712345678"),  # a phone number is not a PIN
        ("123", "123"),
    ],
)
def test_digit_runs_that_may_be_pins_are_masked_inside_words(text, masked):
    assert mask_pins(text) == masked


def test_a_pin_in_another_script_is_accepted():
    parsed = default_registry().parse("\uff42\uff41\uff4c ١٢٣٤", ParseEnv())
    assert (parsed.command.keyword, parsed.args.pin, parsed.masked_text) == (
        "BAL",
        "1234",
        "bal ****",
    )


def test_an_unknown_keyword_is_quoted_alone_and_masked():
    registry = default_registry()
    with pytest.raises(UnknownCommand) as raised:
        registry.parse("BAL1234 please 5678 now", ParseEnv())
    assert raised.value.masked_text == "BAL**** please **** now"
    assert registry.explain(raised.value, "en") == NOT_UNDERSTOOD.format("BAL****")


# --- through the TranProc


def register(engine: Engine, pin: str = "1234") -> None:
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        create_subscriber_txn(conn, ALICE, pin=pin, hasher=HASHER, currency="KES", now_ns=NOW)


def receive(engine: Engine, text: str, now: int = NOW) -> tuple:
    """`text` stored as the LIS stores it, then one TranProc batch: (inbox row, reply texts)."""
    data_coding, body = encode_text(text)
    mo = IncomingMo("smsc1", ALICE, SHORT_CODE, data_coding, body, None)
    with engine.begin() as conn:
        assert write_batch_txn(conn, [mo], [], None, now, b"s" * 32) == 1
    with engine.begin() as conn:
        process_batch_txn(conn, ENV, now, 10)
    with engine.begin() as conn:
        row = conn.execute(select(inbox).order_by(inbox.c.id.desc()).limit(1)).one()
        replies = conn.execute(select(outbox.c.text).where(outbox.c.inbox_id == row.id))
        return row, replies.scalars().all()


@pytest.mark.parametrize(
    ("text", "stored", "reply"),
    [
        ("BAL1234", "BAL****", NOT_UNDERSTOOD.format("BAL****")),
        ("Bal:1234", "Bal:****", NOT_UNDERSTOOD.format("Bal:****")),
        ("BAL\x001234", "BAL****", NOT_UNDERSTOOD.format("BAL****")),
        ("HELP 1234", "HELP ****", "There is no command ****. Commands: HELP, BAL, PING."),
        (
            "\uff42\uff41\uff4c \uff11\uff12\uff13\uff14",
            "bal ****",
            "Your smscore balance is KES 0.00.",
        ),
        ("BAL ١٢٣٤", "BAL ****", "Your smscore balance is KES 0.00."),
        ("1234", "****", NOT_UNDERSTOOD.format("****")),
    ],
)
def test_the_pin_is_kept_nowhere_and_quoted_never(engine, text, stored, reply):
    register(engine)
    row, replies = receive(engine, text)
    assert replies == [reply]
    assert row.text == stored
    assert decode_text(row.payload, row.data_coding) == stored  # the payload says the same


def test_a_message_without_a_pin_is_kept_as_received(engine):
    row, _ = receive(engine, "Hello \uff57\uff4f\uff52\uff4c\uff44")
    assert (row.text, row.payload) == (
        "Hello \uff57\uff4f\uff52\uff4c\uff44",
        encode_text("Hello \uff57\uff4f\uff52\uff4c\uff44")[1],
    )


@pytest.mark.parametrize(
    ("data_coding", "bind", "payload"),
    [
        (0, "smsc1", b"\x05 ****"),  # data_coding 0 on a GSM 7-bit bind: e-acute is 0x05
        (0, "latin", b"\xe9 ****"),  # the same on a Latin-1 bind
        (8, "smsc1", "\u00e9 ****".encode("utf-16-be")),
        (4, "smsc1", b""),  # binary: no text to re-encode, nothing kept
    ],
)
def test_the_masked_payload_keeps_the_row_coding(data_coding, bind, payload):
    latin = {"name": "latin", "host": "127.0.0.1", "system_id": "x", "default_alphabet": "latin1"}
    binds = build_config({"binds": [latin]}).binds
    row = SimpleNamespace(text="\u00e9 1234", data_coding=data_coding, bind_name=bind)
    assert stored_form(row, "\u00e9 ****", binds) == ("\u00e9 ****", payload)
    assert stored_form(row, "\u00e9 1234", binds) is None  # nothing masked: kept as received


# --- the property: whatever surrounds a PIN, it leaves no trace


def _no_digit_in_any_form(char: str) -> bool:
    return not any(c.isdigit() for c in unicodedata.normalize("NFKC", char))


_DIGIT_ZEROS = (
    ord("0"),
    0xFF10,
    0x0660,
    0x06F0,
    0x0966,
)  # ASCII, fullwidth, Arabic, Persian, Hindi
surrounding = st.text(
    st.sampled_from(list("abcxyzBALHEPING :;,.=-!?\t\n\x00\x07\x1b\u200b\u3000\uff42\uff41\uff4c"))
    | st.characters(exclude_categories=("Cs",)).filter(_no_digit_in_any_form),
    max_size=12,
)
keywords = st.sampled_from(["BAL", "bal", "Bal", "balance", "SALIO", "HELP", "help", "PING", ""])
_seconds = itertools.count(1)
separators = st.sampled_from(["", " ", "  ", ":", "=", "-", ".", "\x00", "\t", "\u200b", "\u3000"])


@st.composite
def texts_with_a_pin(draw: st.DrawFn) -> tuple[str, str]:
    pin = draw(st.from_regex(r"[0-9]{4,6}", fullmatch=True))
    written = "".join(chr(draw(st.sampled_from(_DIGIT_ZEROS)) + int(d)) for d in pin)
    text = draw(surrounding) + draw(keywords) + draw(separators) + written + draw(surrounding)
    return pin, text


def stored_values(engine: Engine) -> Counter:
    """Every text and binary value in every table, as (table, column, value)."""
    metadata = MetaData()
    metadata.reflect(engine)
    found: Counter = Counter()
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.c if isinstance(c.type, String | LargeBinary)]
            columns = [c for c in columns if (table.name, c.name) not in _DIGEST_COLUMNS]
            for row in conn.execute(select(*columns)) if columns else ():
                for column, value in zip(columns, row, strict=True):
                    found[(table.name, column.name, _readable(value))] += 1
    return found


def _readable(value: object) -> str:
    """A stored value as text in every way it could be read (octets as Latin-1 and UTF-16)."""
    if isinstance(value, bytes | memoryview):
        octets = bytes(value)
        forms = [octets.decode("latin-1"), octets.decode("utf-16-be", "replace")]
        return " | ".join(normalise_text(form) for form in forms)
    return normalise_text(str(value or ""))


@contextmanager
def all_log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with capturedLogs() as events:
            yield lines
        lines.extend(f"{formatEvent(event)} {event!r}" for event in events)
    finally:
        root.removeHandler(handler)


def _contains(pin: str, texts: object) -> bool:
    standalone = re.compile(rf"(?<![0-9]){pin}(?![0-9])")  # addresses hold digits of their own
    return any(standalone.search(normalise_text(str(text))) for text in texts)  # type: ignore[attr-defined]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=texts_with_a_pin())
def test_a_pin_anywhere_in_a_message_leaves_no_trace(engine, case):
    pin, text = case
    with engine.begin() as conn:
        if get_subscriber_txn(conn, ALICE) is None:  # the first example registers Alice
            ensure_chart_txn(conn, "KES", NOW)
            create_subscriber_txn(conn, ALICE, pin=None, hasher=HASHER, currency="KES", now_ns=NOW)
        set_pin_txn(conn, ALICE, pin, HASHER)  # so that a well-formed BAL gets the balance
    before = stored_values(engine)
    with all_log_lines() as lines:
        # Each example a second later: the LIS must not take it for a re-delivery of the last one.
        _, replies = receive(engine, text, NOW + next(_seconds) * NS)
    new_values = stored_values(engine) - before
    assert not _contains(pin, replies), (text, replies)
    assert not _contains(pin, [value for _, _, value in new_values]), (text, new_values)
    assert not _contains(pin, lines), (text, lines)
