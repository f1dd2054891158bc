"""The device's check of a signed confirmation (daemon.security.app_receipt): the Ed25519 signature
over the receipt's fields, with the public key of the serial it names.

The device keeps the public keys it has been given (serial -> raw key, in its file). It asks for
one over the encrypted channel (RKEY <serial>, daemon.security.receipt_key_command) when it
enrols and when a confirmation names a serial it does not know yet, as after a rotation; the
answer is trusted because the channel authenticates the server. A serial the server does not
give (revoked, never made) is an unknown key and the confirmation is refused.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

from daemon.security.app_receipt import SignedReceipt
from daemon.security.receipts import Verdict, verify_with_public_key

_KEY_TOKEN = re.compile(r"#R1:(K[1-9][0-9]?):([A-Za-z0-9+/=]{44})")


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    genuine: bool
    shown: str  # "signature OK (K1)", "signature INVALID", "unknown key K3"


def key_from_reply(text: str) -> tuple[str, bytes] | None:
    """(serial, public key) in an RKEY reply; None if it gives none."""
    found = _KEY_TOKEN.search(text)
    if found is None:
        return None
    raw = base64.b64decode(found[2])
    return (found[1], raw) if len(raw) == 32 else None


def check_receipt(
    known: dict[str, bytes], receipt: SignedReceipt, fetch: Callable[[str], bytes | None]
) -> ReceiptCheck:
    """Check `receipt` with the serial's key from `known`, else from `fetch(serial)` (which the
    caller stores in `known`)."""
    serial = receipt.serial.upper()
    public_key = known.get(serial) or fetch(serial)
    if public_key is None:
        return ReceiptCheck(False, f"unknown key {serial}")
    verdict = verify_with_public_key(public_key, receipt.fields, serial, receipt.signature)
    if verdict is Verdict.GENUINE:
        return ReceiptCheck(True, f"signature OK ({serial})")
    return ReceiptCheck(False, "signature INVALID")
