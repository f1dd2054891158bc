"""The encrypted app channel's protocol, written once for both sides (the server in
daemon.security.app_inbox, the reference device in daemon.device).

Keys. At enrolment the device sends its X25519 public key; the server answers with its own and the
device id it assigned. Both compute the X25519 shared secret and derive, with HKDF-SHA256, one key
per direction (`info` names the direction and the device id, so no key serves two purposes) and a
4-byte key id both sides can compare without revealing a key.

An app message (a *frame*):

    version (1) | device id (8) | key id (4) | counter (8, big-endian) | ChaCha20-Poly1305 ciphertext

The header is the AEAD's associated data: a changed device id, counter or key id fails like a
changed ciphertext. The nonce is the counter (zero-padded to 12 bytes); a counter is never used twice
under one key because each direction has its own key and its sender only counts up. The plaintext
is a kind octet then its body (KIND_TEXT: a command or a reply in UTF-8; KIND_ERROR: an
ErrorCode; KIND_OFFLINE: a signed offline transfer, daemon.security.offline).

On SMS a frame goes either as 8-bit data (data_coding 4) with a UDH application port IE (0x05,
16-bit ports, `APP_PORT` unless configured) and, when longer than one SMS, the concatenation IE: see
`binary_parts`; or, where the path carries only text (the simulator's HTTP API, the outbox), as
`TEXT_PREFIX` + base64 (every base64 character is in the GSM 7-bit basic set, so it is never
re-encoded on the way). The SMPP layer reassembles parts (smscore.concat, the LIS's mo_parts), so
the receiver always gets the whole frame; the LIS drops the UDH, port IE included, which is why a
frame is recognised by its version octet (binary) or its prefix (text), never by the port.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
DEVICE_ID_BYTES = 8
KEY_ID_BYTES = 4
COUNTER_BYTES = 8
_HEADER = struct.Struct(">B8s4sQ")
HEADER_BYTES = _HEADER.size  # 21
TAG_BYTES = 16
PUBLIC_KEY_BYTES = 32
TEXT_PREFIX = "#A1"  # a text-framed app message: the prefix, then the base64 of the frame
APP_PORT = 16561  # UDH destination and source port; 16000-16999: for applications (TS 23.040)
MAX_COUNTER = (1 << 63) - 1  # kept in a signed 64-bit column
_KEY_BYTES = 32
_NONCE_PAD = bytes(12 - COUNTER_BYTES)
_HKDF_SALT = b"smscore app channel v1"
_MAX_FRAME_BYTES = 255 * 128  # 255 concatenated 8-bit parts


class Direction(StrEnum):
    UP = "device->server"
    DOWN = "server->device"


class Kind(IntEnum):
    TEXT = 0  # a command (up) or a reply (down), UTF-8
    ERROR = 1  # down only: an ErrorCode, ASCII
    OFFLINE = 2  # up only: a signed offline transfer (daemon.security.offline)


class ErrorCode(StrEnum):
    """What an encrypted error reply says went wrong (the device shows its own text for each)."""

    TAMPERED = "tampered"
    REPLAYED = "replayed"
    STALE = "stale_counter"
    AHEAD = "counter_ahead"
    MALFORMED = "malformed"


class ChannelError(Exception):
    """An app message that cannot be accepted. `code` is what the answer says; never a key."""

    code = ErrorCode.MALFORMED


class Malformed(ChannelError):
    """Not a frame: too short, a wrong version, bad base64, an unknown kind, bad UTF-8."""


class UnknownDevice(ChannelError):
    """No device with this id (or not one of the sender's number)."""


class RevokedDevice(ChannelError):
    """The device was revoked (or its enrolment never finished)."""


class WrongKey(ChannelError):
    """The key id is not this device's: encrypted with another enrolment's (or server's) keys."""

    code = ErrorCode.TAMPERED


class Tampered(ChannelError):
    """The key id matches but the AEAD tag does not: the header or ciphertext was changed."""

    code = ErrorCode.TAMPERED


class Replayed(ChannelError):
    """A counter already accepted (inside the window)."""

    code = ErrorCode.REPLAYED


class StaleCounter(ChannelError):
    """A counter too far behind the highest accepted (below the window)."""

    code = ErrorCode.STALE


class CounterAhead(ChannelError):
    """A counter more than counter_max_ahead above the highest accepted: the device's counter
    jumped (a restored backup, a bug) or someone tries to push the window forward."""

    code = ErrorCode.AHEAD


@dataclass(frozen=True, slots=True)
class Header:
    device_id: bytes
    key_id: bytes
    counter: int

    def pack(self) -> bytes:
        return _HEADER.pack(VERSION, self.device_id, self.key_id, self.counter)


@dataclass(frozen=True, slots=True)
class Opened:
    header: Header
    kind: Kind
    body: bytes

    @property
    def text(self) -> str:
        """The text; a signed receipt's trailer after a NUL is not part of it (app_receipt)."""
        return self.body.partition(b"\x00")[0].decode("utf-8")


class SessionKeys:
    """The keys of one enrolled device, as either side holds them. Never printed."""

    __slots__ = ("_down", "_up", "device_id", "key_id")

    def __init__(self, shared_secret: bytes, device_id: bytes) -> None:
        self.device_id = device_id
        self._up = ChaCha20Poly1305(_derive(shared_secret, device_id, Direction.UP.value))
        self._down = ChaCha20Poly1305(_derive(shared_secret, device_id, Direction.DOWN.value))
        self.key_id = _derive(shared_secret, device_id, "key id")[:KEY_ID_BYTES]

    @classmethod
    def agree(cls, own: X25519PrivateKey, peer_public: bytes, device_id: bytes) -> SessionKeys:
        try:
            peer = X25519PublicKey.from_public_bytes(peer_public)
            return cls(own.exchange(peer), device_id)
        except ValueError:
            raise Malformed("not an X25519 public key") from None

    def __repr__(self) -> str:
        return f"SessionKeys(device_id={self.device_id.hex()})"

    def seal(self, direction: Direction, counter: int, kind: Kind, body: bytes) -> bytes:
        """The frame carrying (kind, body) with `counter`, from the side `direction` names."""
        if not 0 < counter <= MAX_COUNTER:
            raise ValueError(f"counter {counter} outside 1..{MAX_COUNTER}")
        header = Header(self.device_id, self.key_id, counter).pack()
        aead = self._up if direction is Direction.UP else self._down
        return header + aead.encrypt(_nonce(counter), bytes([kind]) + body, header)

    def open(self, direction: Direction, frame: bytes) -> Opened:
        """Check and decrypt a frame sent in `direction`. WrongKey, Tampered or Malformed."""
        header = parse_header(frame)
        if header.device_id != self.device_id or header.key_id != self.key_id:
            raise WrongKey("the frame was not sealed with this device's keys")
        aead = self._up if direction is Direction.UP else self._down
        try:
            plain = aead.decrypt(_nonce(header.counter), frame[HEADER_BYTES:], frame[:HEADER_BYTES])
        except InvalidTag:
            raise Tampered("the frame's tag does not verify") from None
        if not plain:
            raise Malformed("empty plaintext")
        try:
            kind = Kind(plain[0])
            opened = Opened(header, kind, plain[1:])
            if kind is not Kind.OFFLINE:
                opened.text  # noqa: B018 -- checked here, once, so readers never raise
        except (ValueError, UnicodeDecodeError):
            raise Malformed("unknown kind or undecodable body") from None
        return opened


def _derive(shared_secret: bytes, device_id: bytes, purpose: str) -> bytes:
    info = b"smscore app v1 " + purpose.encode("ascii") + b" " + device_id.hex().encode("ascii")
    return HKDF(hashes.SHA256(), _KEY_BYTES, _HKDF_SALT, info).derive(shared_secret)


def _nonce(counter: int) -> bytes:
    return _NONCE_PAD + counter.to_bytes(COUNTER_BYTES, "big")


def parse_header(frame: bytes) -> Header:
    if len(frame) < HEADER_BYTES + TAG_BYTES + 1:
        raise Malformed(f"a frame has at least {HEADER_BYTES + TAG_BYTES + 1} octets")
    version, device_id, key_id, counter = _HEADER.unpack_from(frame)
    if version != VERSION:
        raise Malformed(f"version {version}, not {VERSION}")
    if not 0 < counter <= MAX_COUNTER:
        raise Malformed("counter out of range")
    return Header(device_id, key_id, counter)


# --- framing on SMS ----------------------------------------------------------------------------


def is_binary_frame(payload: bytes) -> bool:
    """Whether 8-bit MO octets (UDH removed) look like a frame: the version octet, long enough."""
    return len(payload) >= HEADER_BYTES + TAG_BYTES + 1 and payload[0] == VERSION


def is_text_frame(text: str) -> bool:
    return text.startswith(TEXT_PREFIX)


def to_text(frame: bytes) -> str:
    return TEXT_PREFIX + base64.b64encode(frame).decode("ascii")


def from_text(text: str) -> bytes:
    """The frame in a text-framed message (spaces a phone or SMSC added are ignored)."""
    if not is_text_frame(text):
        raise Malformed("no app prefix")
    body = "".join(text[len(TEXT_PREFIX) :].split())
    try:
        frame = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("not base64") from None
    parse_header(frame)
    return frame


_PART_OCTETS = 140
_PORT_IE = struct.Struct(">BBHH")  # IEI 0x05, IEL 4, destination port, source port
_CONCAT_IE = struct.Struct(">BBBBB")  # IEI 0x00, IEL 3, reference, total, sequence


def binary_parts(frame: bytes, reference: int, port: int = APP_PORT) -> list[bytes]:
    """The short_message octets (UDH included: set esm_class UDHI, data_coding 4) of each SMS."""
    if len(frame) > _MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {len(frame)} octets does not fit in 255 parts")
    port_ie = _PORT_IE.pack(0x05, 4, port, port)
    single_room = _PART_OCTETS - 1 - len(port_ie)
    if len(frame) <= single_room:
        return [bytes([len(port_ie)]) + port_ie + frame]
    room = single_room - _CONCAT_IE.size
    chunks = [frame[i : i + room] for i in range(0, len(frame), room)]
    parts = []
    for sequence, chunk in enumerate(chunks, start=1):
        udh = port_ie + _CONCAT_IE.pack(0x00, 3, reference & 0xFF, len(chunks), sequence)
        parts.append(bytes([len(udh)]) + udh + chunk)
    return parts


def device_id_text(device_id: bytes) -> str:
    return device_id.hex()


def device_id_bytes(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise Malformed("a device id is 16 hex digits") from None
    if len(raw) != DEVICE_ID_BYTES:
        raise Malformed("a device id is 16 hex digits")
    return raw


# --- counters ----------------------------------------------------------------------------------

MAX_WINDOW = 62  # the seen-bits fit a signed 64-bit column


@dataclass(frozen=True, slots=True)
class CounterState:
    """The highest counter accepted from a device and which of the `window` below it were seen
    (bit i: highest - i; bit 0 is highest itself), as in IPsec's anti-replay window: SMS arrive
    out of order, so a counter a little below the highest is still accepted once."""

    highest: int = 0
    seen: int = 0

    def accept(self, counter: int, window: int, max_ahead: int) -> CounterState:
        """The state once `counter` is accepted; Replayed, StaleCounter or CounterAhead if not."""
        if counter > self.highest:
            if counter - self.highest > max_ahead:
                raise CounterAhead(f"counter {counter} is more than {max_ahead} ahead")
            shift = counter - self.highest
            seen = ((self.seen << shift) | 1) & ((1 << window) - 1) if shift < window else 1
            return CounterState(counter, seen)
        behind = self.highest - counter
        if behind >= window:
            raise StaleCounter(f"counter {counter} is {behind} behind the highest accepted")
        if self.seen >> behind & 1:
            raise Replayed(f"counter {counter} was already accepted")
        return CounterState(self.highest, self.seen | (1 << behind))
