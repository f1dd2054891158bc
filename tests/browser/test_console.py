"""The simulator's console in a real browser, against the real simulator and daemon: a tester sends
BAL as a phone and sees the reply with its receipt, walks the USSD menu, switches a fault on and sees
it counted, runs a scenario and sees it pass. After each: no console errors, and every request the
page made was one of the control API's documented calls.

SMSCORE_CONSOLE_SCREENSHOT=docs/console.png writes the README's screenshot there too.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.browser.console import Console
from tests.e2e.money import PIN, START, MoneyService, kes

SCREENSHOT_ENV = "SMSCORE_CONSOLE_SCREENSHOT"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _clean(console: Console) -> None:
    assert console.console_errors() == []
    assert console.undocumented_requests() == []


def _choice(screen: str, label: str) -> str:
    for line in screen.splitlines():
        number, _, text = line.partition(". ")
        if text == label and number.isdigit():
            return number
    raise AssertionError(f"no choice {label!r} on {screen!r}")


def test_bal_as_a_phone_shows_the_reply_with_its_receipt(
    console: Console, service: MoneyService
) -> None:
    alice = service.customer(START)
    console.open().add_phone(alice.msisdn, "Alice")
    assert console.find("#phone-list button.selected").text.startswith("Alice")
    console.send_sms(f"BAL {PIN}")
    reply = console.reply_matching(f"Your smscore balance is {kes(START)}.")
    assert "receipt sent" in reply and "from 12345" in reply
    assert "acknowledged" in console.text_of("#thread li.mo")
    # the API's thread is what the page shows
    assert [item["state"] for item in _thread(service, alice.msisdn)] == [
        "acknowledged",
        "delivered",
    ]
    _clean(console)


def test_a_ussd_menu_walked_on_the_handset(console: Console, service: MoneyService) -> None:
    bob = service.customer(START)
    console.open().add_phone(bob.msisdn, "Bob")
    console.by_id("dial-button").click()
    menu = console.ussd_screen("Mobile money")
    timer = console.wait_text("ussd-timer", "network releases in", "the network's timeout")
    assert "s" in timer
    console.ussd_answer(_choice(menu, "My balance"))
    console.ussd_screen("Enter PIN")
    console.ussd_answer(PIN)
    assert (
        console.ussd_screen("Your smscore balance is") == f"Your smscore balance is {kes(START)}."
    )
    console.wait_text("ussd-state", "ended", "the dialogue to end")
    assert console.by_id("ussd-timer").text == ""  # no timer runs on an ended dialogue
    _clean(console)


def test_a_fault_switched_on_is_counted(console: Console, service: MoneyService) -> None:
    carol = service.customer(START)
    console.open().add_phone(carol.msisdn, "Carol")
    throttle = console.find('[data-fault="throttle"]')
    every_n = throttle.find_element(By.CSS_SELECTOR, 'input[data-param="every_n"]')
    every_n.send_keys("1")
    console.by_id("fault-throttle").click()
    console.wait(lambda d: service.simulator.stats()["faults_active"], "the fault to be on")
    assert service.simulator.stats()["faults_active"] == {"throttle": {"every_n": 1, "status": 88}}
    console.send_sms("PING")
    console.wait(lambda d: console.counter("fault_status") > 0, "throttled submits to be counted")
    console.by_id("fault-throttle").click()  # off: the daemon's retry gets through
    console.wait(lambda d: not service.simulator.stats()["faults_active"], "the fault to be off")
    console.reply_matching("PONG")
    _clean(console)


def test_a_scenario_run_from_the_page_passes(
    console: Console, service: MoneyService, tmp_path: Path
) -> None:
    dave = service.customer(START)
    console.open().add_phone(dave.msisdn, "Dave")
    console.send_sms(f"BAL {PIN}")
    console.reply_matching("Your smscore balance is")
    scenario = f"""name = "ping from the page"

[[step]]
from = "{dave.msisdn}"
to = "12345"
text = "PING"
expect = "^PONG$"
"""
    console.type_into("scenario-toml", scenario)
    console.by_id("scenario-run").click()
    passed = '#run-list li[data-state="passed"]'
    run = console.wait(lambda d: console.text_of(passed), "the run to pass")
    assert "ping from the page" in run and "step 1 of 1" in run
    console.reply_matching("PONG")
    _screenshot(console, tmp_path / "console.png")
    _clean(console)


def test_the_page_fits_a_phone_screen(console: Console) -> None:
    console.open()
    console.driver.set_window_size(390, 844)
    overflow = "return document.documentElement.scrollWidth - window.innerWidth"
    console.wait(lambda d: d.execute_script(overflow) <= 0, "the page to fit 390 px")
    assert console.by_id("compose").is_displayed() and console.by_id("dial").is_displayed()
    _clean(console)


def _thread(service: MoneyService, msisdn: str) -> list[dict]:
    with urllib.request.urlopen(f"{service.simulator.api}/v1/phones/{msisdn}/thread") as answer:
        return json.loads(answer.read())["items"]


def _screenshot(console: Console, path: Path) -> None:
    console.driver.set_window_size(1400, 1000)
    console.driver.execute_script("window.scrollTo(0, 0)")
    assert console.driver.save_screenshot(str(path))
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    wanted = os.environ.get(SCREENSHOT_ENV)
    if wanted:
        shutil.copyfile(path, wanted)
