"""Simulator throughput on 127.0.0.1: submit_sm/s it answers, and MO deliver_sm/s it gets acknowledged.

The simulator runs alone in a subprocess (`smscore sim`); this process is the ESME (smscore's own
ESMEProtocol on the real reactor). Phase 1 submits N submit_sm (no receipts asked); phase 2 asks the
simulator, through its control API, to inject N MOs and counts deliver_sm acknowledged here.
Prints one JSON object. Run: .venv/bin/python benchmarks/simulator.py [N]
"""

import json
import platform
import resource
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from smscore.esme import ESMEConfig, ESMEProtocol
from smscore.pdu import SubmitSm
from smscore.protocol import FlowControl
from smscore.session import SessionTimers

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 30_000
WINDOW = 200
TEXT = b"Confirmed. Ksh1,000.50 sent to JOHN DOE 254712345678 on 23/11/26 at 12:00 PM. New balance"


def start_simulator() -> tuple[subprocess.Popen, int, str]:
    smscore = Path(sys.executable).with_name("smscore")
    profile = ["-m", "cProfile", "-o", "/tmp/sim.prof"] if "--profile" in sys.argv else []
    command = [sys.executable, *profile, str(smscore), "sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--esme", "bench:bench", "--window", str(WINDOW), "--exit-after", "120"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    smpp_port = int(process.stdout.readline().rsplit(":", 1)[1])  # type: ignore[union-attr]
    api = process.stdout.readline().split(" on ", 1)[1].strip()  # type: ignore[union-attr]
    return process, smpp_port, api


class MOCounter:
    def __init__(self) -> None:
        self.count = 0
        self.done: defer.Deferred = defer.Deferred()

    def __call__(self, pdu: object) -> int:
        self.count += 1
        if self.count == COUNT:
            self.done.callback(time.perf_counter())
        return 0


def submit_all(esme: ESMEProtocol) -> defer.Deferred:
    finished: defer.Deferred = defer.Deferred()
    state = {"sent": 0, "answered": 0, "ok": 0}

    def send_more(_: object = None) -> None:
        while state["sent"] < COUNT and state["sent"] - state["answered"] < 2 * WINDOW:
            state["sent"] += 1
            pdu = SubmitSm(source_addr="3456", destination_addr="254712345678", short_message=TEXT)
            esme.submit(pdu).addCallback(answered)

    def answered(response: object) -> None:
        state["answered"] += 1
        state["ok"] += response.command_status == 0  # type: ignore[attr-defined]
        if state["answered"] == COUNT:
            finished.callback(state["ok"])
        else:
            send_more()

    send_more()
    return finished


@defer.inlineCallbacks
def measure(smpp_port: int, api: str):  # type: ignore[no-untyped-def]
    counter = MOCounter()
    timers = SessionTimers(window_size=WINDOW, response_timeout_s=30)
    config = ESMEConfig("bench", "bench", timers=timers, flow=FlowControl(max_queued=100_000))
    esme = ESMEProtocol(reactor, config, counter)
    yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", smpp_port), esme)
    yield esme.when_bound
    esme.transport.setTcpNoDelay(True)
    started = time.perf_counter()
    accepted = yield submit_all(esme)
    submit_s = time.perf_counter() - started

    body = {
        "from": "254711000001",
        "to": "3456",
        "text": "SEND 0712345678 500 1234",
        "count": COUNT,
    }
    started = time.perf_counter()
    response = yield Agent(reactor).request(
        b"POST", f"{api}/v1/mo".encode(), Headers({b"content-type": [b"application/json"]}),
        FileBodyProducer(BytesIO(json.dumps(body).encode())),
    )  # fmt: skip
    yield readBody(response)
    last_mo_at = yield counter.done
    mo_s = last_mo_at - started
    return {
        "benchmark": "simulator",
        "submit_phase_s": round(submit_s, 2),
        "mo_phase_s": round(mo_s, 2),
        "pdus_each_way": COUNT,
        "submit_sm_per_s": round(COUNT / submit_s),
        "submit_sm_accepted": accepted,
        "mo_deliver_sm_per_s": round(COUNT / mo_s),
        "mo_acknowledged": counter.count,
        "window": WINDOW,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    process, smpp_port, api = start_simulator()
    result: dict = {}
    try:
        done = measure(smpp_port, api)
        done.addCallback(result.update).addErrback(
            lambda f: result.update(error=f.getErrorMessage())
        )
        done.addBoth(lambda _: reactor.stop())
        reactor.callLater(100, reactor.stop)
        reactor.run()
    finally:
        process.terminate()
        process.wait(timeout=10)
    # Which side was busy: if neither is near the wall time, the link (not Python) is the limit.
    result["simulator_cpu_s"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime, 1)
    result["client_cpu_s"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1)
    print(json.dumps(result))
    sys.exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
