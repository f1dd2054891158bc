"""ENROL <keys> <PIN> [code]: a phone app (or `smscore device`) enrols for the app channel.

<keys> is the base64 of the device's X25519 public key then its Ed25519 signing key (64 octets,
88 characters). The PIN (checked by the TranProc like any PIN command) confirms the first device
of a number; a further device also needs the one-time code the first ENROL sends by SMS to the
number (daemon.security.otp_codes), so a spoofed sender who knows a PIN cannot add one. The reply
ends with `#E1:<device id>:<server public key, base64>`, the part the app reads.
"""

from __future__ import annotations

import base64
import binascii

from daemon.commands.context import CommandContext, Reply
from daemon.commands.errors import ArgValueError
from daemon.commands.registry import REGISTERED, Arg, Args, Registry
from daemon.commands.types import PIN, ArgType, ParseEnv, PinType
from daemon.security.app_key import server_key
from daemon.security.channel import PUBLIC_KEY_BYTES
from daemon.security.devices import (
    Device,
    DeviceState,
    activate_device_txn,
    create_device_txn,
    has_active_device_txn,
    pending_device_txn,
)
from daemon.security.offline_inbox import register_offline_commands
from daemon.security.otp_codes import (
    OtpLocked,
    OtpOutcome,
    OtpPolicy,
    OtpPurpose,
    check_otp_txn,
    issue_otp_txn,
)
from daemon.security.receipt_key_command import register_receipt_key_command

ENROLLED_TOKEN = "#E1"  # in the reply: #E1:<device id>:<server key b64>
_KEYS_CHARS = 88


class DeviceKeysType(ArgType):
    """The device's two public keys, base64 (case matters: the text is not upper-cased)."""

    label = "arg_device_keys"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[object, int]:
        word = words[pos]
        try:
            raw = base64.b64decode(word, validate=True) if len(word) == _KEYS_CHARS else b""
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 2 * PUBLIC_KEY_BYTES:
            raise ArgValueError("device_keys_format")
        return (raw[:PUBLIC_KEY_BYTES], raw[PUBLIC_KEY_BYTES:]), pos + 1


DEVICE_KEYS = DeviceKeysType()
OTP_CODE = PinType(verifies_pin=False, label="arg_code")  # secret: masked when stored


def enrolled_token(device: Device, server_public: bytes) -> str:
    return f"{ENROLLED_TOKEN}:{device.device_id}:{base64.b64encode(server_public).decode()}"


def register_device_commands(registry: Registry) -> Registry:
    @registry.command(
        "ENROL",
        args=[
            Arg("device_keys", DEVICE_KEYS),
            Arg("pin", PIN),
            Arg("code", OTP_CODE, optional=True),
        ],
        aliases=["ENROLL"],
        roles=REGISTERED,
        example="ENROL <keys> 1234",
        side_effects=True,
        listed=False,
    )
    def enrol(ctx: CommandContext, args: Args) -> Reply:
        return enrol_device(ctx, *args.device_keys, args.get("code"))

    return register_receipt_key_command(register_offline_commands(registry))


def enrol_device(
    ctx: CommandContext, channel_key: bytes, signing_key: bytes, code: str | None
) -> Reply:
    conn, msisdn = ctx.conn, ctx.sender
    if not has_active_device_txn(conn, msisdn):
        device = create_device_txn(
            conn, msisdn, channel_key, signing_key, DeviceState.ACTIVE, ctx.now_ns
        )
        return _enrolled(ctx, device)
    policy = OtpPolicy.from_config(ctx.config.security)
    assert ctx.hasher is not None
    pending = pending_device_txn(conn, msisdn, channel_key)
    if code is None:
        if pending is None:
            create_device_txn(
                conn, msisdn, channel_key, signing_key, DeviceState.PENDING, ctx.now_ns
            )
        try:
            otp = issue_otp_txn(conn, ctx.hasher, msisdn, OtpPurpose.ENROL, policy, ctx.now_ns)
        except OtpLocked:
            return ctx.reply("device_code_locked")
        return Reply(ctx.text("device_code_sent", code=otp), holds_code=True)
    if pending is None:
        return ctx.reply("device_code_unasked")
    check = check_otp_txn(conn, ctx.hasher, msisdn, OtpPurpose.ENROL, code, policy, ctx.now_ns)
    if check.outcome is OtpOutcome.OK:
        return _enrolled(ctx, activate_device_txn(conn, pending, ctx.now_ns))
    if check.outcome is OtpOutcome.WRONG:
        return ctx.reply("device_code_wrong", remaining=check.remaining)
    if check.outcome is OtpOutcome.LOCKED:
        return ctx.reply("device_code_locked")
    return ctx.reply("device_code_unasked")


def _enrolled(ctx: CommandContext, device: Device) -> Reply:
    token = enrolled_token(device, server_key(ctx.config).public_bytes)
    return ctx.reply("device_enrolled", token=token)
