"""The device's check of a signed confirmation (daemon.security.app_receipt): the Ed25519 signature
over the receipt's fields, with the public key of the serial it names.

The device keeps the public keys it has been given (serial -> raw key, in its file) and the serials
it was told are revoked. It asks over the encrypted channel (RKEY [serial],
daemon.security.receipt_key_command) when it enrols, when a confirmation names a serial it knows
nothing of (as after a rotation), when it knows no key at all, and on `smscore device keys`; the
answer is trusted because the channel authenticates the server. Every answer lists the revoked
serials (`#V1`): the device drops those keys, and a receipt under one is reported revoked, never
genuine, from then on, including the receipts it kept (`kept`). A serial the server gives no key
for is unchecked: the receipt could not be checked, which is not the same as forged.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from daemon.device.state import DeviceFileError, DeviceState
from daemon.security.app_receipt import SignedReceipt, encode_body, split_body
from daemon.security.receipt_key_command import revoked_serials
from daemon.security.receipts import Verdict, verify_with_public_key

_KEY_TOKEN = re.compile(r"#R1:(K[1-9][0-9]?):([A-Za-z0-9+/=]{44})")
_SMS_TAG = re.compile(r"\bSig K[1-9][0-9]?-[A-Z2-7]+")  # the plain-text form of a receipt
KEPT_RECEIPTS = 100  # the newest kept in the device file (a phone app's history)


class Status(StrEnum):
    GENUINE = "genuine"
    INVALID = "invalid"  # the signature does not check: not genuine
    REVOKED = "revoked"  # signed by a key the server revoked: not genuine
    UNCHECKED = "unchecked"  # no key for its serial: could not be checked


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    status: Status
    serial: str

    @property
    def genuine(self) -> bool:
        return self.status is Status.GENUINE

    @property
    def shown(self) -> str:
        return {
            Status.GENUINE: f"signature OK ({self.serial})",
            Status.INVALID: f"signature INVALID ({self.serial})",
            Status.REVOKED: f"revoked key {self.serial}",
            Status.UNCHECKED: f"no key {self.serial}",
        }[self.status]


def key_from_reply(text: str) -> tuple[str, bytes] | None:
    """(serial, public key) in an RKEY reply; None if it gives none."""
    found = _KEY_TOKEN.search(text)
    if found is None:
        return None
    raw = base64.b64decode(found[2])
    return (found[1], raw) if len(raw) == 32 else None


def learn_keys(state: DeviceState, text: str) -> str | None:
    """Keep what an RKEY reply says: the revoked serials (their keys dropped) and the key it gives;
    that key's serial, or None if it gives none (save the state afterwards)."""
    revoked = revoked_serials(text)
    state.revoked_keys |= revoked
    for serial in revoked:
        state.receipt_keys.pop(serial, None)
    found = key_from_reply(text)
    if found is None or found[0] in state.revoked_keys:
        return None
    state.receipt_keys[found[0]] = found[1]
    return found[0]


def check_receipt(
    state: DeviceState, receipt: SignedReceipt, fetch: Callable[[str], object]
) -> ReceiptCheck:
    """Check `receipt` with its serial's key; `fetch(serial)` (RKEY, learnt with `learn_keys`)
    first when the device knows nothing of that serial."""
    serial = receipt.serial.upper()
    if serial not in state.receipt_keys and serial not in state.revoked_keys:
        fetch(serial)
    if serial in state.revoked_keys:
        return ReceiptCheck(Status.REVOKED, serial)
    public_key = state.receipt_keys.get(serial)
    if public_key is None:
        return ReceiptCheck(Status.UNCHECKED, serial)
    verdict = verify_with_public_key(public_key, receipt.fields, serial, receipt.signature)
    return ReceiptCheck(Status.GENUINE if verdict is Verdict.GENUINE else Status.INVALID, serial)


def looks_like_confirmation(text: str) -> bool:
    """The text carries the SMS's receipt tag (`Sig K1-F56BJHV`): a confirmation of money moved."""
    return _SMS_TAG.search(text) is not None


def keep(state: DeviceState, receipt: SignedReceipt) -> None:
    """Keep a received receipt (its own framing, base64), the newest KEPT_RECEIPTS."""
    state.receipts.append({"receipt": base64.b64encode(encode_body("", receipt)).decode("ascii")})
    del state.receipts[:-KEPT_RECEIPTS]


def kept(state: DeviceState) -> list[SignedReceipt]:
    """The kept receipts, oldest first; DeviceFileError if one is damaged."""
    found = []
    for number, entry in enumerate(state.receipts, 1):
        try:
            _, receipt = split_body(base64.b64decode(str(entry["receipt"]), validate=True))
        except (KeyError, TypeError, ValueError):
            receipt = None
        if receipt is None:
            raise DeviceFileError(f"the device file's kept receipt {number} is damaged")
        found.append(receipt)
    return found
