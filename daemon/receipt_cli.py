"""`smscore receipt verify|keys`: check a confirmation SMS is genuine, and list, rotate or revoke the
keys that sign them (daemon.security.receipts). Rotation and revocation are audited.

`verify` needs only the key directory (no database): give what the SMS shows, the reference, the
amount, both parties' numbers (or a biller's `CODE ACCOUNT` for a bill), its time, and its tag.
Exit code 0: genuine; 1: forged or signed by a revoked key; 2: the input or the keys are unusable.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from daemon.admin.env import AdminCliError, AdminEnv, admin_options, now_ns, parse_amount
from daemon.admin.views import console
from daemon.audit import record_txn
from daemon.clock import NS_PER_S
from daemon.commands.msisdn import MsisdnError, Numbering, normalize_msisdn
from daemon.config import Config
from daemon.money.moves import MoveState, find_move_by_ref_txn
from daemon.money.notices import local_time
from daemon.security.receipt_keys import (
    Keyring,
    ReceiptKey,
    ReceiptKeyError,
    load_keyring,
    parse_serial,
    revoke_key,
)
from daemon.security.receipt_keys import rotate_keyring as rotate_keys
from daemon.security.receipts import (
    NS_PER_MINUTE,
    ReceiptFields,
    Verdict,
    verify_signature,
    verify_tag,
)
from daemon.security.signing import key_directory

_SMS_TIME = "%d/%m/%y %H:%M"  # as a confirmation shows it: 30/12/26 23:59


def _keyring(config: Config) -> Keyring:
    try:
        return load_keyring(key_directory(config))
    except ReceiptKeyError as exc:
        raise AdminCliError(str(exc)) from None


def parse_time_ns(written: str, timezone: str) -> int:
    """`30/12/26 23:59` (as the SMS shows it, service time) or ISO 8601; AdminCliError else."""
    text = " ".join(written.split())
    try:
        moment = datetime.strptime(text, _SMS_TIME)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise AdminCliError(
                f"--time {written!r}: not a time like 30/12/26 23:59 or 2026-12-30T23:59"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return int(moment.timestamp()) * NS_PER_S


def parse_party(written: str, config: Config) -> str:
    """A phone number as its MSISDN; anything else (a biller and account) as written."""
    if not written.strip():
        return ""
    try:
        return normalize_msisdn(written, Numbering(config.service.region))
    except MsisdnError:
        return written


@click.group("receipt")
def receipt() -> None:
    """Signed confirmations: check one (verify), and the keys that sign them (keys)."""


@receipt.command("verify")
@click.option("--ref", required=True, help="The reference, e.g. QK7A2B9XYZ.")
@click.option("--amount", required=True, help="The amount, e.g. 1,500 or KES 1,500.00.")
@click.option("--payer", default="", help="Who paid: a phone number (empty: none, e.g. staff).")
@click.option("--payee", default="", help="Who was paid: a phone number, or a bill's CODE ACCOUNT.")
@click.option("--time", "written_time", required=True, help="As the SMS shows it: 30/12/26 23:59.")
@click.option(
    "--within-min",
    type=click.IntRange(0, 60),
    default=0,
    help="Also try this many minutes either side (an SMS that shows no time: its arrival).",
)
@click.option("--tag", help="The SMS's tag: Sig K3-7QX3M2A.")
@click.option("--signature", help="An app receipt's signature (base64), with --serial.")
@click.option("--serial", help="The app receipt's key serial, e.g. K3.")
@admin_options(audited=False)
def verify(env: AdminEnv, ref: str, amount: str, payer: str, payee: str, written_time: str,
           within_min: int, tag: str | None, signature: str | None, serial: str | None) -> None:  # fmt: skip
    """Is a confirmation genuine? Exit 0 if so, 1 if forged or signed by a revoked key."""
    if (tag is None) == (signature is None) or (signature is not None and serial is None):
        raise AdminCliError("give --tag, or --signature with --serial")
    config = env.config
    at_ns = parse_time_ns(written_time, config.money.timezone)
    fields = ReceiptFields.at(
        ref, parse_amount(amount, "--amount"), config.service.currency,
        parse_party(payer, config), parse_party(payee, config), at_ns,
    )  # fmt: skip
    keyring = _keyring(config)
    verdict = Verdict.FORGED
    for offset in sorted(range(-within_min, within_min + 1), key=abs):
        moved = ReceiptFields.at(*_values(fields), at_ns + offset * NS_PER_MINUTE)
        verdict = _check(keyring, moved, tag, signature, serial)
        if verdict is not Verdict.FORGED:
            break
    shown_ref = ref.strip().upper()
    ended = _ended_state(env, shown_ref) if verdict is Verdict.GENUINE else None
    if ended is not None:
        click.echo(
            f"{shown_ref}: genuine signature, but the payment did not happen ({ended.value}):"
            " nothing moved"
        )
        raise SystemExit(1)
    click.echo(f"{shown_ref}: {verdict.value}")
    if verdict is not Verdict.GENUINE:
        raise SystemExit(1)


def _ended_state(env: AdminEnv, ref: str) -> MoveState | None:
    """The state of the move behind a genuine tag if it ended without moving money: a tag is made
    with the confirmation, and a move pending on its delivery may be voided after it was read."""
    try:
        move = env.run(lambda conn: find_move_by_ref_txn(conn, ref), write=False)
    except AdminCliError:  # no database here (a merchant's copy): the signature is the answer
        return None
    if move is None or move.state.open or move.state is MoveState.POSTED:
        return None  # a ref from another database, still pending, or posted
    return move.state


def _values(fields: ReceiptFields) -> tuple[str, int, str, str, str]:
    return fields.ref, fields.amount_minor, fields.currency, fields.payer, fields.payee


def _check(keyring: Keyring, fields: ReceiptFields, tag: str | None, signature: str | None,
           serial: str | None) -> Verdict:  # fmt: skip
    if tag is not None:
        return verify_tag(keyring, fields, tag)
    assert signature is not None and serial is not None
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return Verdict.FORGED
    return verify_signature(keyring, fields, serial.strip().upper(), raw)


@receipt.group("keys")
def keys() -> None:
    """The signing keys: the newest not revoked signs; the others still verify."""


@keys.command("list")
@admin_options(audited=False)
def list_keys(env: AdminEnv) -> None:
    """Every key's serial, state, tag length, age and Ed25519 public key (never a secret)."""
    keyring = _keyring(env.config)
    table = Table("serial", "state", "tag chars", "made", "public key (base64)")
    active = keyring.active.number if any(not k.revoked for k in keyring.keys.values()) else None
    for key in sorted(keyring.keys.values(), key=lambda k: k.number):
        state = "revoked" if key.revoked else "signs" if key.number == active else "verifies"
        made = local_time(key.created_at_ns, env.config.money.timezone)
        public = base64.b64encode(key.public_key()).decode("ascii")
        table.add_row(key.serial, state, str(key.tag_chars), made, public)
    console().print(table)


