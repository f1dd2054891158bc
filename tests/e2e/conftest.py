"""Fixtures of the end-to-end suite: a running simulator, started and stopped per test; for the money
tests, a simulator and daemon per test module (`money_service`) and, per test, `money`: that service,
checked at the end of the test (nothing left in flight, every SMS read, the ledger check passes)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import SimulatorProcess
from tests.e2e.money import MoneyService


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess(tmp_path)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def money_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyService]:
    workdir = tmp_path_factory.mktemp("money")
    service = MoneyService.start(workdir, f"sqlite:///{workdir / 'money.db'}")
    try:
        yield service
    finally:
        assert service.stop() == 0, service.daemon.log()


@pytest.fixture
def money(money_service: MoneyService) -> Iterator[MoneyService]:
    yield money_service
    money_service.finish_test()
