"""Back ("0") in the menu engine on the shipped menu: from each input of the SEND path to the
screen that led to it, twice in a row, from a list reached from another list; a walk after going
back runs the right command; the state's way back holds screen ids only, bounded."""

import json

from daemon.commands.registry import Role
from daemon.ussd.arg_kinds import KINDS
from daemon.ussd.engine import BACK_MAX_SCREENS, RunCommand, Screen, SessionState, answer
from daemon.ussd.menu_check import check_menu
from tests.daemon.test_ussd_engine import ENV, MENU, REGISTRY, view, walk

SEND = ["1", "0712 345 678", "500"]  # main -> send_phone -> send_amount -> send_pin


def test_zero_on_each_input_of_the_send_path_goes_back_to_the_screen_before():
    for depth, (came_from, here) in enumerate(
        [("main", "send_phone"), ("send_phone", "send_amount"), ("send_amount", "send_pin")],
        start=1,
    ):
        shown, texts = walk(SEND[:depth])
        assert shown.state.screen == here and shown.text.endswith("\n0. Back")
        back = answer(MENU, shown.state, "0", view())
        assert isinstance(back, Screen) and back.state.screen == came_from
        assert back.text == texts[depth - 1]  # as first shown there
        assert not back.text.startswith("Invalid")


def test_back_forgets_the_input_of_the_screen_gone_back_to():
    shown, _ = walk(SEND)
    back = answer(MENU, shown.state, "0", view())
    assert back.state == SessionState("send_amount", 0, {"phone": "+254712345678"},
                                      ("main", "send_phone"))  # fmt: skip
    again = answer(MENU, back.state, "0", view())
    assert again.state == SessionState("send_phone", 0, {}, ("main",))
    assert again.text == "Send money\nEnter phone number\n0. Back"


def test_back_twice_then_a_new_walk_runs_the_command_with_the_new_values():
    shown, _ = walk(SEND)
    for text in ["0", "0", "0733 000 111", "250", "1234"]:
        shown = answer(MENU, shown.state, text, view())
    assert isinstance(shown, RunCommand)
    assert shown.command_text == "SEND +254733000111 250.00 1234"
    parsed = REGISTRY.parse(shown.command_text, ENV)
    assert parsed.args["phone"] == "254733000111" and parsed.args["amount"] == 25_000


def test_back_to_the_main_list_then_another_path():
    shown, _ = walk(["1"])
    main = answer(MENU, shown.state, "0", view())
    assert main.state == SessionState("main") and main.text.startswith("Mobile money\n1. Send")
    assert "0. Back" not in main.text  # the start screen has nowhere to go back to
    assert answer(MENU, main.state, "0", view()).text.startswith("Invalid choice.\n")
    for text in ["7", "9876"]:
        main = answer(MENU, main.state, text, view())
    assert isinstance(main, RunCommand) and main.command_text == "MINI 9876"


def test_zero_on_the_first_page_of_a_list_reached_from_a_list_goes_back():
    shown, texts = walk(["5"])
    assert shown.state.screen == "airtime_for" and shown.text.endswith("\n0. Back")
    back = answer(MENU, shown.state, "0", view())
    assert back.state == SessionState("main") and back.text == texts[0]


def test_the_first_input_screen_has_no_back_and_zero_is_a_bad_input_there():
    shown = answer(MENU, SessionState("send_phone"), "0", view())
    assert shown.state == SessionState("send_phone") and shown.text.startswith("Invalid: ")


def test_where_zero_is_a_value_it_is_taken_and_no_back_is_offered():
    assert {k for k, kind in KINDS.items() if kind.takes_zero} == {
        "reference",
        "account",
        "word",
        "text",
    }
    shown, _ = walk(["3", "KPLC"])
    assert shown.state.screen == "bill_account" and "0. Back" not in shown.text
    on = answer(MENU, shown.state, "0", view())
    assert on.state.screen == "bill_amount" and on.state.inputs["account"] == "0"


def test_the_way_back_is_bounded_and_round_trips():
    state = SessionState("send_pin", 0, {"phone": "+254712345678"}, ("main", "send_phone"))
    assert SessionState.from_json(state.to_json()) == state
    old = '{"screen":"main","page":0,"inputs":{}}'  # stored before Back existed
    assert SessionState.from_json(old) == SessionState("main")
    shown = answer(
        MENU, SessionState("send_phone", 0, {}, ("main",) * BACK_MAX_SCREENS), "0712345678", view()
    )
    assert len(shown.state.back) == BACK_MAX_SCREENS
    data = json.loads(shown.state.to_json())
    assert data["back"][-1] == "send_phone"


def test_the_shipped_menu_fits_with_back_on_the_smallest_screen_it_loads_on():
    # Every input screen offering Back is measured with its longest error and the Back line.
    check_menu(MENU, REGISTRY, 182)
    shown = answer(MENU, SessionState("send_pin", 0, {"phone": "+254712345678", "amount": "1000000000.00"},
                                      ("main", "send_phone", "send_amount")), "12", view(Role.CUSTOMER))  # fmt: skip
    assert shown.text.endswith("\n0. Back") and shown.text.startswith("Invalid: ")
