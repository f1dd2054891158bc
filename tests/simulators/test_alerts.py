"""Absent subscribers, the delivery pending flag (set_dpf) and alert_notification, which our
ESME decodes and logs (there is no response to it)."""

from collections.abc import Iterator

import pytest
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from simulators.availability import ABSENT_SUBSCRIBER_ERR, Alert
from smscore.constants import MessageState
from smscore.esme import ESMEProtocol
from smscore.pdu import DataSm
from tests.simulators.harness import Inbox, Network, bound_esme, esme_config, make_simulator
from tests.simulators.harness import submit_pdu as submit

PHONE = "254711000001"


@pytest.fixture
def alerts_logged() -> Iterator[list[dict]]:
    events: list[dict] = []

    def observe(event: dict) -> None:
        if str(event.get("log_format", "")).startswith("alert_notification"):
            events.append(event)

    globalLogPublisher.addObserver(observe)
    yield events
    globalLogPublisher.removeObserver(observe)


def test_a_subscriber_back_alerts_the_esme_that_asked_set_dpf(
    network: Network, clock: Clock, alerts_logged: list[dict]
) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.5})
    inbox = Inbox()
    esme = bound_esme(network, simulator, inbox=inbox)
    simulator.subscribers.set_available(PHONE, False)
    esme.submit(submit(PHONE, "asks dpf", tlvs={"set_dpf": 1}))
    esme.submit(submit(PHONE, "does not"))
    network.run(1.0)
    flagged, plain = inbox.receipts()
    assert flagged.tlvs["message_state"] == MessageState.UNDELIVERABLE
    assert flagged.tlvs["network_error_code"].error_code == ABSENT_SUBSCRIBER_ERR
    assert (flagged.tlvs["dpf_result"], plain.tlvs["dpf_result"]) == (1, 0)
    assert simulator.handset_inbox(PHONE) == [] and alerts_logged == []
    [alert] = simulator.subscribers.set_available(PHONE, True)
    network.run(0.1)
    assert alert == Alert(PHONE, "3456", "esme")
    [logged] = alerts_logged  # one flag set, one alert: the message without set_dpf owes none
    assert (logged["addr"], logged["esme_addr"], logged["status"]) == (PHONE, "3456", 0)
    assert logged["log_namespace"].startswith("smscore.")
    assert simulator.stats()["alerts_sent"] == 1 and simulator.stats()["dpf_set"] == 1
    esme.submit(submit(PHONE, "now it arrives"))
    network.run(1.0)
    assert [m.text for m in simulator.handset_inbox(PHONE)] == ["now it arrives"]


def test_an_alert_for_an_account_with_no_receiver_waits_for_its_bind(
    network: Network, clock: Clock, alerts_logged: list[dict]
) -> None:
    simulator = make_simulator(clock)
    assert simulator.subscribers.alert(Alert(PHONE, "3456", "esme")) is False
    assert simulator.subscribers.as_json()["unsent_alerts"] == [
        {"msisdn": PHONE, "esme_addr": "3456", "system_id": "esme"}
    ]
    esme = ESMEProtocol(clock, esme_config(), Inbox())
    network.connect(simulator.factory, esme)
    network.run(0.2)
    assert [event["addr"] for event in alerts_logged] == [PHONE]
    assert simulator.subscribers.as_json()["unsent_alerts"] == []


def test_data_sm_sets_the_flag_too(network: Network, clock: Clock) -> None:
    simulator = make_simulator(clock, dlr={"delay_s": 0.1})
    esme = bound_esme(network, simulator)
    simulator.subscribers.set_available(PHONE, False)
    data = DataSm(source_addr="3456", destination_addr=PHONE, registered_delivery=1,
                  tlvs={"message_payload": b"x", "set_dpf": 1})  # fmt: skip
    esme.submit(data)
    network.run(0.5)
    assert simulator.subscribers.as_json()["pending_flags"] == [
        {"msisdn": PHONE, "esme_addr": "3456", "system_id": "esme"}
    ]
