"""Fixtures of the browser tests: the real simulator and daemon (tests/e2e: one pair for the module,
the daemon's bind speaking USSD), and a fresh headless Chromium per test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.console import Console, chromium
from tests.e2e.money import MoneyService
from tests.e2e.ussd import ussd_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    running = ussd_service(tmp_path_factory.mktemp("console"), "smpp34")
    try:
        yield running
    finally:
        assert running.stop() == 0, running.daemon.log()


@pytest.fixture
def console(tmp_path: Path, service: MoneyService) -> Iterator[Console]:
    driver = chromium(tmp_path / "profile")
    try:
        yield Console(driver, service.simulator.api)
    finally:
        driver.quit()
