"""The menu engine (daemon.ussd.engine) on the shipped menu: every path to the command it runs,
whose text the real registry parses as an SMS; roles, languages, re-prompts; and a PIN never kept
in a session's state."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.commands.msisdn import Numbering
from daemon.commands.registry import Role
from daemon.commands.types import ParseEnv
from daemon.ussd.engine import RunCommand, Screen, SessionState, StateError, View, answer, start
from daemon.ussd.menu import Kind
from daemon.ussd.menu_file import SHIPPED_MENU
from tests.daemon.ussd_menus import REGISTRY, load

MENU = load(SHIPPED_MENU)
ENV = ParseEnv(Numbering("KE"))
PIN_INPUTS = {s.input_name for s in MENU.doc.screens.values() if s.arg == "pin"}
NAMES = {("phone", "254712345678"): "JOHN D", ("agent", "123456"): "MAMA MBOGA SHOP"}


def view(role=Role.CUSTOMER, language="en", **kw) -> View:
    return View(role, language, ENV, 182, lambda kind, value: NAMES.get((kind, value)), "KES", **kw)


def walk(answers, role=Role.CUSTOMER, language="en"):
    shown = start(MENU, view(role, language))
    texts = [shown.text]
    for text in answers:
        assert isinstance(shown, Screen) and not shown.final, shown
        shown = answer(MENU, shown.state, text, view(role, language))
        texts.append(getattr(shown, "text", None))
    return shown, texts


PATHS = {
    "send": (["1", "0712 345 678", "500", "1234"], "SEND +254712345678 500.00 1234",
             {"phone": "254712345678", "amount": 50_000}),
    "withdraw": (["2", "123456", "1,000", "1234"], "WITHDRAW 123456 1000.00 1234", {"amount": 100_000}),
    "withdraw at a phone": (["2", "0712345678", "500", "4321"], "WITHDRAW +254712345678 500.00 4321",
                            {"amount": 50_000}),
    "pay bill": (["3", "kplc", "12345678", "1500", "1234"], "PAY KPLC 12345678 1500.00 1234", {}),
    "buy goods": (["4", "123456", "350.50", "1234"], "TILL 123456 350.50 1234",
                  {"till": "123456", "amount": 35_050}),
    "airtime for me": (["5", "1", "100", "1234"], "BUY 100.00 1234", {}),
    "airtime for another": (["5", "2", "0733 000 111", "50", "1234"],
                            "BUY 50.00 +254733000111 1234", {}),
    "balance": (["6", "1234"], "BAL 1234", {"pin": "1234"}),
    "mini statement": (["7", "9876"], "MINI 9876", {"pin": "9876"}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PATHS))
def test_each_path_runs_its_command_which_parses_as_the_sms_would(name):
    answers, command, args = PATHS[name]
    done, _ = walk(answers)
    assert isinstance(done, RunCommand)
    assert done.command_text == command
    pin = answers[-1]
    assert done.masked_text == command.rsplit(" ", 1)[0] + " ****"
    parsed = REGISTRY.parse(done.command_text, ENV)
    assert parsed.command.keyword == command.split()[0]
    assert Role.CUSTOMER in parsed.command.roles
    for key, value in args.items():
        assert parsed.args[key] == value
    kept = json.loads(done.state.to_json())["inputs"]
    assert pin not in kept.values() and "pin" not in kept


def test_the_confirming_screen_names_the_recipient_and_the_amount_as_replies_do():
    _, texts = walk(["1", "0712 345 678", "500"])
    assert texts[-1] == "Send KES 500.00 to JOHN D 0712 345678?\nEnter PIN to confirm\n0. Back"
    _, texts = walk(["2", "123456", "2500"])
    assert texts[-1] == (
        "Withdraw KES 2,500.00 at MAMA MBOGA SHOP 123456?\nEnter PIN to confirm\n0. Back"
    )


def test_an_agent_sees_the_deposit_and_a_customer_does_not():
    agent, _ = walk([], role=Role.AGENT)
    customer, _ = walk([])
    assert "Deposit for a customer" in agent.text and "Deposit" not in customer.text
    assert "Send money" not in agent.text and "Send money" in customer.text
    done, _ = walk(["1", "0712345678", "1000", "1234"], role=Role.AGENT)
    assert done.command_text == "DEPOSIT +254712345678 1000.00 1234"
    assert REGISTRY.parse(done.command_text, ENV).command.keyword == "DEPOSIT"


def test_a_hidden_choice_cannot_be_picked_by_its_number():
    # An assistant's list is Deposit, My balance, Mini statement: 4 is not a choice for it.
    shown, _ = walk(["4"], role=Role.ASSISTANT)
    assert shown.state.screen == "main" and shown.text.startswith("Invalid choice.\n")


def test_an_unregistered_caller_sees_how_to_join_and_the_dialogue_ends():
    shown, texts = walk(["1"], role=Role.UNREGISTERED)
    assert texts[0] == "Mobile money\n1. How to join"
    assert shown.final and shown.text.startswith("Visit any agent")


def test_swahili_labels_and_an_unknown_language_falls_back_to_the_default():
    sw, _ = walk([], language="sw")
    assert sw.text.startswith("Pesa kwa simu\n1. Tuma pesa")
    fr, _ = walk([], language="fr")
    en, _ = walk([])
    assert fr.text == en.text
    bad, _ = walk(["1", "12"], language="sw")
    assert bad.text.startswith("Si sahihi: ") and bad.text.endswith("Weka nambari ya simu\n0. Rudi")


BAD_INPUTS = {
    "send_phone": ("12", {}, "Invalid: wrong number of digits."),
    "send_amount": ("abc", {"phone": "+254712345678"}, "Invalid: write it like 1,000.50."),
    "send_pin": ("12", {"phone": "+254712345678", "amount": "5.00"}, "Invalid: 4 to 6 digits."),
    "withdraw_agent": ("x", {}, "Invalid: an agent number or phone number."),
    "till_number": ("12", {}, "Invalid: a till number is 5 to 10 digits."),
    "bill_biller": ("K", {}, "Invalid: a biller number is 2 to 16 letters or digits."),
    "bill_account": ("no!", {"biller": "KPLC"}, "Invalid: letters and digits, up to 20."),
    "airtime_own_amount": ("0", {}, "Invalid: must be more than zero."),
}


@pytest.mark.parametrize("screen", sorted(BAD_INPUTS))
def test_a_bad_input_shows_the_same_screen_with_the_types_error_first(screen):
    typed, inputs, error = BAD_INPUTS[screen]
    state = SessionState(screen, 0, inputs)
    shown = answer(MENU, state, typed, view())
    assert isinstance(shown, Screen) and not shown.final
    assert shown.state == state
    first, _, rest = shown.text.partition("\n")
    assert first == error
    assert rest == start_of(screen, inputs).text


def start_of(screen: str, inputs: dict) -> Screen:
    """The screen as first shown (the prompt alone)."""
    from daemon.ussd.engine import _enter

    return _enter(MENU, SessionState(screen), screen, inputs, view())


def test_nothing_typed_and_two_values_are_re_prompted_too():
    state = SessionState("send_amount", 0, {"phone": "+254712345678"})
    assert answer(MENU, state, "  ", view()).text.startswith("Nothing was entered.\n")
    assert answer(MENU, state, "500 600", view()).text.startswith("Invalid: one value only.\n")


def test_a_final_text_answered_again_stays_final():
    shown = answer(MENU, SessionState("join"), "1", view(Role.UNREGISTERED))
    assert shown.final and shown.state.screen == "join"


def test_state_json_round_trips_and_a_broken_one_is_refused():
    state = SessionState("send_pin", 0, {"phone": "+254712345678", "amount": "5.00"})
    assert SessionState.from_json(state.to_json()) == state
    for bad in ("{", "[]", '{"screen": 1, "page": 0, "inputs": {}}',
                '{"screen": "a", "page": -1, "inputs": {}}', '{"screen": "a", "page": 0, "inputs": {"a": 1}}'):  # fmt: skip
        with pytest.raises(StateError):
            SessionState.from_json(bad)
    with pytest.raises(StateError):
        answer(MENU, SessionState("gone"), "1", view())


ANSWER = st.one_of(
    st.just("0"),  # Back, often
    st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "98", "0", "", "0712345678", "123456",
                     "KPLC", "500", "12345678"]),
    st.from_regex(r"[0-9]{4,6}", fullmatch=True),
    st.text(max_size=12),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(answers=st.lists(ANSWER, max_size=10), role=st.sampled_from(list(Role)))
def test_a_pin_is_never_in_a_session_state(answers, role):
    shown = start(MENU, view(role))
    for text in answers:
        if not isinstance(shown, Screen) or shown.final:
            break
        before = shown.state
        screen = MENU.screen(before.screen)
        shown = answer(MENU, before, text, view(role))
        data = json.loads(shown.state.to_json())
        assert set(data["back"]) <= set(MENU.doc.screens)  # screen ids only, never a value
        if screen.kind is Kind.INPUT and screen.arg == "pin" and text.strip() == "0":
            # Back: the screen before, without the input it had given.
            assert data["screen"] == before.back[-1] and data["back"] == list(before.back[:-1])
            assert data["inputs"].items() <= before.inputs.items()
        elif screen.kind is Kind.INPUT and screen.arg == "pin":
            # Whatever was typed at a PIN step, the state is the one before it.
            assert data["inputs"] == before.inputs and "pin" not in data["inputs"]
            if isinstance(shown, RunCommand):  # the PIN is the last word, masked
                assert shown.command_text.split()[-1] == text.strip()
                assert shown.masked_text.split()[-1] == "****"
        assert not set(data["inputs"]) & PIN_INPUTS
