"""The control API's SMSC calls (simulators/smsc_http.py): stored MTs, operator cancel,
intermediate notifications, subscriber availability, alerts and outbind."""

import json
from io import BytesIO

from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from simulators.http import ControlAPI
from smscore.constants import EsmClass, MessageState
from smscore.outbind import OutbindListenerFactory
from tests.simulators.harness import (
    Inbox,
    MemoryEndpoint,
    Network,
    bound_esme,
    esme_config,
    make_simulator,
    submit_pdu,
)

PHONE = "254711000001"
MT_KEYS = {"id", "system_id", "from", "to", "state", "message_state", "error_code", "text",
           "registered_delivery", "submitted_at", "done_at", "scheduled_at", "expires_at",
           "replaced"}  # fmt: skip


def _call(api: ControlAPI, method: bytes, path: str, body: object = None) -> tuple[int, dict]:
    path, _, query = path.partition("?")
    request = DummyRequest(path.encode().split(b"/")[1:])
    request.method, request.path = method, path.encode()
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        request.args[key.encode()] = [value.encode()]
    request.content = BytesIO(json.dumps(body).encode() if body is not None else b"")
    written = api.render(request)
    if written != 1:  # not NOT_DONE_YET
        request.write(written)
        request.finish()
    return _answer(request)


def _answer(request: DummyRequest) -> tuple[int, dict]:
    assert request.finished, "no answer yet"
    return request.responseCode or 200, json.loads(b"".join(request.written))


def _held(network: Network, clock: Clock, **config: object):  # type: ignore[no-untyped-def]
    simulator = make_simulator(clock, faults={"hold": {"hold_s": 60}}, **config)
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    for n, phone in enumerate((PHONE, PHONE, "254711000002")):
        esme.submit(submit_pdu(phone, f"text {n}", registered_delivery=1))
    network.run(0.1)
    return simulator, inbox, ControlAPI(simulator)


def test_stored_mts_are_listed_and_shown(network: Network, clock: Clock) -> None:
    _, _, api = _held(network, clock)
    status, listed = _call(api, b"GET", f"/v1/mt?msisdn={PHONE}")
    assert status == 200 and [mt["text"] for mt in listed["messages"]] == ["text 0", "text 1"]
    first = listed["messages"][0]
    assert set(first) == MT_KEYS and first["state"] == "ENROUTE" and first["done_at"] is None
    assert first["from"] == "3456" and first["system_id"] == "esme"
    status, newest = _call(api, b"GET", "/v1/mt?limit=1")
    assert status == 200 and [mt["to"] for mt in newest["messages"]] == ["254711000002"]
    status, shown = _call(api, b"GET", f"/v1/mt/{first['id']}")
    assert status == 200 and shown == first
    assert _call(api, b"GET", "/v1/mt/nope")[0] == 404
    assert _call(api, b"POST", "/v1/mt")[0] == 405
    assert _call(api, b"GET", f"/v1/mt/{first['id']}/cancel")[0] == 405
    assert _call(api, b"GET", f"/v1/mt/{first['id']}/a/b")[0] == 404
    assert _call(api, b"GET", "/v1/mt?limit=x")[0] == 400


def test_the_operator_cancels_a_pending_mt_and_its_receipt_says_deleted(
    network: Network, clock: Clock
) -> None:
    simulator, inbox, api = _held(network, clock)
    [first, *_] = simulator.store.recent(10)
    status, cancelled = _call(api, b"POST", f"/v1/mt/{first.message_id}/cancel")
    assert status == 200 and cancelled["state"] == "DELETED" and cancelled["done_at"] is not None
    network.run(0.1)
    [receipt] = inbox.receipts()
    assert receipt.tlvs["message_state"] == MessageState.DELETED
    status, again = _call(api, b"POST", f"/v1/mt/{first.message_id}/cancel")
    assert status == 409 and "DELETED" in again["error"]
    assert simulator.stats()["cancelled"] == 1


def test_an_intermediate_notification_on_request(network: Network, clock: Clock) -> None:
    simulator, inbox, api = _held(network, clock)
    [first, *_] = simulator.store.recent(10)
    path = f"/v1/mt/{first.message_id}/intermediate"
    assert _call(api, b"POST", path, {"state": "ACCEPTD"})[0] == 200
    assert _call(api, b"POST", path, {"state": "DELIVRD"})[0] == 400
    network.run(0.1)
    [note] = [pdu for pdu in inbox.pdus if pdu.esm_class & EsmClass.TYPE_INTERMEDIATE_NOTIFICATION]
    assert note.tlvs["message_state"] == MessageState.ACCEPTED
    assert "stat:ACCEPTD" in note.short_message.decode()


def test_availability_and_alerts_through_the_api(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    esme = bound_esme(network, simulator)
    api = ControlAPI(simulator)
    status, away = _call(api, b"POST", "/v1/subscribers", {"msisdn": PHONE, "available": False})
    assert status == 200 and away == {"msisdn": PHONE, "available": False, "alerts": []}
    esme.submit(submit_pdu(PHONE, "x", tlvs={"set_dpf": 1}))
    network.run(0.5)
    status, listed = _call(api, b"GET", "/v1/subscribers")
    flag = {"msisdn": PHONE, "esme_addr": "3456", "system_id": "esme"}
    assert listed == {"absent": [PHONE], "pending_flags": [flag], "unsent_alerts": []}
    status, back = _call(api, b"POST", "/v1/subscribers", {"msisdn": PHONE, "available": True})
    assert status == 200 and back["alerts"] == [flag]
    assert _call(api, b"POST", "/v1/subscribers", {"msisdn": PHONE})[0] == 400
    status, sent = _call(api, b"POST", "/v1/alerts", {"msisdn": PHONE, "esme_addr": "3456"})
    assert status == 200 and sent == {"sent": True}
    assert simulator.stats()["alerts_sent"] == 2


def _later(network: Network, api: ControlAPI, path: str, body: object) -> tuple[int, dict]:
    request = DummyRequest(path.encode().split(b"/")[1:])
    request.method, request.path = b"POST", path.encode()
    request.content = BytesIO(json.dumps(body).encode())
    assert api.render(request) == 1  # NOT_DONE_YET: answered once the outbind is settled
    network.run(0.2)
    return _answer(request)


def test_outbind_through_the_api(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock)
    listener = OutbindListenerFactory(clock, esme_config(), "obpw")
    simulator.outbinder.endpoint_for = lambda address: MemoryEndpoint(network, listener)
    api = ControlAPI(simulator)
    body = {"address": "127.0.0.1:2776", "password": "obpw"}
    assert _later(network, api, "/v1/outbind", body) == (200, {"bound": "esme"})
    status, failed = _later(network, api, "/v1/outbind", {**body, "password": "nope"})
    assert status == 502 and failed["error"].startswith("outbind: the link closed")
    status, refused = _call(api, b"POST", "/v1/outbind", {"address": "nowhere"})
    assert status == 400 and "HOST:PORT" in refused["error"]