@keys.command("rotate")
@admin_options()
def rotate(env: AdminEnv) -> None:
    """Make a new key that signs from now on; receipts of the old ones still verify."""
    directory = key_directory(env.config)
    at_ns = now_ns()

    def work(conn) -> str:
        serial = f"K{max(_keyring(env.config).keys, default=0) + 1}"
        record_txn(conn, env.actor, "receipt_key.rotate", serial, str(directory), at_ns)
        try:
            return rotate_keys(directory, env.config.receipts.tag_chars, at_ns).serial
        except ReceiptKeyError as exc:
            raise AdminCliError(str(exc)) from None

    click.echo(f"{env.run(work)} signs from now on")


@keys.command("revoke")
@click.argument("serial")
@admin_options()
def revoke(serial: str, env: AdminEnv) -> None:
    """Revoke a key: its receipts no longer verify, and devices drop it when they next ask (RKEY).

    Revoking the key that signs now first makes a new one (audited as its own rotation, then the
    revocation), so confirmations go on being signed.
    """
    directory = key_directory(env.config)
    at_ns = now_ns()
    keyring = _keyring(env.config)
    key = _revocable(keyring, serial)
    signing = keyring.active.number == key.number

    def work(conn):
        if signing:
            made = f"K{max(keyring.keys) + 1}"
            detail = f"{directory}: replaces {key.serial}, revoked"
            record_txn(conn, env.actor, "receipt_key.rotate", made, detail, at_ns)
        record_txn(conn, env.actor, "receipt_key.revoke", key.serial, "", at_ns)
        try:
            return revoke_key(directory, key.serial, env.config.receipts.tag_chars, at_ns)
        except ReceiptKeyError as exc:
            raise AdminCliError(str(exc)) from None

    replacement = env.run(work)
    if replacement is not None:
        click.echo(f"{key.serial} was signing: made {replacement.serial}, which signs from now on")
    click.echo(f"{key.serial} revoked")


def _revocable(keyring: Keyring, serial: str) -> ReceiptKey:
    try:
        number = parse_serial(serial)
    except ReceiptKeyError as exc:
        raise AdminCliError(str(exc)) from None
    key = keyring.keys.get(number)
    if key is None:
        raise AdminCliError(f"K{number}: no such receipt key in {keyring.directory}")
    if key.revoked:
        raise AdminCliError(f"{key.serial} is revoked already")
    return key
