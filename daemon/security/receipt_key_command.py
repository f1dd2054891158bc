"""RKEY [serial]: the app asks for the public half of a receipt key (the signing key's when no
serial is given), to check the Ed25519 signatures of its encrypted confirmations
(daemon.security.app_receipt), and learns which serials are revoked.

The device sends it over the encrypted channel when it enrols, whenever a confirmation names a
serial it does not know (after `smscore receipt keys rotate`), and when asked to refresh
(`smscore device keys`): the channel's authentication is what makes the answer trustworthy to
the device, so one mechanism covers the first key, every rotated one and every revocation.

The reply's tokens (after the catalogue text, which is for people):
- `#R1:<serial>:<raw Ed25519 public key, base64>`: the key asked for (as before: a device made
  before revocations were reported reads this token alone).
- `#V1:<serials>`: every revoked serial, as ranges (`K1-K3,K5`), in every reply that has any.
  Revocation is forever (a marker file, daemon.security.receipt_keys), so a device keeps what it
  learns and drops those keys: their receipts are reported revoked from then on. Serials end at
  K99, so the list is at most 49 ranges (about 190 characters; the worst reply is a few SMS
  parts, within the channel's frame limit: tests/daemon/test_receipt_key_revocations.py).
A revoked serial asked for by name gets `receipt_key_revoked` with the list; one never made,
`receipt_key_unknown`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import REGISTERED, Arg, Args, Registry
from daemon.commands.types import WordType
from daemon.security.receipt_keys import (
    MAX_SERIAL,
    Keyring,
    ReceiptKey,
    ReceiptKeyError,
    parse_serial,
    serial_name,
)
from daemon.security.signing import current_keyring

KEYWORD = "RKEY"
TOKEN = "#R1"  # in the reply: #R1:<serial>:<public key b64>
REVOKED_TOKEN = "#V1"  # in the reply: #V1:K1-K3,K5 (the revoked serials)
_REVOKED = re.compile(r"#V1:(K[0-9]{1,2}(?:-K[0-9]{1,2})?(?:,K[0-9]{1,2}(?:-K[0-9]{1,2})?)*)")


class SerialType(WordType):
    label = "arg_serial"


def key_token(key: ReceiptKey) -> str:
    return f"{TOKEN}:{key.serial}:{base64.b64encode(key.public_key()).decode('ascii')}"


def revoked_token(numbers: Iterable[int]) -> str:
    """`#V1:K1-K3,K5` for serials 1, 2, 3 and 5; "" for none."""
    ranges: list[list[int]] = []
    for number in sorted(set(numbers)):
        if ranges and ranges[-1][1] == number - 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    spans = [
        serial_name(low) if low == high else f"{serial_name(low)}-{serial_name(high)}"
        for low, high in ranges
    ]
    return f"{REVOKED_TOKEN}:{','.join(spans)}" if spans else ""


def revoked_serials(text: str) -> set[str]:
    """The serials a reply's `#V1` token lists as revoked (none if it has no such token)."""
    found = _REVOKED.search(text)
    if found is None:
        return set()
    serials: set[str] = set()
    for span in found[1].split(","):
        low, _, high = span.partition("-")
        try:
            first, last = parse_serial(low), parse_serial(high or low)
        except ReceiptKeyError:
            continue
        serials.update(serial_name(n) for n in range(first, min(last, MAX_SERIAL) + 1))
    return serials


def _revoked_numbers(keyring: Keyring) -> list[int]:
    return [key.number for key in keyring.keys.values() if key.revoked]


def register_receipt_key_command(registry: Registry) -> Registry:
    @registry.command(
        KEYWORD,
        args=[Arg("serial", SerialType(), optional=True)],
        roles=REGISTERED,
        example="RKEY K2",
        listed=False,
    )
    def receipt_key(ctx: CommandContext, args: Args) -> Reply:
        keyring = current_keyring(ctx.config)
        if keyring is None:
            return ctx.reply("receipt_key_unknown")
        revoked = revoked_token(_revoked_numbers(keyring))
        serial = args.get("serial")
        key = _wanted_key(keyring, serial)
        if key is None and serial is not None and revoked:
            wanted = keyring.get(serial)
            if wanted is not None and wanted.revoked:
                return ctx.reply("receipt_key_revoked", serial=wanted.serial, token=revoked)
        if key is None:
            return ctx.reply("receipt_key_unknown")
        token = " ".join(filter(None, (key_token(key), revoked)))
        return ctx.reply("receipt_key", serial=key.serial, token=token)

    return registry


def _wanted_key(keyring: Keyring, serial: str | None) -> ReceiptKey | None:
    if serial is None:
        try:
            return keyring.active
        except ReceiptKeyError:
            return None
    key = keyring.get(serial)
    return None if key is None or key.revoked else key
