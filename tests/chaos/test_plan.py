"""The chaos plan: the same seed gives the same plan (the replay), every fault it draws is one the
simulator, its airtime provider or the lock holder accepts, and the kills fit in the run."""

from __future__ import annotations

import pytest

from daemon.chaos.plan import FAULT_KINDS, make_plan
from daemon.chaos.switch import SIMULATOR_FAULTS
from simulators.airtime import AirtimeFault
from simulators.faults import validate_faults


def test_a_seed_replays_its_plan_and_another_seed_differs() -> None:
    assert make_plan(7, 60.0, 10) == make_plan(7, 60.0, 10)
    assert make_plan(7, 60.0, 10) != make_plan(8, 60.0, 10)


@pytest.mark.parametrize("seed", range(20))
def test_every_drawn_fault_is_valid_and_kills_fit_the_run(seed: int) -> None:
    plan = make_plan(seed, 30.0, 7)
    assert len(plan.kills_at_s) == len(plan.restart_delays_s) == 7
    assert all(0 < at_s < 30.0 for at_s in plan.kills_at_s)
    assert list(plan.kills_at_s) == sorted(plan.kills_at_s)
    assert {episode.kind for episode in plan.episodes} <= set(FAULT_KINDS)
    for episode in plan.episodes:
        assert 0 <= episode.start_s < 30.0 and episode.duration_s > 0
        if episode.kind in SIMULATOR_FAULTS:
            assert all(validate_faults(episode.params).values())
        elif episode.kind == "airtime_failures":
            AirtimeFault.model_validate(episode.params)


def test_a_long_run_draws_every_kind_of_fault() -> None:
    kinds = {episode.kind for episode in make_plan(1, 600.0, 0).episodes}
    assert kinds == set(FAULT_KINDS)
