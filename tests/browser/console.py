"""Driving the simulator's console in headless Chromium (Debian's chromium and chromedriver).

The browser reaches nothing beyond 127.0.0.1: background networking, component updates, sync and
first-run are off, and every request not to a loopback address goes to a proxy on a closed local
port (so it fails at once, on this machine). `Console` is the page as a tester sees it; each wait
is a bounded WebDriverWait on a condition of the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from simulators.console_http import call_matches
from tests.e2e.harness import free_port

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 20.0  # a reply round trip takes well under a second; this is the failure bound
WINDOW = (1400, 1000)
NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})


def chromium(profile_dir: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-default-apps", "--disable-extensions",
        f"--user-data-dir={profile_dir}",
        f"--proxy-server=127.0.0.1:{free_port()}",  # closed: nothing leaves this machine
        "--proxy-bypass-list=127.0.0.1",  # ... but 127.0.0.1 goes direct (not <-loopback>: that
        # takes loopback OFF the bypass list and sends it to the proxy too)
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@dataclass
class Console:
    driver: webdriver.Chrome
    base_url: str  # the simulator's control API, e.g. http://127.0.0.1:8775

    def open(self) -> Console:
        self.driver.get(self.base_url + "/")
        self.wait_text("live", "live", "the event stream to open")
        self.wait(lambda d: self.find("#faults .fault"), "the fault switches")
        return self

    # --- finding and waiting ---

    def find(self, css: str) -> WebElement | None:
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def by_id(self, element_id: str) -> WebElement:
        return self.driver.find_element(By.ID, element_id)

    def wait(self, condition: Any, what: str, timeout_s: float = WAIT_S) -> Any:
        # The page re-renders lists on each live event: an element found a moment ago may be gone.
        waiting = WebDriverWait(self.driver, timeout_s, poll_frequency=0.1,
                                ignored_exceptions=(StaleElementReferenceException,))  # fmt: skip
        return waiting.until(condition, f"waiting for {what}")

    def wait_text(self, element_id: str, text: str, what: str) -> str:
        return self.wait(lambda d: text in (shown := self.by_id(element_id).text) and shown, what)

    def type_into(self, element_id: str, text: str) -> None:
        field = self.by_id(element_id)
        field.clear()
        field.send_keys(text)

    # --- what a tester does ---

    def add_phone(self, msisdn: str, name: str) -> None:
        self.type_into("add-msisdn", msisdn)
        self.type_into("add-name", name)
        self.by_id("add-phone").submit()
        self.wait_text("phone-title", msisdn, f"{msisdn} to be the selected phone")

    def send_sms(self, text: str, to: str = "12345") -> None:
        self.type_into("compose-to", to)
        self.type_into("compose-text", text)
        self.by_id("compose-send").click()

    def reply_matching(self, text: str) -> str:
        """What the selected phone's thread shows of the MT containing `text`, once delivered."""

        def delivered(driver: Any) -> str | None:
            for item in driver.find_elements(By.CSS_SELECTOR, "#thread li.mt"):
                shown = item.text
                if text in shown and item.get_attribute("data-state") == "delivered":
                    return shown
            return None

        return self.wait(delivered, f"a delivered reply containing {text!r}")

    def ussd_screen(self, text: str) -> str:
        return self.wait_text("ussd-screen", text, f"the USSD screen to show {text!r}")

    def ussd_answer(self, text: str) -> None:
        self.wait(lambda d: self.by_id("ussd-send").is_enabled(), "the phone to wait for input")
        self.type_into("ussd-text", text)
        self.by_id("ussd-send").click()

    def counter(self, key: str) -> int:
        script = "const c = document.querySelector(arguments[0]); return c ? c.textContent : '0'"
        return int(self.driver.execute_script(script, f'[data-counter="{key}"]'))

    def text_of(self, css: str) -> str | None:
        """The text of the first element matching `css` now (None: none)."""
        script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null"
        return self.driver.execute_script(script, css)

    # --- what the page did ---

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry["level"] in ("SEVERE", "ERROR")]  # fmt: skip

    def requests(self) -> list[tuple[str, str]]:
        """(method, URL) of every request the page made since the last call."""
        made = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                request = message["params"]["request"]
                made.append((request["method"], request["url"]))
        return made

    def undocumented_requests(self) -> list[tuple[str, str]]:
        """Network requests (any target of the browser) that are not one of the control API's
        documented calls on this simulator: one to anywhere else is one of them."""
        base = urlsplit(self.base_url)
        wrong = []
        for method, url in self.requests():
            parts = urlsplit(url)
            if parts.scheme not in NETWORK_SCHEMES:  # data:, chrome://: the browser's own, local
                continue
            if parts.netloc != base.netloc or not call_matches(method, parts.path):
                wrong.append((method, url))
        return wrong
