"""PDU hex dumps for debugging a link, off unless switched on (daemon.logs does when the smpp
component logs at debug): an encode per PDU is not free, so the protocol checks `enabled` first.

A bind or outbind PDU carries the ESME's password in clear; its octets are replaced with a fixed
`********` (however long the password) before the dump, so a debug log never holds a bind password
nor shows its length in the dump's body (the header's command_length, as sent, still counts it).
"""

from smscore.codec import encode
from smscore.constants import CommandId
from smscore.pdu import PDU

_HEADER_OCTETS = 16
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


def pdu_hex(pdu: PDU) -> str:
    """The PDU's wire octets as hex, the password masked; a PDU that cannot be encoded says so."""
    try:
        data = encode(pdu)
    except Exception as exc:  # a field over its limit: the send fails elsewhere, say why here
        return f"<not encodable: {type(exc).__name__}>"
    return masked_octets(data).hex()
