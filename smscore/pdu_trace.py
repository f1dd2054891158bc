"""PDU hex dumps for debugging a link, off unless switched on (daemon.logs does when the smpp
component logs at debug): an encode per PDU is not free, so the protocol checks `enabled` first.

Two things are never dumped as they are, at any level:

- a bind or outbind PDU's password: it becomes a fixed `********` however long it is, so the dump's
  body does not show its length either (the header's command_length, as sent, still counts it);
- a message's text (the short_message of a submit_sm, deliver_sm, data_sm, replace_sm or
  submit_multi, and any message_payload TLV): it may hold a PIN or a one-time code ("BAL 4821").
  Each octet becomes `*`, so the lengths (sm_length, the TLV's length) still match the hex and a
  link problem with the framing can still be read from it.
"""

import copy

from smscore.codec import encode
from smscore.constants import CommandId
from smscore.pdu import PDU

_HEADER_OCTETS = 16
_MASK_OCTET = ord("*")
PASSWORD_MASK = b"*" * 8  # the longest SMPP 3.4 password, whatever the real one's length
# system_id then password, both C-Octet Strings, open these PDUs' bodies (SMPP 3.4, 4.1 and 4.1.7)
_PASSWORD_AFTER_SYSTEM_ID = frozenset(
    {
        CommandId.BIND_RECEIVER,
        CommandId.BIND_TRANSMITTER,
        CommandId.BIND_TRANSCEIVER,
        CommandId.OUTBIND,
    }
)
_TEXT_FIELD = "short_message"
_TEXT_TLVS = ("message_payload", 0x0424)  # by name once decoded; by tag if kept raw

enabled = False


def enable(on: bool = True) -> None:
    global enabled
    enabled = on


def masked_octets(data: bytes) -> bytes:
    """A whole PDU's octets with a bind password (if it carries one) replaced by PASSWORD_MASK."""
    if len(data) < _HEADER_OCTETS:
        return data
    if int.from_bytes(data[4:8], "big") not in _PASSWORD_AFTER_SYSTEM_ID:
        return data
    system_id_end = data.find(b"\x00", _HEADER_OCTETS)
    if system_id_end < 0:
        return data[:_HEADER_OCTETS]  # malformed: show no body at all
    password_end = data.find(b"\x00", system_id_end + 1)
    if password_end < 0:
        return data[: system_id_end + 1]
    return data[: system_id_end + 1] + PASSWORD_MASK + data[password_end:]


def _stars(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes([_MASK_OCTET]) * len(value)
    if isinstance(value, str):
        return "*" * len(value)
    return value


def masked_text(pdu: PDU) -> PDU:
    """The PDU itself when it carries no message text, else a copy with the text masked."""
    has_field = _TEXT_FIELD in pdu.field_names and getattr(pdu, _TEXT_FIELD)
    tlvs = pdu.tlvs or {}
    text_tlvs = [key for key in _TEXT_TLVS if key in tlvs]
    if not has_field and not text_tlvs:
        return pdu
    masked = copy.copy(pdu)
    if has_field:
        setattr(masked, _TEXT_FIELD, _stars(getattr(pdu, _TEXT_FIELD)))
    if text_tlvs:
        masked.tlvs = {key: _stars(v) if key in text_tlvs else v for key, v in tlvs.items()}
    return masked


def pdu_hex(pdu: PDU) -> str:
    """The PDU's wire octets as hex, password and text masked; a PDU that cannot be encoded says
    so."""
    try:
        data = encode(masked_text(pdu))
    except Exception as exc:  # a field over its limit: the send fails elsewhere, say why here
        return f"<not encodable: {type(exc).__name__}>"
    return masked_octets(data).hex()
