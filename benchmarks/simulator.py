"""Simulator throughput on 127.0.0.1: submit_sm/s it answers, and MO deliver_sm/s it gets acknowledged.

The simulator runs alone in a subprocess (`smscore sim`); this process is the ESME (smscore's own
ESMEProtocol on the real reactor). Phase 1 submits N submit_sm (no receipts asked); phase 2 asks the
simulator, through its control API, to inject N MOs and counts deliver_sm acknowledged here.
Prints one JSON object. Run: .venv/bin/python benchmarks/simulator.py [N]

CPU cost without the noise of a shared machine: `--in-process N --phase submit|mo` drives the
simulator in this process over an in-memory transport with simulated time (bytes in, bytes out, no
ESME code on the path), and `--instructions [N]` runs that under callgrind for N PDUs and for 0 and
prints the instructions per PDU of each path (repeatable whatever the machine's load).
"""

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
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
    profile_path = Path(tempfile.gettempdir(), "sim.prof")
    profile = ["-m", "cProfile", "-o", str(profile_path)] if "--profile" in sys.argv else []
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
    timers = SessionTimers(window=WINDOW, response_timeout_s=30)
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


# --- CPU cost in process (deterministic: simulated time, in-memory transport) ---

CHUNK = 25  # PDUs per dataReceived, as TCP hands a busy link's bytes over
SECONDS_PER_PDU = (
    0.0002  # simulated time per PDU: receipt timers fire during the run, as they would
)


def in_process(count: int, phase: str) -> dict:
    """Push `count` submit_sm (or MOs) through a Simulator; the ESME side is pre-encoded bytes."""
    import struct

    from twisted.internet.selectreactor import SelectReactor
    from twisted.internet.testing import StringTransport

    from simulators.config import build_config
    from simulators.http import ControlAPI
    from simulators.simulator import Simulator
    from smscore.codec import encode
    from smscore.pdu import BindTransceiver

    now_s = [1_800_000_000.0]
    clock = SelectReactor()
    clock.seconds = lambda: now_s[0]  # type: ignore[method-assign]
    config = {"account": [{"system_id": "bench", "password": "bench"}], "window_size": WINDOW}
    simulator = Simulator(clock, build_config({**config, "http": None}, "bench"))
    server = simulator.factory.buildProtocol(None)
    transport = StringTransport()
    server.makeConnection(transport)
    server.dataReceived(
        encode(BindTransceiver(sequence_number=1, system_id="bench", password="bench"))
    )
    transport.clear()

    def advance(pdus: int) -> None:
        now_s[0] += pdus * SECONDS_PER_PDU
        clock.runUntilCurrent()

    if phase == "submit":
        template = SubmitSm(source_addr="3456", destination_addr="254712345678", short_message=TEXT)
        chunk = b"".join(encode(_numbered(template, 2 + i)) for i in range(CHUNK))
        for _ in range(-(-count // CHUNK) if count else 0):
            server.dataReceived(chunk)
            transport.clear()
            advance(CHUNK)
        done = simulator.stats()["submitted"]
    else:
        request = type("Request", (), {"content": BytesIO(json.dumps(
            {"from": "254711000001", "to": "3456", "text": "SEND 0712345678 500 1234", "count": count}
        ).encode())})  # fmt: skip
        if count:
            ControlAPI(simulator)._post_mo(request)  # type: ignore[arg-type]
        header, pack = struct.Struct(">IIII"), struct.Struct(">IIIIx").pack
        while simulator.delivery.pending:
            data = transport.value()
            transport.clear()
            answers, offset = [], 0
            while offset < len(data):
                length, _, _, sequence_number = header.unpack_from(data, offset)
                answers.append(pack(17, 0x80000005, 0, sequence_number))
                offset += length
            for start in range(0, len(answers), CHUNK):
                server.dataReceived(b"".join(answers[start : start + CHUNK]))
                advance(CHUNK)
        done = simulator.stats()["mo_acknowledged"]
    advance(int(10 / SECONDS_PER_PDU))  # every receipt timer fires: its cost belongs to the PDU
    return {"phase": phase, "pdus": count, "done": done}


def _numbered(pdu: SubmitSm, sequence_number: int) -> SubmitSm:
    pdu.sequence_number = sequence_number
    return pdu


def instructions(count: int) -> dict:
    """Callgrind instruction counts of `--in-process` for `count` PDUs minus 0 PDUs, per PDU."""
    import re

    def start(phase: str, pdus: int) -> subprocess.Popen:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                   sys.executable, __file__, "--in-process", str(pdus), "--phase", phase]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # same dict layouts, same count each run
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def collected(run: subprocess.Popen, pdus: int) -> int:
        stdout, stderr = run.communicate()
        done = json.loads(stdout)["done"]
        assert done == pdus, f"{done} of {pdus} done"
        return int(re.search(r"Collected : (\d+)", stderr).group(1))  # type: ignore[union-attr]

    phases = (
        [sys.argv[sys.argv.index("--phase") + 1]] if "--phase" in sys.argv else ["submit", "mo"]
    )
    runs = {(phase, pdus): start(phase, pdus) for phase in phases for pdus in (0, count)}
    total = {key: collected(run, key[1]) for key, run in runs.items()}
    result: dict = {"benchmark": "simulator_instructions", "pdus": count}
    for phase in phases:
        result[f"{phase}_instructions_per_pdu"] = round(
            (total[phase, count] - total[phase, 0]) / count
        )
    result["python"] = platform.python_version()
    return result


def main() -> None:
    if "--in-process" in sys.argv:
        count = int(sys.argv[sys.argv.index("--in-process") + 1])
        phase = sys.argv[sys.argv.index("--phase") + 1] if "--phase" in sys.argv else "submit"
        print(json.dumps(in_process(count, phase)))
        return
    if "--instructions" in sys.argv:
        at = sys.argv.index("--instructions") + 1
        count = int(sys.argv[at]) if at < len(sys.argv) and sys.argv[at].isdigit() else 5_000
        print(json.dumps(instructions(count)))
        return
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
