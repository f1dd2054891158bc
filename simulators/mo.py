"""Virtual subscribers sending SMS: a text becomes one deliver_sm per part.

GSM 03.38 when the text fits it, else UCS-2; long texts are concatenated with the configured method
(udh8, udh16, sar, or one message_payload).
"""

from dataclasses import dataclass

from simulators.addresses import ton_npi
from smscore.concat import MessagePart, split_message
from smscore.constants import EsmClass
from smscore.pdu import DeliverSm
from smscore.text import DataCoding

_UDHI = int(EsmClass.UDHI)
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
    """Splits MO texts into deliver_sm PDUs; concatenation references cycle per method's range.

    Load tests send the same few texts between the same few numbers: a text that fits one part
    (which carries no reference) is split once, and an address is checked and classified once.
    """

    CACHE_SIZE = 4096

    def __init__(self, method: str) -> None:
        self.method = method
        self._last_reference = 0
        self._one_part: dict[str, MessagePart] = {}
        self._addresses: dict[str, tuple[int, int]] = {}

    def _next_reference(self) -> int:
        self._last_reference = self._last_reference % _REFERENCE_LIMIT[self.method] + 1
        return self._last_reference

    def build(self, source: str, destination: str, text: str) -> list[DeliverSm]:
        source_ton, source_npi = self._address("from", source)
        dest_ton, dest_npi = self._address("to", destination)
        reference = self._next_reference()
        part = self._one_part.get(text)
        parts = [part] if part is not None else self._split(text, reference)
        return [
            DeliverSm(
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                source_addr=source,
                dest_addr_ton=dest_ton,
                dest_addr_npi=dest_npi,
                destination_addr=destination,
                esm_class=_UDHI if part.esm_class_udhi else 0,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=dict(part.tlvs),
            )
            for part in parts
        ]

    def _split(self, text: str, reference: int) -> list[MessagePart]:
        try:
            parts = split_message(text, self.method, reference, allowed=_GSM_OR_UCS2)
        except ValueError as exc:
            raise InvalidMO(f"text cannot be sent: {exc}") from None
        if len(parts) == 1:  # one part has no UDH and no SAR: nothing depends on the reference
            if len(self._one_part) >= self.CACHE_SIZE:
                self._one_part.clear()
            self._one_part[text] = parts[0]
        return parts

    def _address(self, what: str, address: str) -> tuple[int, int]:
        known = self._addresses.get(address)
        if known is None:
            _check_address(what, address)
            if len(self._addresses) >= self.CACHE_SIZE:
                self._addresses.clear()
            known = self._addresses[address] = ton_npi(address)
        return known


def _check_address(what: str, address: str) -> None:
    if not address or len(address) > 20 or not address.isprintable():
        raise InvalidMO(f"{what!r} must be 1..20 printable characters, got {address!r}")
