"""A tiny USSD application on smscore's own ESME, for the simulator's USSD tests: it reads the
simulator's deliver_sm and answers screens with the same dialect codecs the daemon uses.

Its menu: the dial shows MENU; "1" ends with the balance; "2" asks for a phone, whose answer ends
with "Sent to <phone>". A release (end flag) is recorded in `releases`.
"""

import socket
import threading
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred

from simulators.simulator import Simulator
from smscore.codec import StreamDecoder, encode
from smscore.constants import CommandId
from smscore.esme import ESMEProtocol
from smscore.pdu import PDU, BindTransceiver, SubmitSm
from smscore.ussd import Dialect, UssdMessage, UssdOp
from smscore.ussd_dialects import read_ussd, ussd_submit_params
from tests.simulators.harness import Network, bound_esme, esme_config, make_simulator

MENU = "Welcome\n1. Balance\n2. Send money"
BALANCE = "Your balance is KES 100.00"
ASK_PHONE = "Enter phone number"
ACCOUNT = "ussd"  # the system_id of the fake application's account


def ussd_simulator(network: Network, dialect: Dialect, **config: object) -> Simulator:
    data: dict[str, object] = {
        "account": [{"system_id": ACCOUNT, "password": "secret", "ussd_dialect": str(dialect)}],
        "dlr": {"delay_s": 0.5},
    }
    data.update(config)
    return make_simulator(network.clock, **data)


@dataclass
class UssdApp:
    """The application side of the dialogues; `reply_after_s` delays every screen."""

    network: Network
    dialect: Dialect
    reply_after_s: float = 0.2
    esme: ESMEProtocol | None = None
    received: list[PDU] = field(default_factory=list)
    releases: list[UssdMessage] = field(default_factory=list)
    responses: list[PDU] = field(default_factory=list)
    steps: dict[str, str] = field(default_factory=dict)  # session key -> where the dialogue is
    silent: bool = False  # receive, answer nothing

    def __call__(self, pdu: PDU) -> int:
        self.received.append(pdu)
        message = read_ussd(self.dialect, pdu)
        if message is None or self.silent:
            return 0
        if message.end:
            self.releases.append(message)
            self.steps.pop(message.session_key, None)
            return 0
        text = pdu.short_message.decode()
        screen = next_screen(self.steps, message, text)
        if screen is not None:
            self.network.clock.callLater(self.reply_after_s, self.send, pdu.source_addr,
                                         message.session_key, *screen)  # fmt: skip
        return 0

    def send(self, msisdn: str, session_key: str, text: str, final: bool) -> Deferred:
        op = UssdOp.PSSR_RESPONSE if final else UssdOp.USSR_REQUEST
        pdu = screen_pdu(self.dialect, msisdn, session_key, text, op, final)
        assert self.esme is not None
        return self.esme.submit(pdu).addCallback(self._answered)

    def _answered(self, response: PDU) -> PDU:
        self.responses.append(response)
        return response


def next_screen(steps: dict[str, str], message: UssdMessage, text: str) -> tuple[str, bool]:
    """(text, final) of the menu's next screen; `steps` remembers where each dialogue is."""
    key = message.session_key
    step = steps.get(key)
    if message.op == UssdOp.PSSR_INDICATION:
        steps[key] = "menu"
        return MENU, False
    if step == "menu" and text == "1":
        return BALANCE, True
    if step == "menu" and text == "2":
        steps[key] = "phone"
        return ASK_PHONE, False
    if step == "phone":
        return f"Sent to {text}", True
    return f"Unknown choice {text}", True


def screen_pdu(
    dialect: Dialect, msisdn: str, session_key: str, text: str, op: int, end: bool
) -> SubmitSm:
    params = ussd_submit_params(dialect, UssdMessage(op, session_key, end))
    return SubmitSm(source_addr="334", destination_addr=msisdn, short_message=text.encode(),
                    **params)  # fmt: skip


def ussd_app(
    network: Network, simulator: Simulator, dialect: Dialect, **options: object
) -> UssdApp:
    app = UssdApp(network, dialect, **options)  # type: ignore[arg-type]
    app.esme = bound_esme(network, simulator, esme_config(system_id=ACCOUNT), app)  # type: ignore[arg-type]
    return app


class BlockingUssdApp:
    """The same menu over a real socket, in a thread, on smscore's codec (for tests that run the
    simulator as a process): binds, answers every request, serves screens at once."""

    def __init__(self, port: int, dialect: Dialect, system_id: str = ACCOUNT) -> None:
        self.dialect = dialect
        self.steps: dict[str, str] = {}
        self.releases: list[UssdMessage] = []
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(0.2)
        self.decoder = StreamDecoder()
        self.sequence = 0
        self.stopping = threading.Event()
        self._send(BindTransceiver(system_id=system_id, password="secret"))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _send(self, pdu: PDU) -> None:
        if pdu.command_id & 0x8000_0000 == 0:
            self.sequence += 1
            pdu.sequence_number = self.sequence
        self.sock.sendall(encode(pdu))

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.decoder.feed(data)
            for pdu in self.decoder:
                self._handle(pdu)

    def _handle(self, pdu: PDU) -> None:
        if pdu.command_id & 0x8000_0000:
            return  # a response: bind_resp, submit_sm_resp
        self._send(pdu.make_response())
        if pdu.command_id != CommandId.DELIVER_SM:
            return
        message = read_ussd(self.dialect, pdu)
        if message is None:
            return
        if message.end:
            self.releases.append(message)
            return
        text, final = next_screen(self.steps, message, pdu.short_message.decode())
        op = UssdOp.PSSR_RESPONSE if final else UssdOp.USSR_REQUEST
        self._send(screen_pdu(self.dialect, pdu.source_addr, message.session_key, text, op, final))

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()
