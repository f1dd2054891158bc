"""Fixtures of the end-to-end suite: a running simulator, started and stopped per test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import SimulatorProcess


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess(tmp_path)
    try:
        yield sim
    finally:
        sim.stop()
