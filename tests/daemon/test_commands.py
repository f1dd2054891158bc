"""Command registry: typed arguments, parsing, HELP and usage replies derived from declarations."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon import replies
from daemon.commands import (
    MONEY,
    MSISDN,
    PIN,
    PIN_MASK,
    REFERENCE,
    TEXT,
    Arg,
    BadArgument,
    DeclarationError,
    EmptyMessage,
    MissingArgument,
    ParseEnv,
    ParseError,
    Registry,
    Reply,
    Role,
    TooManyArguments,
    UnknownCommand,
)
from daemon.commands.builtin import default_registry
from daemon.commands.money import (
    MAX_AMOUNT_MINOR,
    MoneyError,
    format_amount,
    format_money,
    parse_money_minor,
)
from daemon.commands.msisdn import Numbering

KE = Numbering("KE")
ENV = ParseEnv(KE)
HELP_TEXT = {"en": "x", "sw": "y"}


def _reply(ctx, args):
    return Reply("ok")


def send_registry() -> Registry:
    """The built-ins plus a SEND shaped like the next issue's, to exercise every argument type."""
    registry = default_registry()
    registry.command(
        "SEND",
        args=[
            Arg("to", MSISDN),
            Arg("amount", MONEY),
            Arg("pin", PIN),
            Arg("ref", REFERENCE, optional=True),
        ],
        help={"en": "Send money", "sw": "Tuma pesa"},
    )(_reply)
    registry.command("NOTE", args=[Arg("text", TEXT)], help=HELP_TEXT)(_reply)
    return registry


# --- msisdn (the parsing itself: test_msisdn.py)


@pytest.mark.parametrize(
    "text",
    [
        "SEND 0712 345 678 500 1234",
        "SEND 254 712 345 678 500 1234",
        "SEND +254 712 345678 500 1234",
        "send   0712345678   500   1234",
    ],
)
def test_grouped_numbers_are_joined_without_swallowing_the_amount(text):
    parsed = send_registry().parse(text, ENV)
    assert parsed.args == {"to": "254712345678", "amount": 50000, "pin": "1234", "ref": None}


# --- money


@pytest.mark.parametrize(
    ("written", "minor"),
    [
        ("1000", 100000),
        ("1,000.50", 100050),
        ("1.5", 150),
        ("0.01", 1),
        ("1,234,567", 123456700),
        ("500/=", 50000),
        ("KES500", 50000),
    ],
)
def test_money_parses_to_minor_units(written, minor):
    assert parse_money_minor(written) == minor


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("1.505", "too_many_decimals"),
        ("0", "zero"),
        ("0.00", "zero"),
        ("-5", "negative"),
        ("1e5", "not_a_number"),
        ("1,00", "not_a_number"),
        ("12,34,567", "not_a_number"),
        ("", "not_a_number"),
        ("9" * 20, "too_large"),
        ("9" * 100, "too_large"),
        ("\uff11\uff12", "not_a_number"),  # full-width digits are not ASCII digits
    ],
)
def test_money_rejections_name_the_reason(written, reason):
    with pytest.raises(MoneyError) as raised:
        parse_money_minor(written)
    assert raised.value.reason == reason


def test_money_formats_with_currency_and_grouping():
    assert format_money(123450, "KES") == "KES 1,234.50"
    assert format_money(5, "KES") == "KES 0.05"
    assert format_money(-100, "KES") == "KES -1.00"


# --- pin and other types


@pytest.mark.parametrize("pin", ["1234", "12345", "123456"])
def test_pin_is_4_to_6_digits(pin):
    assert default_registry().parse(f"BAL {pin}", ENV).args.pin == pin


@pytest.mark.parametrize("pin", ["123", "1234567", "12a4", "\uff11\uff12\uff13"])
def test_bad_pin_is_a_bad_argument_never_echoed(pin):
    registry = default_registry()
    with pytest.raises(BadArgument) as raised:
        registry.parse(f"BAL {pin}", ENV)
    assert raised.value.shown is None
    assert pin not in raised.value.masked_text
    reply = registry.explain(raised.value, "en")
    assert pin not in reply
    assert reply == "Sorry, that PIN is not valid (4 to 6 digits). Use: BAL PIN"


def test_free_text_takes_the_rest_and_optional_reference_is_upper_cased():
    registry = send_registry()
    assert registry.parse("note  hello   there ", ENV).args.text == "hello there"
    assert registry.parse("SEND 0712345678 10 1234 inv-9", ENV).args.ref == "INV-9"


