"""`smscore sim ussd`: the dialogue loop with a scripted client, and the command against a
simulator process on 127.0.0.1 with the tiny USSD application bound to it."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from daemon.cli import main
from simulators.ussd_cli import EXIT_INTERRUPTED, UssdClientError, run_dialogue
from smscore.ussd import Dialect
from tests.simulators.ussd_esme import ACCOUNT, ASK_PHONE, BALANCE, MENU, BlockingUssdApp

SMSCORE = Path(sys.executable).with_name("smscore")
PHONE = "254712000001"


def _session(state: str, *texts: str, final: bool = False, reason: str | None = None) -> dict:
    screens = [{"text": text, "final": False, "at": 0.0} for text in texts]
    return {"id": "7", "state": state, "screens": screens, "final": final, "end_reason": reason}


class ScriptedClient:
    """Answers each call with the next session of a script; records the calls."""

    def __init__(self, *sessions: dict[str, Any]) -> None:
        self.script = list(sessions)
        self.calls: list[tuple[str, ...]] = []

    def _next(self, *call: str) -> dict[str, Any]:
        self.calls.append(call)
        return self.script.pop(0)

    def start(self, msisdn: str, code: str) -> dict[str, Any]:
        return self._next("start", msisdn, code)

    def answer(self, session_id: str, text: str) -> dict[str, Any]:
        return self._next("answer", session_id, text)

    def get(self, session_id: str) -> dict[str, Any]:
        return self._next("get", session_id)

    def abort(self, session_id: str) -> dict[str, Any]:
        self.calls.append(("abort", session_id))
        if not self.script:
            raise UssdClientError("the simulator said 409: already ended")
        return self.script.pop(0)


def test_the_loop_waits_shows_each_screen_once_and_exits_0_on_the_last() -> None:
    client = ScriptedClient(
        _session("waiting_screen"),
        _session("waiting_answer", "MENU"),
        _session("ended", "MENU", "BYE", final=True),
    )
    shown: list[str] = []
    code = run_dialogue(client, PHONE, "*1#", None, shown.append, ask=lambda prompt: "1")
    assert code == 0 and shown == ["MENU", "BYE"]
    assert client.calls == [("start", PHONE, "*1#"), ("get", "7"), ("answer", "7", "1")]


@pytest.mark.parametrize(
    ("last", "message"),
    [
        (_session("timed_out", "MENU", reason="screen_timeout"), "-- session timed_out: screen_timeout"),
        (_session("ended", "MENU", reason="not delivered: refused"), "-- session ended: not delivered"),
    ],
)  # fmt: skip
def test_a_dialogue_that_did_not_end_with_a_last_screen_exits_2(last: dict, message: str) -> None:
    client = ScriptedClient(_session("waiting_answer", "MENU"), last)
    shown: list[str] = []
    assert run_dialogue(client, PHONE, "*1#", ["1"], shown.append) == 2
    assert shown[:2] == ["MENU", "> 1"] and shown[-1].startswith(message)


def test_ctrl_c_hangs_up_and_exits_130() -> None:
    client = ScriptedClient(_session("waiting_answer", "MENU"), _session("aborted", "MENU"))

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    shown: list[str] = []
    assert run_dialogue(client, PHONE, "*1#", None, shown.append, interrupted) == EXIT_INTERRUPTED
    assert client.calls[-1] == ("abort", "7") and shown[-1] == "-- aborted"
    ended = ScriptedClient(_session("waiting_answer", "MENU"))  # the abort answers 409: still 130
    assert run_dialogue(ended, PHONE, "*1#", None, shown.append, interrupted) == EXIT_INTERRUPTED


def test_answers_running_out_hang_up_and_exit_2() -> None:
    client = ScriptedClient(_session("waiting_answer", "MENU"), _session("aborted", "MENU"))
    shown: list[str] = []
    assert run_dialogue(client, PHONE, "*1#", [], shown.append) == 2
    assert client.calls[-1] == ("abort", "7") and "no answer left" in shown[-1]


def test_a_refused_answer_hangs_up_before_the_error_is_told() -> None:
    """The simulator refusing an answer (e.g. longer than a USSD string) ends the command: the
    dialogue is hung up first, so the phone can dial again at once (not after the network's
    session timeout)."""

    class RefusingClient(ScriptedClient):
        def answer(self, session_id: str, text: str) -> dict[str, Any]:
            self.calls.append(("answer", session_id, text))
            raise UssdClientError('the simulator said 400: "text" longer than 182 characters')

    client = RefusingClient(_session("waiting_answer", "MENU"), _session("aborted", "MENU"))
    with pytest.raises(UssdClientError, match="longer than 182"):
        run_dialogue(client, PHONE, "*1#", ["9" * 200], lambda line: None)
    assert client.calls[-1] == ("abort", "7")
    gone = RefusingClient(_session("waiting_answer", "MENU"))  # the hang-up refused too: same error
    with pytest.raises(UssdClientError, match="longer than 182"):
        run_dialogue(gone, PHONE, "*1#", ["9" * 200], lambda line: None)


@pytest.fixture
def simulator_api(tmp_path: Path) -> Iterator[tuple[int, str]]:
    config = tmp_path / "sim.toml"
    config.write_text(
        'listen = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\n[[account]]\n'
        f'system_id = "{ACCOUNT}"\npassword = "secret"\nussd_dialect = "smpp34"\n'
    )
    command = [str(SMSCORE), "sim", "--config", str(config), "--exit-after", "60"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        smpp_line = process.stdout.readline()  # type: ignore[union-attr]
        http_line = process.stdout.readline()  # type: ignore[union-attr]
        assert smpp_line.startswith("SMPP listening on"), smpp_line
        yield int(smpp_line.rsplit(":", 1)[1]), http_line.split(" on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_walks_a_menu_from_answers_and_from_the_keyboard(
    simulator_api: tuple[int, str],
) -> None:
    port, api = simulator_api
    app = BlockingUssdApp(port, Dialect.SMPP34)
    try:
        runner = CliRunner()
        scripted = ["sim", "ussd", PHONE, "*334#", "--answers", "2,0712000002", "--api", api]
        result = runner.invoke(main, scripted)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [
            *MENU.splitlines(),
            "> 2",
            ASK_PHONE,
            "> 0712000002",
            "Sent to 0712000002",
        ]
        typed = runner.invoke(main, ["sim", "ussd", PHONE, "*334#", "--api", api], input="1\n")
        assert typed.exit_code == 0, typed.output
        assert typed.output.endswith(BALANCE + "\n") and "> " in typed.output
        short = runner.invoke(main, ["sim", "ussd", PHONE, "*334#", "--answers", "2", "--api", api])
        assert short.exit_code == 2 and "no answer left" in short.output
    finally:
        app.close()
    assert len(app.releases) == 1  # the hang-up after the answers ran out reached the ESME


def test_the_command_without_a_simulator_is_one_line() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    result = CliRunner().invoke(main, ["sim", "ussd", PHONE, "*334#", "--api", api])
    assert result.exit_code == 2 and "cannot reach the simulator" in result.output
    assert result.output.count("\n") == 1
