"""Menu files are checked when loaded: every problem is one line naming the file, the screen and
what is wrong (daemon.ussd.menu_file, menu_check); the shipped menu passes."""

import pytest

from daemon.ussd.menu import MenuError
from daemon.ussd.menu_file import SHIPPED_MENU
from tests.daemon.ussd_menus import BASE, broken, load, write_menu

PIN_PROMPT = (
    'prompt = { en = "Send {amount} to {phone}? PIN", sw = "Tuma {amount} kwa {phone}? PIN" }'
)
PLAIN_PIN_PROMPT = 'prompt = { en = "PIN", sw = "PIN" }'
SEND_CHOICE = '{ label = { en = "Send", sw = "Tuma" }, next = "phone" },'
LONG = "x" * 200


def error_of(tmp_path, text: str, screen_max_chars: int = 182) -> str:
    path = write_menu(tmp_path, text)
    with pytest.raises(MenuError) as caught:
        load(path, screen_max_chars)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


def test_the_base_and_the_shipped_menu_load(tmp_path):
    assert load(write_menu(tmp_path, BASE)).version == "t1"
    shipped = load(SHIPPED_MENU)
    assert shipped.codes == ("*334#",) and shipped.languages == ("en", "sw")


CASES = {
    "unknown next": (
        ('next = "amount"', 'next = "amont"'),
        "screen phone: next: no screen amont",
    ),
    "unknown start": (('start = "main"', 'start = "home"'), "menu.start: no screen home"),
    "unreachable": (
        ("[screens.help]", '[screens.orphan]\ntext = { en = "x", sw = "x" }\n\n[screens.help]'),
        "screen orphan: unreachable from the start screen main",
    ),
    "unknown arg type": (
        ('arg = "phone"', 'arg = "phonenumber"'),
        "screen phone: arg: unknown type phonenumber (one of phone, amount, pin,",
    ),
    "label missing a language": (
        ('{ label = { en = "Help", sw = "Msaada" }', '{ label = { en = "Help" }'),
        "screen main: choice 2: no label in sw",
    ),
    "label in a language the menu lacks": (
        ('text = { en = "Call 100", sw = "Piga 100" }', 'text = { en = "a", sw = "b", fr = "c" }'),
        "screen help: text: fr is not in the menu's languages",
    ),
    "prompt missing a language": (
        ('prompt = { en = "Phone?", sw = "Simu?" }', 'prompt = { sw = "Simu?" }'),
        "screen phone: prompt: no label in en",
    ),
    "unknown command": (
        ('run = "SEND {phone} {amount} {pin}"', 'run = "SNED {phone} {amount} {pin}"'),
        "screen pin: run 'SNED {phone} {amount} {pin}': SNED is not a command",
    ),
    "arguments in the wrong order": (
        ('run = "SEND {phone} {amount} {pin}"', 'run = "SEND {amount} {phone} {pin}"'),
        "screen pin: run 'SEND {amount} {phone} {pin}' does not parse as an SMS would:",
    ),
    "a field never collected": (
        ('run = "SEND {phone} {amount} {pin}"', 'run = "SEND {phone} {amout} {pin}"'),
        "screen pin: run 'SEND {phone} {amout} {pin}': {amout} is not collected on every path here",
    ),
    "a PIN not last": (
        (
            'arg = "pin"\n' + PIN_PROMPT + '\nrun = "SEND {phone} {amount} {pin}"',
            'arg = "pin"\n' + PIN_PROMPT + '\nnext = "help"',
        ),
        "screen pin: a PIN is the last input before run: this step must run",
    ),
    "a PIN asked before another step's run": (
        (
            '{ label = { en = "Help", sw = "Msaada" }, next = "help" }',
            '{ label = { en = "Help", sw = "Msaada" }, run = "BAL {pin}" }, '
            '{ label = { en = "Info", sw = "Habari" }, next = "help" }',
        ),
        "screen main: run 'BAL {pin}': {pin} is a PIN asked before: a PIN is the last input",
    ),
    "a prompt naming an input not collected": (
        (
            'prompt = { en = "Amount?", sw = "Kiasi?" }',
            'prompt = { en = "Amount for {name}?", sw = "Kiasi?" }',
        ),
        "screen amount: prompt (en): {name} is not collected on every path here",
    ),
    "a field with a format": (
        (
            'prompt = { en = "Amount?", sw = "Kiasi?" }',
            'prompt = { en = "Amount {phone:>9}?", sw = "Kiasi?" }',
        ),
        "screen amount: prompt (en): {phone}: a field is a plain input name",
    ),
    "one input name, two kinds": (
        ('arg = "amount"', 'arg = "amount"\nname = "phone"'),
        "screen amount: input phone is a phone elsewhere, here a amount",
    ),
    "a choice that never fits": (
        ('{ label = { en = "Help", sw = "Msaada" }', f'{{ label = {{ en = "{LONG}", sw = "x" }}'),
        "screen main: (en) choice 2 with the title and paging does not fit 182 characters",
    ),
    "a prompt that never fits": (
        ('prompt = { en = "Phone?", sw = "Simu?" }', f'prompt = {{ en = "x", sw = "{LONG}" }}'),
        "screen phone: (sw) the prompt with its longest error and Back does not fit 182 characters",
    ),
    "a text that never fits": (
        ('text = { en = "Call 100", sw = "Piga 100" }', f'text = {{ en = "{LONG}", sw = "x" }}'),
        "screen help: (en) the text does not fit 182 characters",
    ),
    "two kinds of screen at once": (
        ('arg = "phone"', 'arg = "phone"\ntext = { en = "x", sw = "y" }'),
        "screen phone: a screen has exactly one of choices, arg (an input) or text",
    ),
    "an input with no way on": (
        ('next = "amount"\n', ""),
        "screen phone: an input has either next or run",
    ),
    "a key the format does not have": (
        ('arg = "phone"', 'arg = "phone"\ncolour = "red"'),
        "screen phone: colour: not a known key",
    ),
    "an unknown role": (
        (
            SEND_CHOICE,
            '{ label = { en = "Send", sw = "Tuma" }, roles = ["boss"], next = "phone" },',
        ),
        "screen main: choices.0.roles.0: Input should be",
    ),
    "a bad screen name": (("[screens.help]", "[screens.Help]"), "screen Help: "),
    "a bad dial code": (
        ('codes = ["*334#"]', 'codes = ["334"]'),
        "menu.codes.0: String should match",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_one_line_naming_the_file_the_screen_and_the_problem(tmp_path, case):
    (old, new), expected = CASES[case]
    assert error_of(tmp_path, broken(old, new)).startswith(expected)


def test_a_path_that_skips_an_input_is_refused_at_its_run(tmp_path):
    # main -> amount directly: {phone} is missing on that path (though not on the other).
    text = broken(
        SEND_CHOICE, SEND_CHOICE + ' { label = { en = "Quick", sw = "Haraka" }, next = "amount" },'
    )
    text = broken(PIN_PROMPT, PLAIN_PIN_PROMPT, text)
    assert error_of(tmp_path, text) == (
        "screen pin: run 'SEND {phone} {amount} {pin}': {phone} is not collected on every path here"
    )


def test_screens_are_measured_for_the_configured_screen_size(tmp_path):
    label = "y" * 60
    text = broken('{ en = "Help", sw = "Msaada" }', f'{{ en = "{label}", sw = "Msaada" }}')
    assert load(write_menu(tmp_path, text), 182).version == "t1"
    assert error_of(tmp_path, text, screen_max_chars=60).startswith(
        "screen main: (en) choice 2 with the title and paging does not fit 60 characters"
    )


def test_a_label_needing_ucs2_is_measured_against_the_ucs2_limit(tmp_path):
    label = "\u0645" * 70  # Arabic letters: UCS-2, 80 characters at most on a 182 screen
    text = broken('{ en = "Help", sw = "Msaada" }', f'{{ en = "{label}", sw = "Msaada" }}')
    assert error_of(tmp_path, text).startswith("screen main: (en) choice 2 with the title and")
    fits = broken('{ en = "Help", sw = "Msaada" }', f'{{ en = "{label[:30]}", sw = "Msaada" }}')
    assert load(write_menu(tmp_path, fits)).version == "t1"


def test_a_toml_syntax_error_names_the_line_and_column(tmp_path):
    message = error_of(tmp_path, broken('start = "main"', "start = main"))
    assert message.startswith("not TOML: ") and "line 4, column 9" in message


def test_an_unreadable_file_is_one_line(tmp_path):
    path = tmp_path / "missing.toml"
    with pytest.raises(MenuError, match=r"^.*missing.toml: cannot read the menu file: "):
        load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(MenuError, match="not UTF-8"):
        load(path)


SWAPS = {
    "PAY with the biller and the account swapped": (
        'run = "PAY {biller} {account} {amount} {pin}"',
        'run = "PAY {account} {biller} {amount} {pin}"',
        "screen bill_pin: run 'PAY {account} {biller} {amount} {pin}': input {account} "
        "lands in target.biller (a biller), not an account; input {biller} lands in "
        "target.account (an account), not a biller",
    ),
}


@pytest.mark.parametrize("case", sorted(SWAPS))
def test_a_run_that_parses_but_puts_an_input_in_the_wrong_argument_is_refused(tmp_path, case):
    # PAY 12345678 KPLC 100.00 1234 parses (a biller number may be digits, an account letters):
    # every bill payment would then fail in the daemon.
    old, new, expected = SWAPS[case]
    shipped = SHIPPED_MENU.read_text(encoding="utf-8")
    assert error_of(tmp_path, broken(old, new, shipped)) == expected
