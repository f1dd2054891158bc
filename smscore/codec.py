"""Sans-I/O SMPP codec: PDUs to bytes, bytes (in arbitrary chunks) to PDUs. No sockets, no Twisted."""

from smscore.constants import HEADER, HEADER_LENGTH, RESPONSE_BIT
from smscore.errors import PDUDecodeError
from smscore.pdu import PDU, PDU_CLASSES
from smscore.status import CommandStatus

# Room for a full 64 KiB message_payload plus every mandatory field and a few TLVs.
DEFAULT_MAX_PDU_LENGTH = 70_000

_unpack_header = HEADER.unpack_from


def encode(pdu: PDU) -> bytes:
    """The wire bytes of `pdu` (header included). Raises PDUEncodeError, naming the PDU, if a field
    breaks the spec."""
    return pdu.encode_pdu()


def decode(data: bytes) -> PDU:
    """Decode exactly one whole PDU. Raises PDUDecodeError (with the status to answer) if malformed."""
    size = len(data)
    if size < HEADER_LENGTH:
        raise PDUDecodeError(
            f"{size} bytes is shorter than the {HEADER_LENGTH}-byte SMPP header",
            CommandStatus.ESME_RINVCMDLEN,
            fatal=True,
        )
    length, command_id, status, sequence_number = _unpack_header(data, 0)
    if length != size:
        raise PDUDecodeError(
            f"command_length {length} but {size} bytes given",
            CommandStatus.ESME_RINVCMDLEN,
            fatal=True,
        )
    cls = _class_of(command_id)
    if cls is None:
        raise _unknown_command(command_id, sequence_number)
    if type(data) is not bytes:
        data = bytes(data)
    return cls.decode_body(sequence_number, status, data, HEADER_LENGTH, length)


def _unknown_command(command_id: int, sequence_number: int) -> PDUDecodeError:
    return PDUDecodeError(
        f"unknown command_id 0x{command_id:08X}",
        CommandStatus.ESME_RINVCMDID,
        command_id=command_id,
        sequence_number=sequence_number,
    )


_class_of = PDU_CLASSES.get


class StreamDecoder:
    """Turns a byte stream, fed in chunks of any size, into PDUs.

    `feed(data)` buffers bytes; `next_pdu()` returns the next whole PDU, None when more bytes are needed,
    or raises PDUDecodeError for a malformed one. A non-fatal error has consumed exactly the bad PDU, so
    decoding goes on with the next one; a fatal error (the length field is unusable, so framing is lost)
    leaves the decoder broken: every later call raises the same error. The buffer never holds more than
    one PDU of at most `max_pdu_length` bytes plus whatever the last chunk carried.
    """

    def __init__(self, max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        if max_pdu_length < HEADER_LENGTH:
            raise ValueError(f"max_pdu_length must be at least {HEADER_LENGTH}")
        self.max_pdu_length = max_pdu_length
        self._buffer = bytearray()
        self._broken: PDUDecodeError | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if self._broken is None:
            self._buffer += data

    def next_pdu(self) -> PDU | None:
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer
        if len(buffer) < HEADER_LENGTH:
            return None
        length, command_id, status, sequence_number = _unpack_header(buffer, 0)
        if not HEADER_LENGTH <= length <= self.max_pdu_length:
            self._broken = _bad_length(length, self.max_pdu_length, command_id, sequence_number)
            self._buffer = bytearray()
            raise self._broken
        if len(buffer) < length:
            return None
        data = bytes(buffer[:length])
        del buffer[:length]
        cls = _class_of(command_id)
        if cls is None:
            raise _unknown_command(command_id, sequence_number)
        return cls.decode_body(sequence_number, status, data, HEADER_LENGTH, length)

    def __iter__(self) -> "StreamDecoder":
        return self

    def __next__(self) -> PDU:
        pdu = self.next_pdu()
        if pdu is None:
            raise StopIteration
        return pdu


def _bad_length(length: int, maximum: int, command_id: int, sequence_number: int) -> PDUDecodeError:
    known = command_id in PDU_CLASSES
    return PDUDecodeError(
        f"command_length {length} outside {HEADER_LENGTH}..{maximum}",
        CommandStatus.ESME_RINVCMDLEN,
        command_id=command_id if known else None,
        sequence_number=sequence_number if known else None,
        fatal=True,
    )


def is_response_id(command_id: int) -> bool:
    return bool(command_id & RESPONSE_BIT)
