"""Scenario files in YAML (*.yaml / *.yml): the same keys as TOML, the same one-line errors."""

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from simulators.config import ConfigError
from simulators.scenario import ScenarioRunner, load_scenario
from simulators.targets import InProcessTarget
from tests.simulators.harness import Network, make_simulator, replying_esme

ECHO_YAML = r"""
name: echo
step:
  - from: "254711000001"
    to: "3456"
    text: BAL
    expect: '^ECHO BAL \d+$'
    within_s: 2
  - from: "254711000001"
    to: "3456"
    text: HELP
    expect: HELP
"""


def test_a_yaml_scenario_runs_like_its_toml_twin(
    tmp_path: Path, network: Network, clock: Clock
) -> None:
    path = tmp_path / "echo.yaml"
    path.write_text(ECHO_YAML.replace("text: BAL", "text: BAL 42"))
    scenario = load_scenario(path)
    assert scenario.name == "echo" and [step.to for step in scenario.step] == ["3456", "3456"]
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    replying_esme(network, simulator, lambda mo: b"ECHO " + mo.short_message)
    outcome: list = []
    ScenarioRunner(clock, InProcessTarget(simulator)).run(scenario).addBoth(outcome.append)
    network.run(5.0)
    assert outcome == [None]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yml", "step: [from: x\n", "bad.yml: not valid YAML (line 2): "),
        ("list.yaml", "- 1\n- 2\n", "list.yaml: a scenario is a mapping (name, step), not list"),
        ("num.yaml", "step:\n  - from: 254711000001\n", "num.yaml: step 1: from: "),
    ],
)
def test_yaml_file_errors_are_one_line_naming_the_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_scenario(path)
    assert str(raised.value).startswith(str(tmp_path / message))
    assert "\n" not in str(raised.value)