def _named_registry() -> Registry:
    """A REG-shaped command: free text between a number and a PIN."""
    registry = default_registry()
    registry.command(
        "NAME", args=[Arg("to", MSISDN), Arg("name", TEXT), Arg("pin", PIN)], help=HELP_TEXT
    )(_reply)
    return registry


def test_free_text_leaves_the_last_words_to_the_one_word_arguments_after_it():
    parsed = _named_registry().parse("name 0712 345 678 Jane  Wanjiku Mwangi 4321", ENV)
    assert parsed.args == {"to": "254712345678", "name": "Jane Wanjiku Mwangi", "pin": "4321"}
    assert parsed.masked_text == f"name 0712 345 678 Jane Wanjiku Mwangi {PIN_MASK}"


def test_free_text_before_a_pin_with_one_word_left_names_the_missing_pin():
    registry = _named_registry()
    with pytest.raises(MissingArgument) as raised:
        registry.parse("NAME 0712345678 4321", ENV)
    assert raised.value.arg.name == "pin"
    assert raised.value.masked_text == f"NAME 0712345678 {PIN_MASK}"
    with pytest.raises(MissingArgument) as raised:
        registry.parse("NAME 0712345678", ENV)
    assert raised.value.arg.name == "name"


def test_a_grouped_number_leaves_the_last_words_to_the_one_word_arguments_after_it():
    registry = default_registry()
    args = [Arg("to", MSISDN), Arg("amount", MONEY), Arg("pin", PIN)]
    registry.command("GIVE", args=args, help=HELP_TEXT)(_reply)
    parsed = registry.parse("GIVE 0712 345 678 500 1234", ENV)
    assert parsed.args == {"to": "254712345678", "amount": 50_000, "pin": "1234"}
    with pytest.raises(BadArgument) as raised:  # not 254125001234 followed by an amount of 1234
        registry.parse("GIVE 12 500 1234", ENV)
    assert raised.value.arg.name == "to"


# --- parsing and masking


@pytest.mark.parametrize(
    "text", ["BAL 1234", "bal 1234", "  Bal\t 1234  ", "BALANCE 1234", "salio 1234", "BAL. 1234"]
)
def test_keyword_is_case_insensitive_and_spacing_tolerant(text):
    parsed = default_registry().parse(text, ENV)
    assert parsed.command.keyword == "BAL"
    assert parsed.args.pin == "1234"


def test_pin_words_are_masked_in_the_text_to_store():
    parsed = send_registry().parse("send 0712 345 678  500 1234 ref1", ENV)
    assert parsed.masked_text == f"send 0712 345 678 500 {PIN_MASK} ref1"


def test_unknown_command_echoes_the_word_and_points_to_help():
    registry = default_registry()
    with pytest.raises(UnknownCommand) as raised:
        registry.parse("BALANSE 1234", ENV)
    assert raised.value.masked_text == f"BALANSE {PIN_MASK}"
    assert registry.explain(raised.value, "en") == (
        'Sorry, we did not understand "BALANSE". Send HELP for the list of commands.'
    )


def test_a_lone_pin_is_not_echoed_back():
    with pytest.raises(UnknownCommand) as raised:
        default_registry().parse("4321", ENV)
    assert raised.value.word == PIN_MASK


def test_empty_message():
    registry = default_registry()
    with pytest.raises(EmptyMessage) as raised:
        registry.parse("   ", ENV)
    assert "empty" in registry.explain(raised.value, "en")


def test_missing_argument_names_it_and_shows_usage():
    registry = send_registry()
    with pytest.raises(MissingArgument) as raised:
        registry.parse("SEND 0712345678 500", ENV)
    assert (
        registry.explain(raised.value, "en") == "PIN is missing. Use: SEND PHONE AMOUNT PIN [REF]"
    )
    assert registry.explain(raised.value, "sw") == "PIN haipo. Tumia: SEND NAMBA KIASI PIN [KUMB]"


def test_bad_argument_names_the_words_not_understood():
    registry = send_registry()
    with pytest.raises(BadArgument) as raised:
        registry.parse("SEND 0712345678 1.505 1234", ENV)
    assert registry.explain(raised.value, "en") == (
        'Sorry, "1.505" is not a valid AMOUNT (at most 2 decimals). Use: SEND PHONE AMOUNT PIN [REF]'
    )
    assert raised.value.masked_text == f"SEND 0712345678 1.505 {PIN_MASK}"


