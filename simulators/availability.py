"""Subscribers who are away, the delivery pending flag (set_dpf) and alert_notification.

A message to an absent subscriber fails (UNDELIV, err 027). If it asked for set_dpf = 1 the SMSC
sets the delivery pending flag: it remembers the ESME and the address the message came from, and
when the subscriber is available again it sends that ESME an alert_notification (SMPP 3.4 4.12):
source_addr the subscriber, esme_addr that address, ms_availability_status 0 (available).
alert_notification has no response; one for an ESME with no receiver bound waits for its bind.
"""

from collections import deque
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from simulators.addresses import ton_npi
from simulators.store import StoredMessage
from smscore.errors import SMPPError
from smscore.pdu import AlertNotification
from smscore.smsc import SMSCFactory

# The err: of a delivery to an absent subscriber: MAP's absentSubscriber error (3GPP TS 29.002).
ABSENT_SUBSCRIBER_ERR = 27
MS_AVAILABLE = 0  # ms_availability_status: available (spec 5.3.2.30)
MAX_WAITING_ALERTS = 10_000  # alerts kept for ESMEs with no receiver bound: a bound on memory
log = Logger()


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert_notification: `msisdn` is available again for the ESME at `esme_addr`."""

    msisdn: str
    esme_addr: str
    system_id: str | None  # the account to tell; None: any bound receiver

    def pdu(self) -> AlertNotification:
        source_ton, source_npi = ton_npi(self.msisdn)
        esme_ton, esme_npi = ton_npi(self.esme_addr)
        return AlertNotification(
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=self.msisdn,
            esme_addr_ton=esme_ton,
            esme_addr_npi=esme_npi,
            esme_addr=self.esme_addr,
            tlvs={"ms_availability_status": MS_AVAILABLE},
        )

    def as_json(self) -> dict[str, Any]:
        return {"msisdn": self.msisdn, "esme_addr": self.esme_addr, "system_id": self.system_id}


class Subscribers:
    """Which subscribers are absent, who waits for them (DPF), and the alerts not yet sent."""

    def __init__(self, factory: SMSCFactory, max_waiting: int = MAX_WAITING_ALERTS) -> None:
        self.factory = factory
        self.absent: set[str] = set()  # read it; change it with set_available
        self._flags: dict[str, dict[Alert, None]] = {}  # msisdn -> alerts owed, in order
        self._unsent: deque[Alert] = deque(maxlen=max_waiting)
        self.counters = {"alerts_sent": 0, "dpf_set": 0}

    def is_absent(self, msisdn: str) -> bool:
        return msisdn in self.absent

    def set_available(self, msisdn: str, available: bool) -> list[Alert]:
        """Mark a subscriber absent or available; becoming available alerts every ESME that set
        the delivery pending flag for it. Returns those alerts."""
        if not available:
            self.absent.add(msisdn)
            return []
        self.absent.discard(msisdn)
        owed = list(self._flags.pop(msisdn, {}))
        for alert in owed:
            self.alert(alert)
        return owed

    def flag(self, message: StoredMessage) -> bool:
        """Set the delivery pending flag for a failed message if it asked for it (set_dpf = 1)."""
        if message.tlvs.get("set_dpf") != 1:
            return False
        alert = Alert(message.destination_addr, message.source_addr, message.system_id)
        self._flags.setdefault(message.destination_addr, {})[alert] = None
        self.counters["dpf_set"] += 1
        return True

    def alert(self, alert: Alert) -> bool:
        """Send it to a bound receiver of its account now (True), or keep it for the next bind."""
        for receiver in self.factory.receivers(alert.system_id):
            try:
                receiver.send_request(alert.pdu())
            except SMPPError as exc:  # the link is going away: another receiver, or later
                log.info("alert_notification not sent on one link: {error}", error=exc)
                continue
            self.counters["alerts_sent"] += 1
            return True
        self._unsent.append(alert)
        return False

    def flush(self) -> None:
        """A receiver bound: send the alerts that waited for one."""
        waiting, self._unsent = self._unsent, deque(maxlen=self._unsent.maxlen)
        for alert in waiting:
            self.alert(alert)

    def as_json(self) -> dict[str, Any]:
        return {
            "absent": sorted(self.absent),
            "pending_flags": [alert.as_json() for owed in self._flags.values() for alert in owed],
            "unsent_alerts": [alert.as_json() for alert in self._unsent],
        }
