"""The last screen (a command's reply) fitted to the network (review 14, finding 4): a reply that
needs UCS-2 (a payee named with a letter GSM-7 lacks) and would not fit the UCS-2 share of a screen
goes in GSM-7 letters, receipt tag intact, so the SEND posts instead of being refused and voided."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.security.signing import activate, deactivate
from daemon.ussd.inbox import fit_final_screen
from daemon.ussd.render import NETWORK_MAX_SEPTETS, fits, septets
from tests.daemon.ussd_world import UssdWorld

ALICE, ZOE = "254712000001", "254712000002"
KES = 100
PIN = "1234"


@pytest.fixture
def world(engine, tmp_path):
    world = UssdWorld(engine, key_dir=tmp_path / "receipt-keys")
    activate(world.config, world.now_ns)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(ZOE, name="Zoë Kamau")
    yield world
    deactivate(world.config)
    world.check()


def test_a_send_to_a_payee_with_a_non_gsm_name_posts_after_the_screen(world):
    last = world.dial(ALICE).walk("1", "0712000002", "500", PIN)
    assert last.final and "Confirmed" in last.text and "ZOE K." in last.text
    assert septets(last.text) is not None  # GSM-7: fits the screen, the sender accepts it
    assert "Sig " in last.text
    world.submitted(last)
    world.settle()
    world.sweep()
    assert world.balance(ZOE) == 500 * KES
    [copy] = world.sms_to(ALICE)
    assert "Sig " in copy and copy.split("Sig ")[1] == last.text.split("Sig ")[1]


def test_a_short_ucs2_reply_is_left_as_it_is():
    assert fit_final_screen("Paid ZOË K.", NETWORK_MAX_SEPTETS) == "Paid ZOË K."


def test_a_long_ucs2_reply_becomes_gsm7_letters():
    text = "Confirmed. KES 500.00 sent to ZOË K. 0712 000002 on 1/12 at 10:00. " * 2 + "Ωx€ ✓"
    fitted = fit_final_screen(text, NETWORK_MAX_SEPTETS)
    assert "ZOE K." in fitted and fitted.endswith("Ωx€ ?")
    assert septets(fitted) == septets(text.replace("Ë", "E").replace("✓", "?"))


@given(st.text(max_size=160))
def test_a_fitted_reply_fits_whenever_its_letters_could(text):
    fitted = fit_final_screen(text, NETWORK_MAX_SEPTETS)
    if fits(text, NETWORK_MAX_SEPTETS):
        assert fitted == text
    else:
        assert septets(fitted) is not None  # never UCS-2 past its limit: GSM-7 letters
        assert len(fitted) == len(text)  # one letter each: no letter grows ("…" is "?")
