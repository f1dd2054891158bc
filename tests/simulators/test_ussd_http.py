"""The USSD part of the control API: JSON shapes, waiting for a screen, errors."""

import json
from io import BytesIO

import pytest
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from simulators.http import ControlAPI
from smscore.ussd import Dialect
from tests.simulators.harness import Network
from tests.simulators.ussd_esme import BALANCE, MENU, ussd_app, ussd_simulator

PHONE = "254712000001"
SESSION_KEYS = {"id", "msisdn", "code", "system_id", "dialect", "session_key", "state",
                "end_reason", "waiting", "screen", "final", "answers", "screens", "started_at"}  # fmt: skip


def _request(api: ControlAPI, method: bytes, path: str, body: object = None) -> DummyRequest:
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
        request.finish()
    return request


def _answer(request: DummyRequest) -> tuple[int, dict]:
    assert request.finished, "no answer yet"
    return request.responseCode or 200, json.loads(b"".join(request.written))


def _call(api: ControlAPI, method: bytes, path: str, body: object = None) -> tuple[int, dict]:
    return _answer(_request(api, method, path, body))


def test_a_dialogue_through_the_api(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.UMR)
    ussd_app(network, simulator, Dialect.UMR)
    api = ControlAPI(simulator)
    status, session = _call(api, b"POST", "/v1/ussd/sessions", {"msisdn": PHONE, "code": "*334#"})
    assert status == 201 and set(session) == SESSION_KEYS
    assert session["state"] == "waiting_screen" and session["waiting"] is True
    assert session["screen"] is None and session["screens"] == [] and session["dialect"] == "umr"
    network.run(0.5)
    status, shown = _call(api, b"GET", f"/v1/ussd/sessions/{session['id']}")
    assert status == 200 and shown["state"] == "waiting_answer" and shown["screen"] == MENU
    assert shown["waiting"] is False and shown["final"] is False
    status, answered = _call(
        api, b"POST", f"/v1/ussd/sessions/{session['id']}/answer", {"text": "1"}
    )
    assert status == 200 and answered["state"] == "waiting_screen" and answered["answers"] == 1
    pending = _request(api, b"GET", f"/v1/ussd/sessions/{session['id']}?wait_s=3")
    assert not pending.finished
    network.run(0.3)
    status, ended = _answer(pending)
    assert ended["state"] == "ended" and ended["screen"] == BALANCE and ended["final"] is True
    assert [screen["text"] for screen in ended["screens"]] == [MENU, BALANCE]
    status, listing = _call(api, b"GET", "/v1/ussd/sessions")
    assert status == 200 and listing["open"] == 0
    [summary] = listing["sessions"]
    assert summary["id"] == session["id"] and "screens" not in summary
    assert _call(api, b"GET", "/v1/stats")[1]["ussd_screens"] == 2


def test_wait_s_on_the_dial_and_the_abort(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34)
    app = ussd_app(network, simulator, Dialect.SMPP34)
    api = ControlAPI(simulator)
    body = {"msisdn": PHONE, "code": "*334#", "system_id": "ussd"}
    pending = _request(api, b"POST", "/v1/ussd/sessions?wait_s=2", body)
    network.run(0.3)
    status, session = _answer(pending)
    assert status == 201 and session["screen"] == MENU
    status, aborted = _call(api, b"DELETE", f"/v1/ussd/sessions/{session['id']}")
    assert status == 200 and aborted["state"] == "aborted"
    network.run(0.3)
    assert len(app.releases) == 1
    status, error = _call(api, b"DELETE", f"/v1/ussd/sessions/{session['id']}")
    assert status == 409 and "already aborted" in error["error"]


def test_wait_s_gives_up_after_its_seconds(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.SMPP34)
    ussd_app(network, simulator, Dialect.SMPP34, silent=True)
    api = ControlAPI(simulator)
    pending = _request(
        api, b"POST", "/v1/ussd/sessions?wait_s=1.5", {"msisdn": PHONE, "code": "*1#"}
    )
    network.run(1.4)
    assert not pending.finished
    network.run(0.2)
    assert _answer(pending)[1]["state"] == "waiting_screen"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        (b"GET", "/v1/ussd/sessions/99", None, 404, "no USSD session 99"),
        (b"DELETE", "/v1/ussd/sessions/99", None, 404, "no USSD session 99"),
        (b"POST", "/v1/ussd/sessions/99/answer", {"text": "1"}, 404, "no USSD session 99"),
        (b"POST", "/v1/ussd/sessions", b"{", 400, "body is not JSON"),
        (b"POST", "/v1/ussd/sessions", [1], 400, "body must be a JSON object"),
        (b"POST", "/v1/ussd/sessions", {"msisdn": PHONE}, 400, '"code" must be a string'),
        (b"POST", "/v1/ussd/sessions", {"msisdn": PHONE, "code": "*1#", "system_id": 5}, 400,
         '"system_id" must be a string'),
        (b"POST", "/v1/ussd/sessions", {"msisdn": "", "code": "*1#"}, 400, "'msisdn' must be"),
        (b"POST", "/v1/ussd/sessions?wait_s=11", {"msisdn": PHONE, "code": "*1#"}, 400,
         "wait_s must be a number of seconds 0..10"),
        (b"POST", "/v1/ussd/sessions", {"msisdn": PHONE, "code": "*1#", "system_id": "other"},
         409, "account 'other' has no ussd_dialect"),
        (b"PUT", "/v1/ussd/sessions", None, 405, "no PUT /v1/ussd/sessions"),
        (b"GET", "/v1/ussd/sessions/1/answer", None, 405, "no GET"),
        (b"GET", "/v1/ussd/sessions/1/other", None, 404, "no /v1/ussd/sessions/1/other"),
    ],
)  # fmt: skip
def test_errors_are_json_with_a_status(
    network: Network, method: bytes, path: str, body: object, status: int, error: str | None
) -> None:
    api = ControlAPI(ussd_simulator(network, Dialect.SMPP34))
    got_status, answer = _call(api, method, path, body)
    assert got_status == status
    if error is not None:
        assert error in answer["error"] and "\n" not in answer["error"]


def test_answering_a_session_not_waiting_for_one_is_a_conflict(network: Network) -> None:
    simulator = ussd_simulator(network, Dialect.DIALOG)
    api = ControlAPI(simulator)
    session = _call(api, b"POST", "/v1/ussd/sessions", {"msisdn": PHONE, "code": "*334#"})[1]
    path = f"/v1/ussd/sessions/{session['id']}/answer"
    status, error = _call(api, b"POST", path, {"text": "1"})
    assert status == 409 and error == {
        "error": f"session {session['id']} is waiting_screen, not waiting_answer"
    }
    assert _call(api, b"POST", path, {"text": 1})[0] == 400
    assert _call(api, b"POST", "/v1/ussd/sessions", {"msisdn": PHONE, "code": "*1#"})[0] == 409


def test_too_many_sessions_is_503(clock: Clock, network: Network) -> None:
    api = ControlAPI(ussd_simulator(network, Dialect.SMPP34, ussd={"max_sessions": 1}))
    assert _call(api, b"POST", "/v1/ussd/sessions", {"msisdn": PHONE, "code": "*1#"})[0] == 201
    status, error = _call(api, b"POST", "/v1/ussd/sessions", {"msisdn": "2547", "code": "*1#"})
    assert status == 503 and "1 USSD sessions are open" in error["error"]
