import pytest
from twisted.internet.task import Clock

from tests.simulators.harness import Network


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1_700_000_000)  # 2023-11-14T22:13:20Z, so receipt dates are real dates
    return clock


@pytest.fixture
def network(clock: Clock) -> Network:
    return Network(clock)
