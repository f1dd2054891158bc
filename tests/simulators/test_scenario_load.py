"""Scenarios, in process on a Clock, with a tiny echo ESME replying to MOs."""

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from twisted.internet.task import Clock

from daemon.cli import main
from simulators import scenario as scenario_module
from simulators.config import ConfigError
from simulators.scenario import EXAMPLE, ScenarioRunner, StepFailed, load_scenario
from simulators.targets import InProcessTarget
from smscore.esme import ESMEProtocol
from tests.simulators.harness import Network, make_simulator, replying_esme


def _echo_esme(network: Network, simulator) -> ESMEProtocol:  # type: ignore[no-untyped-def]
    """Replies to every MO after 0.3 s with 'ECHO <text>'."""
    return replying_esme(network, simulator, lambda mo: b"ECHO " + mo.short_message)


def _scenario(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text('name = "echo"\n' + steps)
    return path


STEP = '[[step]]\nfrom = "254711000001"\nto = "3456"\ntext = "{text}"\nexpect = "{expect}"\nwithin_s = 2\n'


def _run(network: Network, simulator, scenario) -> list:  # type: ignore[no-untyped-def]
    outcome: list = []
    ScenarioRunner(network.clock, InProcessTarget(simulator)).run(scenario).addBoth(outcome.append)
    network.run(5.0)
    return outcome


def test_scenario_passes(tmp_path: Path, network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    _echo_esme(network, simulator)
    steps = STEP.format(text="BAL", expect="^ECHO BAL$") + STEP.format(text="HELP", expect="HELP")
    assert _run(network, simulator, load_scenario(_scenario(tmp_path, steps))) == [None]


def test_scenario_says_which_step_failed_and_why(
    tmp_path: Path, network: Network, clock: Clock
) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    _echo_esme(network, simulator)
    steps = STEP.format(text="BAL", expect="ECHO") + STEP.format(text="SEND", expect="Sent \\\\d+")
    [failure] = _run(network, simulator, load_scenario(_scenario(tmp_path, steps)))
    assert failure.check(StepFailed)
    assert failure.getErrorMessage() == (
        "step 2 (254711000001 -> 3456: 'SEND'): no reply to 254711000001 matching 'Sent \\\\d+' "
        "within 2s; got ['ECHO SEND']"
    )


def test_scenario_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"step 1: expect: not a regular expression"):
        load_scenario(_scenario(tmp_path, '[[step]]\nfrom = "1"\nexpect = "("\n'))
    with pytest.raises(ConfigError, match=r"scenario.toml: step: Field required"):
        load_scenario(_scenario(tmp_path, ""))


def test_scenario_file_errors_count_steps_from_1(tmp_path: Path) -> None:
    good, bad = '[[step]]\nfrom = "1"\n', '[[step]]\nfrom = "1"\nwithin = 5\n'
    with pytest.raises(ConfigError) as caught:
        load_scenario(_scenario(tmp_path, good + bad))
    assert str(caught.value) == (
        f"{tmp_path / 'scenario.toml'}: step 2: within: Extra inputs are not permitted"
    )


def test_run_time_errors_count_steps_from_1(tmp_path: Path, network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock)
    scenario = load_scenario(_scenario(tmp_path, '[[step]]\nfrom = "254711000001"\ntext = "BAL"\n'))
    [failure] = _run(network, simulator, scenario)
    assert failure.getErrorMessage() == (
        "step 1 (254711000001 -> : 'BAL'): 'to' is required with text"
    )


def _daemon_like_esme(network: Network, simulator) -> None:  # type: ignore[no-untyped-def]
    """Answers PING and BAL as the daemon does for the demo's customers, with its own templates."""
    from daemon.commands.money import format_money
    from daemon.demo.story import CUSTOMERS
    from daemon.replies import render

    balances = {who.msisdn: (who.pin, 167_200) for who in CUSTOMERS}

    def answer(mo):  # type: ignore[no-untyped-def]
        words, pin_and_minor = mo.short_message.decode().split(), balances[mo.source_addr]
        if words == ["PING"]:
            return render("en", "pong").encode()
        if words == ["BAL", pin_and_minor[0]]:
            amount = format_money(pin_and_minor[1], "KES")
            return render("en", "balance", service="smscore", amount=amount).encode()
        return b"not in this test"

    replying_esme(network, simulator, answer)


def test_run_scenario_help_describes_the_format_with_an_example_that_runs(
    tmp_path: Path, network: Network, clock: Clock
) -> None:
    result = CliRunner().invoke(main, ["sim", "run-scenario", "--help"])
    assert result.exit_code == 0
    for key in ("[[step]]", "from ", "to ", "text ", "expect ", "reply_to ", "within_s "):
        assert key in result.output
    start = result.output.rindex("\n", 0, result.output.index('name = "')) + 1
    example = result.output[start : result.output.index("Options:")]
    example = textwrap.dedent(example).strip() + "\n"
    assert example == EXAMPLE  # shown as written, not rewrapped by click
    assert (
        textwrap.indent(EXAMPLE, "    ") in scenario_module.__doc__
    )  # the docstring's is the same
    path = tmp_path / "example.toml"
    path.write_text(example)
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    _daemon_like_esme(network, simulator)
    assert _run(network, simulator, load_scenario(path)) == [None]
