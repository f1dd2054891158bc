"""The real daemon and simulator: a few MOs in, GET /metrics over HTTP parsed with the Prometheus text
parser shows the bind's PDUs, the commands and the receipts; /health/live and /health/ready answer,
and ready turns 503 when the SMSC goes away while live stays 200."""

import json
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Subscriber,
    Tables,
    daemon_settings,
    seed_subscribers,
    wait_for,
)

ALICE = Subscriber("254712000001", "1234", 100_050)
MOS = 3


def scrape(daemon: DaemonProcess) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"{daemon.status_url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def pdus(samples: dict, direction: str, command: str) -> float:
    return value(
        samples, "smscore_bind_pdus_total",
        bind="sim", direction=direction, command=command, command_status="ESME_ROK",
    )  # fmt: skip


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_metrics_count_the_mos_their_replies_and_receipts(tmp_path: Path) -> None:
    simulator = SimulatorProcess(tmp_path)
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    daemon = DaemonProcess(tmp_path, daemon_settings(tmp_path / "state", url, simulator.port))
    seed_subscribers(daemon.config, [ALICE])
    tables = Tables.open(daemon.config.database_url)
    try:
        daemon.start().wait_ready()
        wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
        for _ in range(MOS):
            simulator.send_mo(ALICE.msisdn, f"BAL {ALICE.pin}")
        wait_for(lambda: len(simulator.inbox(ALICE.msisdn)) == MOS, 20, "the replies")
        wait_for(lambda: tables.outbox_counts() == {"delivered": MOS}, 20, "their receipts")
        samples = wait_for(
            lambda: (
                (s := scrape(daemon))
                and value(s, "smscore_receipts_total", bind="sim", outcome="delivered") == MOS
                and s
            ),
            20,
            "the receipts in the metrics",
        )
        live, ready = (
            get_json(f"{daemon.status_url}/health/live"),
            get_json(f"{daemon.status_url}/health/ready"),
        )
        simulator.stop()
        down = wait_for(
            lambda: (answer := get_json(f"{daemon.status_url}/health/ready"))[0] == 503 and answer,
            20,
            "readiness to see the SMSC gone",
        )
        still_live = get_json(f"{daemon.status_url}/health/live")
    finally:
        tables.close()
        simulator.stop()
        assert daemon.stop() == 0, daemon.log()
    assert pdus(samples, "in", "deliver_sm") == 2 * MOS  # the MOs and the receipts
    assert pdus(samples, "out", "deliver_sm_resp") == 2 * MOS
    assert pdus(samples, "out", "submit_sm") == MOS  # one reply each
    assert pdus(samples, "in", "submit_sm_resp") == MOS
    assert pdus(samples, "out", "bind_transceiver") == 1
    assert value(samples, "smscore_bind_up", bind="sim") == 1
    assert value(samples, "smscore_commands_total", command="BAL", result="done") == MOS
    assert value(samples, "smscore_tranproc_batch_messages_sum") == MOS
    assert value(samples, "smscore_queue_depth", queue="inbox", state="new") == 0
    assert live[0] == 200 and live[1]["ok"] is True
    assert ready == (200, {"ok": True, "binds": 1, "binds_up": 1})
    assert down[1]["reason"].startswith("no bind is up")
    assert still_live[0] == 200