def test_too_many_arguments_masks_suspected_pins():
    registry = default_registry()
    with pytest.raises(TooManyArguments) as raised:
        registry.parse("BAL 1234 5678", ENV)
    assert raised.value.masked_text == f"BAL {PIN_MASK} {PIN_MASK}"
    assert registry.explain(raised.value, "en") == "Too many words after BAL. Use: BAL PIN"


# --- HELP from the declarations


def test_help_index_lists_the_commands_a_role_may_use():
    registry = default_registry()
    customer = registry.help_index(Role.CUSTOMER, "en", "smscore")
    stranger = registry.help_index(Role.UNREGISTERED, "en", "smscore")
    assert customer.startswith("smscore: HELP, BAL, PING.")
    assert "BAL" not in stranger
    assert "PING" in stranger
    assert registry.help_index(Role.CUSTOMER, "sw", "smscore").startswith("smscore: ")


def test_help_for_one_command_shows_usage_aliases_and_example():
    registry = default_registry()
    bal = registry.lookup("bal")
    assert registry.help_command(bal, "en") == (
        "BAL PIN - Check your balance. Also: BALANCE, SALIO. Example: BAL 1234"
    )
    assert registry.help_command(bal, "sw").startswith("BAL PIN - Angalia salio lako")


# --- declarations are checked


@pytest.mark.parametrize(
    ("keyword", "args", "help_text", "problem"),
    [
        ("BAL", [], HELP_TEXT, "already declared"),
        ("X", [Arg("a", PIN, optional=True), Arg("b", MONEY)], HELP_TEXT, "follows an optional"),
        ("X", [Arg("a", TEXT), Arg("b", MSISDN)], HELP_TEXT, "takes the rest"),
        ("X", [Arg("a", TEXT), Arg("b", PIN, optional=True)], HELP_TEXT, "takes the rest"),
        ("X", [Arg("a", TEXT), Arg("b", TEXT)], HELP_TEXT, "takes the rest"),
        ("X", [Arg("a", PIN), Arg("a", MONEY)], HELP_TEXT, "repeat"),
        ("X", [Arg("a", PIN), Arg("b", PIN)], HELP_TEXT, "at most one PIN"),
        ("X", [], {"en": "only english"}, "no help text in sw"),
        ("X Y", [], HELP_TEXT, "keyword"),
    ],
)
def test_inconsistent_declarations_are_refused(keyword, args, help_text, problem):
    with pytest.raises(DeclarationError, match=problem):
        default_registry().command(keyword, args=args, help=help_text)(_reply)


# --- properties


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR))
def test_money_round_trips_from_minor_units(minor):
    grouped = format_amount(minor)
    whole, fraction = divmod(minor, 100)
    assert parse_money_minor(grouped) == minor
    assert parse_money_minor(grouped.replace(",", "")) == minor
    short = f"{whole}" if fraction == 0 else f"{whole}.{fraction:02d}".rstrip("0")
    assert parse_money_minor(short) == minor


garbage = st.text(
    alphabet=st.sampled_from(list("0123456789 +-.,/=abBAL SEND HELP PING\t\n\uff11"))
    | st.characters(),
    max_size=60,
)


@settings(max_examples=400)
@given(garbage)
def test_random_text_parses_or_raises_only_the_typed_error(text):
    registry = send_registry()
    for candidate in (text, "SEND " + text, "BAL " + text, "HELP " + text):
        try:
            registry.parse(candidate, ENV)
        except ParseError as exc:
            for language in replies.LANGUAGES:
                assert registry.explain(exc, language)


@given(st.text(max_size=40))
def test_random_text_is_a_money_error_or_an_amount(text):
    try:
        assert 0 < parse_money_minor(text) <= MAX_AMOUNT_MINOR
    except MoneyError:
        pass


@pytest.mark.parametrize("language", ["en", "sw"])
@pytest.mark.parametrize("role", list(Role))
def test_the_help_index_lists_what_a_person_types_in_one_sms(role, language):
    """The commands a phone app sends for itself (ENROL, RKEY, OFFLINE, MENU) are not in the
    index a person reads; HELP <keyword> still explains them."""
    from daemon.money.commands import service_registry
    from smscore.text import gsm7_septet_length

    registry = service_registry()
    index = registry.help_index(role, language, "M-PESA")
    for keyword in ("ENROL", "RKEY", "OFFLINE", "MENU"):
        assert keyword not in index
        assert registry.lookup(keyword) is not None
    assert gsm7_septet_length(index) <= 160, index
