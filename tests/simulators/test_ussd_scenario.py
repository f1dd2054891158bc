"""USSD steps in scenarios, in process on a Clock against the tiny USSD application."""

from pathlib import Path

import pytest

from simulators import ussd_scenario
from simulators.config import ConfigError
from simulators.scenario import ScenarioRunner, StepFailed, load_scenario
from simulators.targets import InProcessTarget
from smscore.ussd import Dialect
from tests.simulators.harness import Network
from tests.simulators.ussd_esme import ussd_app, ussd_simulator

WALK = """
[[step]]
from = "254712000001"
ussd_start = "*334#"

[[step]]
from = "254712000001"
ussd_expect = "1. Balance"
final = false

[[step]]
from = "254712000001"
ussd_answer = "2"

[[step]]
from = "254712000001"
ussd_expect = '^Enter phone\\b'
regex = true

[[step]]
from = "254712000001"
ussd_answer = "0712000002"

[[step]]
from = "254712000001"
ussd_expect = "Sent to 0712000002"
final = true
"""


def _scenario(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "ussd.toml"
    path.write_text('name = "ussd"\n' + steps)
    return path


def _run(network: Network, dialect: Dialect, steps: str, tmp_path: Path, **config: object) -> list:
    simulator = ussd_simulator(network, dialect, **config)
    ussd_app(network, simulator, dialect)
    outcome: list = []
    runner = ScenarioRunner(network.clock, InProcessTarget(simulator))
    runner.run(load_scenario(_scenario(tmp_path, steps))).addBoth(outcome.append)
    network.run(20.0, step_s=0.1)
    return outcome


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_scripted_walk_passes(network: Network, tmp_path: Path, dialect: Dialect) -> None:
    assert _run(network, dialect, WALK, tmp_path) == [None]


def test_the_docstring_example_is_a_valid_scenario(tmp_path: Path) -> None:
    doc = ussd_scenario.__doc__ or ""
    example = "\n".join(line[4:] for line in doc.splitlines() if line.startswith("    "))
    scenario = load_scenario(_scenario(tmp_path, example))
    assert [s.describe() for s in scenario.step] == [
        "254712000001 ussd_start '*334#'",
        "254712000001 ussd_expect '1. Balance'",
        "254712000001 ussd_answer '1'",
        "254712000001 ussd_abort",
    ]


def test_a_wrong_screen_says_which_step_and_what_was_shown(
    network: Network, tmp_path: Path
) -> None:
    steps = WALK.replace('ussd_expect = "1. Balance"', 'ussd_expect = "3. Pay"')
    [failure] = _run(network, Dialect.SMPP34, steps, tmp_path)
    assert failure.check(StepFailed)
    assert failure.getErrorMessage() == (
        "step 2 (254712000001 ussd_expect '3. Pay'): the screen is "
        "'Welcome\\n1. Balance\\n2. Send money'"
    )


def test_final_is_checked(network: Network, tmp_path: Path) -> None:
    steps = WALK.replace("final = false", "final = true")
    [failure] = _run(network, Dialect.UMR, steps, tmp_path)
    assert "step 2" in failure.getErrorMessage()
    assert "does not end the dialogue" in failure.getErrorMessage()


ABORT_THEN_EXPECT = """
[[step]]
from = "254712000001"
ussd_start = "*334#"

[[step]]
from = "254712000001"
ussd_abort = true

[[step]]
from = "254712000001"
ussd_answer = "1"
"""


def test_abort_and_the_target_refusing_a_step(network: Network, tmp_path: Path) -> None:
    [failure] = _run(network, Dialect.DIALOG, ABORT_THEN_EXPECT, tmp_path)
    assert failure.getErrorMessage() == (
        "step 3 (254712000001 ussd_answer '1'): session 1 is aborted, not waiting_answer"
    )


TIMEOUT = """
[[step]]
from = "254712000001"
ussd_start = "*334#"

[[step]]
from = "254712000001"
ussd_expect = "Welcome"

[[step]]
from = "254712000001"
ussd_wait_timeout = true
within_s = 8
"""


def test_wait_timeout_passes_when_the_network_times_out(network: Network, tmp_path: Path) -> None:
    config = {"ussd": {"session_timeout_s": 5.0}}
    assert _run(network, Dialect.SMPP34, TIMEOUT, tmp_path, **config) == [None]
    [failure] = _run(network, Dialect.SMPP34, TIMEOUT.replace("8", "2"), tmp_path, **config)
    assert failure.getErrorMessage() == (
        "step 3 (254712000001 ussd_wait_timeout): the dialogue is waiting_answer within 2s"
    )


def test_a_step_before_any_dial_fails(network: Network, tmp_path: Path) -> None:
    steps = '[[step]]\nfrom = "254712000001"\nussd_answer = "1"\n'
    [failure] = _run(network, Dialect.SMPP34, steps, tmp_path)
    assert "has dialled nothing yet" in failure.getErrorMessage()


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ('ussd_start = "*1#"\nussd_abort = true', "one USSD action per step, not ussd_start and"),
        ('ussd_answer = "1"\ntext = "x"', "ussd_answer goes without text"),
        ('ussd_expect = "("\nregex = true', "not a regular expression"),
        ('ussd_start = ""', "ussd_start: String should have at least 1 character"),
    ],
)
def test_bad_ussd_steps_are_refused_when_read(tmp_path: Path, step: str, error: str) -> None:
    with pytest.raises(ConfigError, match="step 1") as caught:
        load_scenario(_scenario(tmp_path, f'[[step]]\nfrom = "1"\n{step}\n'))
    assert error in str(caught.value)
