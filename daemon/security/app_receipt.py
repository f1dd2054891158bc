"""A signed receipt inside an encrypted reply: the app's form of the SMS's `Sig K3-7QX3M2A` tag.

The body of an encrypted reply (daemon.security.app_inbox.reply_body) is the reply's UTF-8 text
and, for a money confirmation only, one NUL octet (never in a catalogue text) then the trailer:

    version          1 octet, 1
    serial           1 octet length, ASCII (`K3`)
    signature        64 octets: Ed25519 over ReceiptFields.canonical_bytes(serial)
    six fields       each a 2-octet big-endian length and UTF-8: ref, amount_minor (decimal),
                     currency, payer, payee, minute (UTC minutes since 1970, decimal)

The signature covers exactly what the SMS tag's MAC covers (daemon.security.receipts), signed by
the same serial's Ed25519 key. The fields travel with it because the text is localised and not
meant to be parsed back; the device shows them and checks the signature with the serial's public
key, which it asks for over the encrypted channel (RKEY, daemon.security.receipt_key_command).
A reply with no trailer is not a receipt: it says nothing about money having moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.config import Config
from daemon.security.receipts import SIGNATURE_BYTES, ReceiptFields
from daemon.security.signing import sign_receipt

SEPARATOR = b"\x00"
VERSION = 1


class ReceiptFrameError(ValueError):
    """A reply body's trailer is not a signed receipt (cut short, wrong version, bad numbers)."""


@dataclass(frozen=True, slots=True)
class SignedReceipt:
    serial: str
    signature: bytes
    fields: ReceiptFields


def signed_receipt(config: Config, fields: ReceiptFields | None) -> SignedReceipt | None:
    """The receipt for `fields`, signed by this process's signing key; None if nothing signs."""
    if fields is None:
        return None
    signed = sign_receipt(config, fields)
    return None if signed is None else SignedReceipt(signed[0], signed[1], fields)


def _values(fields: ReceiptFields) -> tuple[str, ...]:
    return (
        fields.ref,
        str(fields.amount_minor),
        fields.currency,
        fields.payer,
        fields.payee,
        str(fields.minute),
    )


def encode_body(text: str, receipt: SignedReceipt | None) -> bytes:
    body = text.encode("utf-8")
    if receipt is None:
        return body
    serial = receipt.serial.encode("ascii")
    out = bytearray(body + SEPARATOR + bytes([VERSION, len(serial)]) + serial + receipt.signature)
    for value in _values(receipt.fields):
        encoded = value.encode("utf-8")
        out += len(encoded).to_bytes(2, "big") + encoded
    return bytes(out)


def split_body(body: bytes) -> tuple[str, SignedReceipt | None]:
    """The text of a reply body and its receipt (None: not a confirmation); ReceiptFrameError if
    the trailer is malformed, UnicodeDecodeError if the text is not UTF-8."""
    text, separator, trailer = body.partition(SEPARATOR)
    if not separator:
        return text.decode("utf-8"), None
    return text.decode("utf-8"), _read_trailer(trailer)


def _read_trailer(trailer: bytes) -> SignedReceipt:
    if len(trailer) < 2 or trailer[0] != VERSION:
        raise ReceiptFrameError("not a version 1 receipt")
    end = 2 + trailer[1]
    serial, signature = trailer[2:end], trailer[end : end + SIGNATURE_BYTES]
    pos, values = end + SIGNATURE_BYTES, []
    for _ in range(6):
        size = int.from_bytes(trailer[pos : pos + 2], "big")
        value = trailer[pos + 2 : pos + 2 + size]
        if len(value) != size or pos + 2 > len(trailer):
            raise ReceiptFrameError("the receipt is cut short")
        values.append(value)
        pos += 2 + size
    if pos != len(trailer) or len(signature) != SIGNATURE_BYTES:
        raise ReceiptFrameError("the receipt has the wrong length")
    try:
        ref, amount, currency, payer, payee, minute = (value.decode("utf-8") for value in values)
        fields = ReceiptFields(ref, int(amount), currency, payer, payee, int(minute))
        return SignedReceipt(serial.decode("ascii"), signature, fields)
    except (UnicodeDecodeError, ValueError):
        raise ReceiptFrameError("the receipt's fields are not text and numbers") from None
