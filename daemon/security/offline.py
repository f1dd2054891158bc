"""Offline transfers, the format both sides share: a transfer a device signs while it has no
network, delivered later (hours later, out of order, twice) as a Kind.OFFLINE app message; the
server's side is daemon.security.offline_inbox, the device's daemon.device.offline.

The signed payload (all integers big-endian, unsigned), `PAYLOAD_VERSION` first:

    version (1) | device id (8) | offline counter (8) | signed at, ns since the epoch (8)
    | valid for, s (4) | amount, minor units (8) | currency (3, ASCII upper case)
    | payee length (1) | payee MSISDN (international digits, 8..15)

then the Ed25519 signature (64) of `SIGNING_CONTEXT + payload` with the device's signing key (its
public half is `devices.signing_public_key`, sent at enrolment). The context is not sent: it keeps a
signature made for this purpose from ever verifying as anything else. The encoding is canonical:
every field has one width and one form, nothing may follow the signature, and `decode` refuses any
input that `encode` would not have produced, so a transfer has exactly one byte form to sign, to
digest and to compare on re-delivery.

`(device id, offline counter)` names a transfer for ever: the device counts up from 1 (its own
counter, not the channel's), and the server posts a counter at most once.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from daemon.security.channel import DEVICE_ID_BYTES, PUBLIC_KEY_BYTES

KEYWORD = "OFFLINE"  # the command a Kind.OFFLINE body becomes (command_text)
PAYLOAD_VERSION = 1
SIGNING_CONTEXT = b"smscore offline transfer v1\x00"
SIGNATURE_BYTES = 64
_FIXED = struct.Struct(">B8sQQIQ3sB")
MAX_U64 = (1 << 63) - 1  # kept in signed 64-bit columns
MAX_VALID_FOR_S = (1 << 32) - 1
_PAYEE = re.compile(rb"[1-9][0-9]{7,14}")
_CURRENCY = re.compile(rb"[A-Z]{3}")


class OfflineFormatError(ValueError):
    """Bytes that are not one canonical signed transfer (short, long, a bad field)."""


class ForgedSignature(Exception):
    """The signature does not verify with the device's signing key (forged, truncated, changed)."""


@dataclass(frozen=True, slots=True)
class OfflineTransfer:
    """What the payer's device signed. `device_id` is the 16 hex digits of the channel's header."""

    device_id: str
    counter: int
    signed_at_ns: int
    valid_for_s: int
    amount_minor: int
    currency: str
    payee_msisdn: str

    def __post_init__(self) -> None:
        checks = {
            "device id": len(self.device_id) == 2 * DEVICE_ID_BYTES
            and all(c in "0123456789abcdef" for c in self.device_id),
            "counter": 0 < self.counter <= MAX_U64,
            "signed at": 0 <= self.signed_at_ns <= MAX_U64,
            "validity": 0 < self.valid_for_s <= MAX_VALID_FOR_S,
            "amount": 0 < self.amount_minor <= MAX_U64,
            "currency": _CURRENCY.fullmatch(self.currency.encode("ascii", "replace")) is not None,
            "payee": _PAYEE.fullmatch(self.payee_msisdn.encode("ascii", "replace")) is not None,
        }
        wrong = [name for name, ok in checks.items() if not ok]
        if wrong:
            raise OfflineFormatError(f"offline transfer: bad {', '.join(wrong)}")

    def payload(self) -> bytes:
        payee = self.payee_msisdn.encode("ascii")
        fixed = _FIXED.pack(
            PAYLOAD_VERSION,
            bytes.fromhex(self.device_id),
            self.counter,
            self.signed_at_ns,
            self.valid_for_s,
            self.amount_minor,
            self.currency.encode("ascii"),
            len(payee),
        )
        return fixed + payee

    @property
    def expires_at_ns(self) -> int:
        return self.signed_at_ns + self.valid_for_s * 1_000_000_000


@dataclass(frozen=True, slots=True)
class SignedTransfer:
    transfer: OfflineTransfer
    signature: bytes

    def encode(self) -> bytes:
        """The Kind.OFFLINE body: payload then signature."""
        return self.transfer.payload() + self.signature

    @property
    def digest(self) -> bytes:
        """SHA-256 of the payload: what a re-delivery is compared by (the signature is not in
        it, so a second valid signature of the same payload is the same transfer)."""
        return hashlib.sha256(self.transfer.payload()).digest()

    def verify(self, signing_public_key: bytes) -> None:
        """ForgedSignature unless the signature is the device's over this exact payload."""
        if len(signing_public_key) != PUBLIC_KEY_BYTES:
            raise ForgedSignature("the device has no usable signing key")
        key = Ed25519PublicKey.from_public_bytes(signing_public_key)
        try:
            key.verify(self.signature, SIGNING_CONTEXT + self.transfer.payload())
        except InvalidSignature:
            raise ForgedSignature("the offline transfer's signature does not verify") from None


def sign(transfer: OfflineTransfer, key: Ed25519PrivateKey) -> SignedTransfer:
    return SignedTransfer(transfer, key.sign(SIGNING_CONTEXT + transfer.payload()))


def decode(body: bytes) -> SignedTransfer:
    """The signed transfer in a Kind.OFFLINE body; OfflineFormatError if it is not exactly one.
    A truncated signature is a format error too (answered as a forgery by the server)."""
    if len(body) < _FIXED.size + SIGNATURE_BYTES:
        raise OfflineFormatError("offline transfer: too short")
    version, device_id, counter, signed_at, valid_for, amount, currency, payee_len = (
        _FIXED.unpack_from(body)
    )
    if version != PAYLOAD_VERSION:
        raise OfflineFormatError(f"offline transfer: version {version}, not {PAYLOAD_VERSION}")
    end = _FIXED.size + payee_len
    if len(body) != end + SIGNATURE_BYTES:
        raise OfflineFormatError("offline transfer: wrong length for its payee")
    payee = body[_FIXED.size : end]
    if _PAYEE.fullmatch(payee) is None or _CURRENCY.fullmatch(currency) is None:
        raise OfflineFormatError("offline transfer: bad payee or currency")
    transfer = OfflineTransfer(
        device_id.hex(),
        counter,
        signed_at,
        valid_for,
        amount,
        currency.decode("ascii"),
        payee.decode("ascii"),
    )
    return SignedTransfer(transfer, body[end:])


def command_text(body: bytes) -> str:
    """What the TranProc's registry reads for a Kind.OFFLINE body: `OFFLINE <base64>`."""
    return f"{KEYWORD} {base64.b64encode(body).decode('ascii')}"
