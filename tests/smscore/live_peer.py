"""A real-reactor SMPP peer for the live tests, run as a subprocess (it always stops by itself).

python -m tests.smscore.live_peer serve [--tls-cert PEM --tls-key PEM] [--lifetime-s N]
    Our SMSCFactory on 127.0.0.1:<free port>; prints "PORT <n>" and runs until stdin closes or
    the lifetime ends. Accepts system_id "test" with password "secret" (ESME_RINVPASWD
    otherwise); answers each submit_sm with message_id "msg-<n>", then delivers a deliver_sm
    carrying "echo: <text>" back to the same bind.

python -m tests.smscore.live_peer bind --port N --ca PEM [--lifetime-s N]
    Our PersistentBind over TLS to 127.0.0.1:N trusting only the CA in PEM: binds, submits
    one message, prints one JSON line ({"bound", "message_id", "bind_failures", "error", "state",
    "log": its warnings}); a bind refused twice reports at once.
"""

import argparse
import json
import sys
import threading

from twisted.internet import reactor as global_reactor
from twisted.internet import ssl
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from smscore.client import PersistentBind, ReconnectPolicy, SMSCAddress, client_endpoint
from smscore.esme import ESMEConfig
from smscore.pdu import PDU, DeliverSm, SubmitSm
from smscore.smsc import SMSCFactory, SMSCProtocol
from smscore.status import CommandStatus

SYSTEM_ID, PASSWORD = "test", "secret"


def authenticate(bind: PDU, peer: str) -> int:
    if bind.system_id != SYSTEM_ID:
        return CommandStatus.ESME_RINVSYSID
    return CommandStatus.ESME_ROK if bind.password == PASSWORD else CommandStatus.ESME_RINVPASWD


class EchoHandler:
    def __init__(self, reactor) -> None:  # type: ignore[no-untyped-def]
        self.reactor = reactor
        self.count = 0

    def __call__(self, protocol: SMSCProtocol, pdu: PDU) -> PDU:
        if not isinstance(pdu, SubmitSm):
            return pdu.make_response(CommandStatus.ESME_RINVCMDID)
        self.count += 1
        echo = DeliverSm(
            source_addr=pdu.destination_addr,
            destination_addr=pdu.source_addr,
            short_message=b"echo: " + pdu.short_message,
        )
        # after the resp: the ESME sees its message_id before the MO
        self.reactor.callLater(0, protocol.deliver, echo)
        return pdu.make_response(message_id=f"msg-{self.count}")


def stop_on_stdin_eof(reactor) -> None:  # type: ignore[no-untyped-def]
    def wait() -> None:
        sys.stdin.read()
        reactor.callFromThread(lambda: reactor.running and reactor.stop())

    threading.Thread(target=wait, daemon=True).start()


def serve(args: argparse.Namespace, reactor) -> None:  # type: ignore[no-untyped-def]
    factory = SMSCFactory(reactor, authenticate, EchoHandler(reactor))
    if args.tls_cert:
        with open(args.tls_cert, "rb") as cert, open(args.tls_key, "rb") as key:
            options = ssl.PrivateCertificate.loadPEM(cert.read() + key.read()).options()
        endpoint = SSL4ServerEndpoint(reactor, 0, options, interface="127.0.0.1")
    else:
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")

    def listening(port) -> None:  # type: ignore[no-untyped-def]
        print(f"PORT {port.getHost().port}", flush=True)

    endpoint.listen(factory).addCallbacks(listening, lambda failure: reactor.stop())
    stop_on_stdin_eof(reactor)


def bind(args: argparse.Namespace, reactor) -> None:  # type: ignore[no-untyped-def]
    address = SMSCAddress("127.0.0.1", args.port, tls=True, tls_ca_file=args.ca)
    policy = ReconnectPolicy(initial_delay_s=0.2, max_delay_s=0.5)
    config = ESMEConfig(SYSTEM_ID, PASSWORD)
    link = PersistentBind(
        reactor, "tls", client_endpoint(reactor, address), config, policy=policy, jitter=lambda: 0
    )
    report: dict = {"bound": False, "message_id": None, "log": []}
    globalLogPublisher.addObserver(
        lambda event: (
            event["log_level"] >= LogLevel.warn and report["log"].append(formatEvent(event))
        )
    )

    def finish() -> None:
        if "state" in report:
            return
        report["bind_failures"] = link.counters.bind_failures
        report["connects"] = link.counters.connects
        report["error"] = link.last_error
        report["state"] = link.state
        print(json.dumps(report), flush=True)
        link.stop().addBoth(lambda _: reactor.stop())

    def poll() -> None:
        if not link.is_bound:
            if link.counters.bind_failures >= 2:  # refused, and refused again after a backoff
                finish()
                return
            reactor.callLater(0.05, poll)
            return
        report["bound"] = True
        sent = link.protocol.submit(SubmitSm(destination_addr="254700000001", short_message=b"x"))
        sent.addCallback(lambda resp: report.update(message_id=resp.message_id))
        sent.addErrback(lambda failure: report.update(submit_error=failure.getErrorMessage()))
        sent.addBoth(lambda _: finish())

    link.start()
    poll()
    # the lifetime guard below reports what happened if the bind never came up
    reactor.callLater(args.lifetime_s - 1, lambda: report["bound"] or finish())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "bind"])
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--port", type=int)
    parser.add_argument("--ca")
    parser.add_argument("--lifetime-s", type=float, default=20.0)
    args = parser.parse_args()
    reactor = global_reactor
    reactor.callLater(args.lifetime_s, lambda: reactor.running and reactor.stop())
    (serve if args.mode == "serve" else bind)(args, reactor)
    reactor.run()


if __name__ == "__main__":
    main()
