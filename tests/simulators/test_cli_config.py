"""Config errors, CLI errors (one line, exit != 0, no traceback) and the HTTP control API."""

import json
import socket
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from daemon.cli import main
from simulators.config import ConfigError, load_config
from simulators.http import ControlAPI
from tests.simulators.harness import Inbox, Network, bound_esme, make_simulator

EXAMPLE = Path(__file__).parents[2] / "etc" / "simulator.toml"


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.account and config.dlr.rule


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("listen = ", "not valid TOML"),
        ("window_size = 0", "window_size: Input should be greater than or equal to 1"),
        ("[[account]]\nsystem_id = 'a'\npassword = 'x'\nmax_binds_status = 'NOPE'",
         "account.0.max_binds_status: unknown command_status name 'NOPE'"),
        ("[dlr]\noutcomes = { DELIVERED = 1 }", "dlr.outcomes: unknown outcome 'DELIVERED'"),
        ("[faults.throttle]\nevery_m = 3", "faults.throttle.every_m: Extra inputs are not permitted"),
        ("listen = '127.0.0.1'", "listen: '127.0.0.1' is not HOST:PORT"),
    ],
)  # fmt: skip
def test_config_errors_name_file_key_and_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["sim", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_cli_broken_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text("seed = 'x'")
    code, output = _cli("--config", str(path))
    assert code != 0 and output.strip().count("\n") == 0
    assert f"{path}: seed: Input should be a valid integer" in output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--config", "/nonexistent/sim.toml"], "/nonexistent/sim.toml: cannot read"),
        (["--esme", "nopassword"], "is not SYSTEM_ID:PASSWORD"),
        (["--fault", "meteor"], "faults.meteor: unknown fault"),
        (["--fault", "throttle:every_n"], "is not KEY=VALUE"),
    ],
)
def test_cli_flag_errors(args: list[str], expected: str) -> None:
    code, output = _cli(*args)
    assert code != 0 and expected in output and "Traceback" not in output


def test_cli_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = _cli("--listen", f"127.0.0.1:{port}", "--http", "127.0.0.1:0")
    assert code != 0 and f"cannot listen for SMPP on 127.0.0.1:{port}" in output
    assert output.strip().count("\n") == 0


def test_cli_send_to_nothing_is_one_line() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code, output = _cli("send", "254711000001", "3456", "hi", "--api", f"http://127.0.0.1:{port}")
    assert code != 0 and "cannot reach the simulator" in output and output.count("\n") == 1


def _call(api: ControlAPI, method: bytes, path: str, body: object = None) -> tuple[int, dict]:
    path, _, query = path.partition("?")
    request = DummyRequest(path.encode().split(b"/")[1:])
    request.method, request.path = method, path.encode()
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        request.args[key.encode()] = [value.encode()]
    raw = (
        body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    )
    request.content = BytesIO(raw)
    written = api.render(request)
    if written != 1:  # not NOT_DONE_YET
        request.write(written)
    return request.responseCode or 200, json.loads(b"".join(request.written))


def test_http_api(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    api = ControlAPI(simulator)
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    assert _call(api, b"GET", "/v1/health") == (200, {"status": "ok", "binds": 1})
    status, answer = _call(
        api, b"POST", "/v1/mo", {"from": "254711000001", "to": "3456", "text": "hi"}
    )
    assert status == 202 and answer["queued"] == 1
    network.run(0.1)
    assert [pdu.short_message for pdu in inbox.mos()] == [b"hi"]
    from tests.simulators.harness import submit_pdu

    esme.submit(submit_pdu("254711000001", "reply"))
    network.run(0.5)
    status, answer = _call(api, b"GET", "/v1/messages?msisdn=254711000001")
    assert [m["text"] for m in answer["messages"]] == ["reply"] and answer["last_seq"] == 1
    assert _call(api, b"GET", "/v1/messages?since=1")[1]["messages"] == []
    status, answer = _call(api, b"POST", "/v1/faults", {"queue_full": {"every_n": 2}})
    assert status == 200 and answer["active"] == {"queue_full": {"every_n": 2, "status": 0x14}}
    assert _call(api, b"GET", "/v1/stats")[1]["mo_acknowledged"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        (b"POST", "/v1/mo", b"{", 400, "body is not JSON"),
        (b"POST", "/v1/mo", [1], 400, "body must be a JSON object"),
        (b"POST", "/v1/mo", {"from": "1", "to": "2"}, 400, '"text" must be a string'),
        (b"POST", "/v1/mo", {"from": "1", "to": "2", "text": "x", "count": 0}, 400, '"count"'),
        (b"POST", "/v1/faults", {"garbage": {"length": 1}}, 400, "faults: garbage.length"),
        (b"GET", "/v1/messages?since=x", None, 400, "since must be an integer"),
        (b"GET", "/v1/messages", None, 400, "give ?msisdn="),
        (b"DELETE", "/v1/mo", None, 405, "no DELETE /v1/mo"),
        (b"GET", "/v2/x", None, 404, "no GET /v2/x"),
    ],
)
def test_http_malformed_requests(
    method: bytes, path: str, body: object, status: int, error: str
) -> None:
    api = ControlAPI(make_simulator(Clock()))
    got_status, answer = _call(api, method, path, body)
    assert got_status == status and error in answer["error"] and "\n" not in answer["error"]
