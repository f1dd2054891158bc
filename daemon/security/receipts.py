"""Signed confirmations: a receipt's reference, amount, parties and time, signed so a customer or a
merchant can tell a genuine confirmation SMS from a forged one.

What is signed (`canonical_bytes`): the ASCII label `smscore receipt v1`, then seven fields, each as a
2-byte big-endian length and its UTF-8 bytes: the key's serial (`K3`), the reference (upper case),
the amount in minor units (decimal digits), the currency (ISO 4217), the payer and the payee (an
MSISDN's digits, `254712345678`; a non-wallet party as the move's detail, e.g. `KPLC 12345678`,
spaces collapsed, upper case; "" for none), and the minute of the confirmation (UTC minutes since
1970, decimal: the time the SMS shows as "on 1/12/26 14:05", which is local time to the minute).
Length prefixes make the encoding unambiguous: no two field lists give the same bytes.

Two forms, both under the keys of one serial (daemon.security.receipt_keys):
- For app replies, an Ed25519 signature (64 bytes) over those bytes: `sign_receipt`, checked by
  the app with the serial's public key (`verify_signature`).
- For plain-text phones, a tag carried in the SMS as `Sig K3-7QX3M2A`: HMAC-SHA256 over the same
  bytes, its first bits written in base32 (A-Z, 2-7: GSM-7 letters and digits, no 0/1/8/9 to confuse
  with O/I/B), `tag_chars` characters long, 5 bits each. At the default 7 characters a forger who
  changes any field, or makes a receipt up, must guess 35 bits: one chance in 2^35 (3.4e10) per
  try. The key never leaves the server, so a guess can only be checked by asking us (`smscore
  receipt verify`, run by staff for a merchant): a million such checks still give odds of 3e-5. Six
  characters (30 bits, 1 in 1.1e9) is the least allowed; eight (40 bits) the most, as every
  confirmation must keep room for it in 160 characters. A shorter tag than the key's is refused,
  not compared on a prefix: truncating a tag does not make a weaker check.

A revoked serial's receipts are reported as revoked whatever their tag: its key may be in someone
else's hands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from daemon.clock import NS_PER_S
from daemon.security.receipt_keys import Keyring, ReceiptKey

LABEL = b"smscore receipt v1"
SIGNATURE_BYTES = 64
NS_PER_MINUTE = 60 * NS_PER_S
_CONFUSABLE = str.maketrans("018", "OIB")
_SERIAL = re.compile(r"K[1-9][0-9]?")
_TAG = re.compile(r"[A-Z2-7]{1,16}")


class Verdict(StrEnum):
    GENUINE = "genuine"
    FORGED = "forged"  # wrong tag or signature, wrong length, or a serial we never made
    REVOKED = "revoked key"


def _party(text: str) -> str:
    return " ".join(text.split()).upper()


@dataclass(frozen=True, slots=True)
class ReceiptFields:
    """What a confirmation's signature covers. `minute`: UTC minutes since 1970."""

    ref: str
    amount_minor: int
    currency: str
    payer: str
    payee: str
    minute: int

    @classmethod
    def at(
        cls, ref: str, amount_minor: int, currency: str, payer: str, payee: str, at_ns: int
    ) -> ReceiptFields:
        return cls(ref, amount_minor, currency, payer, payee, at_ns // NS_PER_MINUTE)

    def canonical_bytes(self, serial: str) -> bytes:
        values = (
            serial.upper(),
            self.ref.strip().upper(),
            str(self.amount_minor),
            self.currency.strip().upper(),
            _party(self.payer),
            _party(self.payee),
            str(self.minute),
        )
        out = bytearray(LABEL)
        for value in values:
            encoded = value.encode("utf-8")
            out += len(encoded).to_bytes(2, "big") + encoded
        return bytes(out)


def _mac(key: ReceiptKey, fields: ReceiptFields) -> str:
    digest = hmac.new(key.mac_key, fields.canonical_bytes(key.serial), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[: key.tag_chars]


def tag_with(key: ReceiptKey, fields: ReceiptFields) -> str:
    """`K3-7QX3M2A`: the serial and the truncated MAC, as the SMS carries it after "Sig "."""
    return f"{key.serial}-{_mac(key, fields)}"


def sign_with(key: ReceiptKey, fields: ReceiptFields) -> bytes:
    return key.signing_key.sign(fields.canonical_bytes(key.serial))


def sign_receipt_with(keyring: Keyring, fields: ReceiptFields) -> tuple[str, bytes]:
    """(serial, 64-byte Ed25519 signature) by the keyring's signing key."""
    key = keyring.active
    return key.serial, sign_with(key, fields)


def parse_tag(written: str) -> tuple[str, str] | None:
    """(serial, tag) of `Sig K3-7QX3M2A`, `k3-7qx3m2a`, `K3 - 7QX3M2A`...; None if it is not shaped
    like one. In the tag, 0, 1 and 8 are read as O, I and B (base32 has no such digits)."""
    text = "".join(written.upper().split()).removeprefix("SIG")
    serial, dash, tag = text.partition("-")
    tag = tag.translate(_CONFUSABLE)
    if not dash or not _SERIAL.fullmatch(serial) or not _TAG.fullmatch(tag):
        return None
    return serial, tag


def verify_tag(keyring: Keyring, fields: ReceiptFields, written: str) -> Verdict:
    parsed = parse_tag(written)
    if parsed is None:
        return Verdict.FORGED
    serial, tag = parsed
    key = keyring.get(serial)
    if key is None:
        return Verdict.FORGED
    if key.revoked:
        return Verdict.REVOKED
    if len(tag) != key.tag_chars:
        return Verdict.FORGED
    return Verdict.GENUINE if hmac.compare_digest(_mac(key, fields), tag) else Verdict.FORGED


def verify_signature(
    keyring: Keyring, fields: ReceiptFields, serial: str, signature: bytes
) -> Verdict:
    """The server's check of an app receipt; the app itself uses `verify_with_public_key`."""
    key = keyring.get(serial)
    if key is None:
        return Verdict.FORGED
    if key.revoked:
        return Verdict.REVOKED
    return verify_with_public_key(key.public_key(), fields, key.serial, signature)


def verify_with_public_key(
    public_key: bytes, fields: ReceiptFields, serial: str, signature: bytes
) -> Verdict:
    """GENUINE or FORGED: the check a device makes with the serial's shipped public key (its own
    list of revoked serials is its business)."""
    if len(signature) != SIGNATURE_BYTES or len(public_key) != 32:
        return Verdict.FORGED
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, fields.canonical_bytes(serial)
        )
    except InvalidSignature:
        return Verdict.FORGED
    return Verdict.GENUINE
