"""Virtual subscribers sending SMS: a text becomes one deliver_sm per part.

GSM 03.38 when the text fits it, else UCS-2; long texts are concatenated with the configured method
(udh8, udh16, sar, or one message_payload).
"""

from dataclasses import dataclass

from simulators.addresses import ton_npi
from smscore.concat import split_message
from smscore.pdu import DeliverSm
from smscore.text import DataCoding

_GSM_OR_UCS2 = (DataCoding.SMSC_DEFAULT, DataCoding.UCS2)
_REFERENCE_LIMIT = {"udh8": 0xFF, "udh16": 0xFFFF, "sar": 0xFFFF, "payload": 0xFFFF}


class InvalidMO(ValueError):
    """The MO cannot be sent as asked (empty address, text too long for 255 parts, ...)."""


@dataclass(frozen=True, slots=True)
class MOResult:
    """What an injected MO became once every part was acknowledged by an ESME."""

    source: str
    destination: str
    parts: int
    injected_at_s: float


class MOBuilder:
    """Splits MO texts into deliver_sm PDUs; concatenation references cycle per method's range."""

    def __init__(self, method: str) -> None:
        self.method = method
        self._last_reference = 0

    def _next_reference(self) -> int:
        self._last_reference = self._last_reference % _REFERENCE_LIMIT[self.method] + 1
        return self._last_reference

    def build(self, source: str, destination: str, text: str) -> list[DeliverSm]:
        _check_address("from", source)
        _check_address("to", destination)
        try:
            parts = split_message(text, self.method, self._next_reference(), allowed=_GSM_OR_UCS2)
        except ValueError as exc:
            raise InvalidMO(f"text cannot be sent: {exc}") from None
        source_ton, source_npi = ton_npi(source)
        dest_ton, dest_npi = ton_npi(destination)
        return [
            DeliverSm(
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                source_addr=source,
                dest_addr_ton=dest_ton,
                dest_addr_npi=dest_npi,
                destination_addr=destination,
                esm_class=0x40 if part.esm_class_udhi else 0,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=dict(part.tlvs),
            )
            for part in parts
        ]


def _check_address(what: str, address: str) -> None:
    if not address or len(address) > 20 or not address.isprintable():
        raise InvalidMO(f"{what!r} must be 1..20 printable characters, got {address!r}")
