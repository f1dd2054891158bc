"""RKEY [serial]: the app asks for the public half of a receipt key (the signing key's when no
serial is given), to check the Ed25519 signatures of its encrypted confirmations
(daemon.security.app_receipt).

The device sends it over the encrypted channel when it enrols and whenever a confirmation names a
serial it does not know (after `smscore receipt keys rotate`): the channel's authentication is
what makes the answer trustworthy to the device, so one mechanism covers the first key and every
rotated one. The reply ends with `#R1:<serial>:<raw Ed25519 public key, base64>`. A revoked serial,
or one never made, is answered as unknown: its receipts no longer verify.
"""

from __future__ import annotations

import base64

from daemon.commands.context import CommandContext, Reply
from daemon.commands.registry import REGISTERED, Arg, Args, Registry
from daemon.commands.types import WordType
from daemon.security.receipt_keys import ReceiptKey, ReceiptKeyError
from daemon.security.signing import current_keyring

KEYWORD = "RKEY"
TOKEN = "#R1"  # in the reply: #R1:<serial>:<public key b64>


class SerialType(WordType):
    label = "arg_serial"


def key_token(key: ReceiptKey) -> str:
    return f"{TOKEN}:{key.serial}:{base64.b64encode(key.public_key()).decode('ascii')}"


def register_receipt_key_command(registry: Registry) -> Registry:
    @registry.command(
        KEYWORD,
        args=[Arg("serial", SerialType(), optional=True)],
        roles=REGISTERED,
        example="RKEY K2",
    )
    def receipt_key(ctx: CommandContext, args: Args) -> Reply:
        key = _wanted_key(ctx, args.get("serial"))
        if key is None:
            return ctx.reply("receipt_key_unknown")
        return ctx.reply("receipt_key", serial=key.serial, token=key_token(key))

    return registry


def _wanted_key(ctx: CommandContext, serial: str | None) -> ReceiptKey | None:
    keyring = current_keyring(ctx.config)
    if keyring is None:
        return None
    if serial is None:
        try:
            return keyring.active
        except ReceiptKeyError:
            return None
    key = keyring.get(serial)
    return None if key is None or key.revoked else key
