"""The console's part of the control API: phones and their threads (long MTs with their parts,
states, receipts), binds, fault types, runs, the page's files, and the event stream's bounds."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from simulators.console_http import API_CALLS, CSP, call_matches
from simulators.events import EventHub
from simulators.faults import FAULT_TYPES
from simulators.http import ControlAPI
from smscore.concat import split_message
from smscore.constants import EsmClass
from smscore.pdu import SubmitSm
from smscore.text import DataCoding
from tests.simulators.harness import Network, bound_esme, make_simulator, replying_esme

ROOT = Path(__file__).resolve().parents[2]
PHONE = "254712000001"


class StreamRequest(DummyRequest):
    """A request whose connection a test controls: the producer it registers, an abort."""

    def __init__(self, path: bytes) -> None:
        super().__init__(path.split(b"/")[1:])
        self.path, self.method = path, b"GET"
        self.producer: Any = None
        self.aborted = False
        self.transport = self

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def abortConnection(self) -> None:
        self.aborted = True

    def events(self) -> list[dict[str, Any]]:
        text = b"".join(self.written).decode()
        return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def _call(api: ControlAPI, method: bytes, path: str, body: object = None) -> tuple[int, Any]:
    request = DummyRequest(path.encode().split(b"/")[1:])
    request.method, request.path = method, path.encode()
    request.content = BytesIO(json.dumps(body).encode() if body is not None else b"")
    written = api.render(request)
    if written != 1:
        request.write(written)
        request.finish()
    raw = b"".join(request.written)
    status = request.responseCode or 200
    return status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw


def _submit_long(esme: Any, text: str, reference: int = 7) -> None:
    for part in split_message(text, "udh8", reference, allowed=(DataCoding.SMSC_DEFAULT,)):
        esme.submit(SubmitSm(source_addr="12345", destination_addr=PHONE,
                             esm_class=EsmClass.UDHI if part.esm_class_udhi else 0,
                             data_coding=part.data_coding, short_message=part.short_message,
                             registered_delivery=1))  # fmt: skip


def test_a_long_mt_is_one_item_with_its_parts_and_their_states(network: Network) -> None:
    simulator = make_simulator(network.clock, dlr={"delay_s": 1.0})
    esme = bound_esme(network, simulator)
    api = ControlAPI(simulator)
    text = "Your statement: " + "x" * 300
    _submit_long(esme, text)
    network.run(0.2)
    [item] = _call(api, b"GET", f"/v1/phones/{PHONE}/thread")[1]["items"]
    assert item["kind"] == "mt" and item["text"] == text and item["total_parts"] == 3
    assert item["state"] == "submitted" and [p["state"] for p in item["parts"]] == ["submitted"] * 3
    assert {p["receipt"] for p in item["parts"]} == {"requested"}
    network.run(1.5)
    [item] = _call(api, b"GET", f"/v1/phones/{PHONE}/thread")[1]["items"]
    assert item["state"] == "delivered" and item["done_at"] is not None
    assert [(p["stat"], p["receipt"]) for p in item["parts"]] == [("DELIVRD", "sent")] * 3


def test_an_mt_failed_by_its_receipt_rule_shows_failed(network: Network) -> None:
    rule = [{"prefix": PHONE, "outcome": "UNDELIV", "delay_s": 0.5}]
    simulator = make_simulator(network.clock, dlr={"delay_s": 1.0, "rule": rule})
    esme = bound_esme(network, simulator)
    esme.submit(SubmitSm(source_addr="12345", destination_addr=PHONE, short_message=b"hi"))
    network.run(1.0)
    [item] = simulator.phones.thread(PHONE)["items"]
    assert item["state"] == "failed" and item["parts"][0]["receipt"] == "none"


def test_an_mo_is_listed_and_acknowledged_and_the_reply_follows(network: Network) -> None:
    simulator = make_simulator(network.clock)
    replying_esme(network, simulator, lambda mo: b"PONG")
    api = ControlAPI(simulator)
    assert _call(api, b"POST", "/v1/phones", {"msisdn": PHONE, "name": "Alice"})[0] == 201
    status, _ = _call(api, b"POST", "/v1/mo", {"from": PHONE, "to": "12345", "text": "PING"})
    assert status == 202
    network.run(2.0)
    thread = _call(api, b"GET", f"/v1/phones/{PHONE}/thread")[1]
    assert thread["name"] == "Alice"
    assert [(i["kind"], i["text"]) for i in thread["items"]] == [("mo", "PING"), ("mt", "PONG")]
    assert thread["items"][1]["state"] == "delivered"
    assert _call(api, b"GET", "/v1/phones")[1] == {"phones": [{"msisdn": PHONE, "name": "Alice"}]}
    assert _call(api, b"DELETE", f"/v1/phones/{PHONE}")[1] == {"removed": True}
    assert _call(api, b"GET", "/v1/phones")[1] == {"phones": []}


def test_a_bad_phone_is_refused(clock: Clock) -> None:
    api = ControlAPI(make_simulator(clock))
    status, answer = _call(api, b"POST", "/v1/phones", {"msisdn": "", "name": "x"})
    assert status == 400 and "msisdn" in answer["error"]
    status, answer = _call(api, b"POST", "/v1/phones", {"msisdn": PHONE, "name": "x" * 41})
    assert status == 400 and "name" in answer["error"]


def test_binds_show_type_window_and_rate(network: Network) -> None:
    simulator = make_simulator(network.clock)
    esme = bound_esme(network, simulator)
    api = ControlAPI(simulator)
    [bind] = _call(api, b"GET", "/v1/binds")[1]["binds"]
    assert bind["system_id"] == "esme" and bind["bind_type"] == "transceiver"
    assert bind["window_in_use"] == 0 and bind["window"] >= 1 and bind["tps"] == 0
    for n in range(10):
        esme.submit(SubmitSm(source_addr="12345", destination_addr=PHONE, short_message=b"%d" % n))
    network.run(1.0)
    [bind] = _call(api, b"GET", "/v1/binds")[1]["binds"]
    assert bind["tps"] >= 9


def test_fault_types_list_every_fault_with_its_parameters(clock: Clock) -> None:
    faults = _call(ControlAPI(make_simulator(clock)), b"GET", "/v1/faults/types")[1]["faults"]
    assert [fault["name"] for fault in faults] == list(FAULT_TYPES)
    throttle = {param["name"]: param for param in faults[0]["params"]}
    assert throttle["status"]["default"] == "ESME_RTHROTTLED"
    assert throttle["every_n"] == {"name": "every_n", "type": "integer", "default": None, "ge": 1}
    assert throttle["rate_per_s"]["type"] == "number" and throttle["rate_per_s"]["gt"] == 0


def test_a_scenario_run_that_fails_says_which_step(clock: Clock) -> None:
    simulator = make_simulator(clock)
    api = ControlAPI(simulator)
    scenario = '[[step]]\nfrom = "254712000009"\nexpect = "PONG"\nwithin_s = 1\n'
    status, run = _call(api, b"POST", "/v1/runs", {"kind": "scenario", "toml": scenario})
    assert status == 201 and run["state"] == "running" and run["progress"]["step"] == 1
    clock.pump([0.1] * 15)
    run = _call(api, b"GET", f"/v1/runs/{run['id']}")[1]
    assert run["state"] == "failed" and run["error"].startswith("step 1 (254712000009 waits")
    assert [r["id"] for r in _call(api, b"GET", "/v1/runs")[1]["runs"]] == [run["id"]]


def test_bad_runs_are_refused_with_one_line(clock: Clock) -> None:
    api = ControlAPI(make_simulator(clock))
    status, answer = _call(api, b"POST", "/v1/runs", {"kind": "scenario", "toml": "[[step]]\n"})
    assert status == 400 and answer["error"].startswith("scenario: step 1: from")
    status, answer = _call(api, b"POST", "/v1/runs", {"kind": "load", "duration_s": 3600})
    assert status == 400 and answer["error"].startswith("load: duration_s")
    status, answer = _call(api, b"POST", "/v1/runs", {"kind": "bake"})
    assert status == 400 and "kind" in answer["error"]
    assert _call(api, b"GET", "/v1/runs/99")[0] == 404


def test_at_most_two_runs_at_once(clock: Clock) -> None:
    api = ControlAPI(make_simulator(clock))
    plan = {"kind": "load", "subscribers": 1, "rate_per_s": 1, "duration_s": 5}
    assert _call(api, b"POST", "/v1/runs", plan)[0] == 201
    assert _call(api, b"POST", "/v1/runs", plan)[0] == 201
    status, answer = _call(api, b"POST", "/v1/runs", plan)
    assert status == 409 and "2 runs are running" in answer["error"]


def test_a_load_run_with_nobody_bound_fails_saying_what_was_short(clock: Clock) -> None:
    api = ControlAPI(make_simulator(clock))
    plan = {"kind": "load", "subscribers": 2, "rate_per_s": 2, "duration_s": 1, "drain_s": 0}
    run = _call(api, b"POST", "/v1/runs", plan)[1]
    clock.pump([0.05] * 40)
    run = _call(api, b"GET", f"/v1/runs/{run['id']}")[1]
    assert run["state"] == "failed" and run["error"] == "2 not acknowledged"
    assert run["result"]["sent"] == 2 and run["progress"]["sent"] == 2


def test_the_page_is_served_with_a_strict_policy(clock: Clock) -> None:
    api = ControlAPI(make_simulator(clock))
    request = DummyRequest([b""])
    request.method, request.path = b"GET", b"/"
    page = api.render(request)
    assert b'<script src="/console/app.js"' in page
    assert request.responseHeaders.getRawHeaders(b"content-security-policy") == [CSP]
    for path in (b"/console/app.js", b"/console/console.css"):
        request = DummyRequest(path.split(b"/")[1:])
        request.method, request.path = b"GET", path
        assert len(api.render(request)) > 1000


def test_the_page_files_are_package_data() -> None:
    setup = (ROOT / "setup.cfg").read_text()
    assert "simulators = console/*.html, console/*.css, console/*.js" in setup
    assert {p.name for p in (ROOT / "simulators" / "console").iterdir()} >= {
        "index.html", "app.js", "console.css"
    }  # fmt: skip


def test_every_call_the_page_makes_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    qa = readme[readme.index("## QA: the bundled SMSC simulator") :]
    qa = qa[: qa.index("\n## ", 3)]
    for method, path in API_CALLS:
        shown = path.split("{")[0].rstrip("/") or "/"
        assert shown in qa, f"{method} {path} is not in README's QA section"
    assert call_matches("GET", "/v1/phones/2547/thread")
    assert not call_matches("GET", "/v1/phones/2547/thread/x")
    assert not call_matches("PUT", "/v1/faults")


def test_a_slow_client_is_dropped_not_buffered(clock: Clock) -> None:
    hub = EventHub(clock, max_queue=3)
    request = StreamRequest(b"/v1/events")
    hub.open(request)
    assert [event["type"] for event in request.events()] == ["hello"]
    request.producer.pauseProducing()  # the client stopped reading: its buffer is full
    for msisdn in ("1", "2", "1", "3"):  # "1" twice: the newer hint replaces the older
        hub.publish({"type": "phone", "msisdn": msisdn})
    assert not request.aborted and len(hub.clients) == 1
    request.producer.resumeProducing()
    assert [event.get("msisdn") for event in request.events()[1:]] == ["1", "2", "3"]
    request.producer.pauseProducing()
    for msisdn in ("4", "5", "6", "7"):
        hub.publish({"type": "phone", "msisdn": msisdn})
    assert request.aborted and hub.clients == [] and hub.dropped == 1
    assert len(request.events()) == 4  # nothing was written after it stopped reading


def test_the_stream_sends_stats_each_second_while_they_change(network: Network) -> None:
    simulator = make_simulator(network.clock)
    api = ControlAPI(simulator)
    request = StreamRequest(b"/v1/events")
    assert api.render(request) == 1  # NOT_DONE_YET: the stream stays open
    assert [event["type"] for event in request.events()] == ["hello", "stats"]
    network.clock.advance(1.0)
    assert len(request.events()) == 2  # nothing changed: nothing sent
    bound_esme(network, simulator)
    network.clock.advance(1.0)
    stats = request.events()[-1]
    assert stats["type"] == "stats" and stats["binds"][0]["system_id"] == "esme"
    simulator.stop()
    assert request.aborted and simulator.events.clients == []
