"""The ESME side of outbind (SMPP 3.4 4.1.7): listen for an SMSC that asks us to bind.

The SMSC connects, sends outbind with its system_id and a password; if the password is the one we
expect (and the system_id, when one is expected) we send bind_receiver on that same connection
and from then on the link is a receiver bind like any other (deliver_sm to `on_message`). A wrong
password, or no outbind within the response timeout, closes the connection; no password is ever
logged.

factory = OutbindListenerFactory(reactor, esme_config, password="pw", on_message=handler)
reactor.listenTCP(2776, factory, interface="127.0.0.1")   # factory.bound: the bound links
"""

import hmac
from collections.abc import Callable
from dataclasses import replace

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from smscore.constants import CommandId as C
from smscore.esme import BindType, ESMEConfig, ESMEProtocol, MessageHandler, _accept_and_drop
from smscore.pdu import PDU
from smscore.protocol import SMPPProtocol
from smscore.session import Bound


class OutbindESMEProtocol(ESMEProtocol):
    """Waits for outbind instead of binding on connect; then binds as a receiver."""

    factory: "OutbindListenerFactory"

    def __init__(self, factory: "OutbindListenerFactory") -> None:
        super().__init__(factory.reactor, factory.config, factory.on_message)
        self.factory = factory
        self._timer: IDelayedCall | None = None
        # Nobody waits on when_bound here (the factory's on_bound tells): a link that never
        # binds must not leave an unhandled failure behind.
        self.when_bound.addErrback(lambda failure: None)

    def connectionMade(self) -> None:
        SMPPProtocol.connectionMade(self)  # not ESMEProtocol's: we bind once asked to
        self._timer = self.reactor.callLater(self.timers.response_timeout_s, self._no_outbind)

    def _no_outbind(self) -> None:
        self._timer = None
        self._refuse("no outbind within {s:g}s", s=self.timers.response_timeout_s)

    def handle_request(self, pdu: PDU) -> PDU | None:
        if pdu.command_id == C.OUTBIND:
            self._on_outbind(pdu)
            return None  # outbind has no response: the bind is the answer
        return super().handle_request(pdu)  # type: ignore[return-value]

    def _on_outbind(self, pdu: PDU) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self.factory.accepts(pdu.system_id, pdu.password):
            self._refuse("outbind from {smsc!r} refused: wrong credentials", smsc=pdu.system_id)
            return
        self.log.info("outbind from {smsc!r}: binding as a receiver", smsc=pdu.system_id)
        self.send_request(self.config.bind_pdu()).addCallbacks(
            self._on_bind_response, self._on_bind_failure
        )

    def _refuse(self, why: str, **fields: object) -> None:
        self.log.warn(f"outbind listener: {why}", **fields)
        self.factory.refused += 1
        if self.transport is not None:
            self.transport.loseConnection()

    def on_bound(self, event: Bound) -> None:
        super().on_bound(event)
        self.factory.bound.append(self)
        self.factory.on_bound(self)

    def on_closed(self, reason: Failure) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self in self.factory.bound:
            self.factory.bound.remove(self)
        super().on_closed(reason)


def _ignore(protocol: OutbindESMEProtocol) -> None:
    return None


class OutbindListenerFactory(Factory):
    """Accepts SMSC connections that outbind. `config` is how we bind back (its bind_type is
    made receiver, as SMPP 3.4 asks); `password` is what the SMSC's outbind must carry;
    `smsc_system_id`, if given, is the system_id it must carry too."""

    noisy = False  # no "Starting factory <... at 0x...>" line at info for every link or port

    def __init__(
        self,
        reactor: IReactorTime,
        config: ESMEConfig,
        password: str,
        on_message: MessageHandler = _accept_and_drop,
        smsc_system_id: str | None = None,
        on_bound: Callable[[OutbindESMEProtocol], None] = _ignore,
    ) -> None:
        self.reactor = reactor
        self.config = replace(config, bind_type=BindType.RECEIVER)
        self._password = password.encode("utf-8")
        self.smsc_system_id = smsc_system_id
        self.on_message = on_message
        self.on_bound = on_bound
        self.bound: list[OutbindESMEProtocol] = []
        self.refused = 0  # connections closed: wrong credentials or no outbind in time

    def __repr__(self) -> str:  # never the password
        return f"OutbindListenerFactory(system_id={self.config.system_id!r})"

    def accepts(self, system_id: str, password: str) -> bool:
        password_ok = hmac.compare_digest(password.encode("utf-8"), self._password)
        return password_ok and self.smsc_system_id in (None, system_id)

    def buildProtocol(self, addr: object) -> OutbindESMEProtocol:
        return OutbindESMEProtocol(self)
