"""MENU [version]: the app downloads the menu USSD shows, so a phone app and USSD offer the same
services (M-Pesa's downloadable menus). App channel only: the encrypted channel tells the server
which device asks, and the answer is signed so the device can tell it came from us.

The reply ends with a token (one encrypted app reply, its parts reassembled by the SMPP layer; the
shipped menu is 1.3 KB compressed: about 17 SMS parts once encrypted, inside the channel's 255):

    #M1:<version>:<serial>:<Ed25519 signature, base64>:<zlib of the document as JSON, base64>

The signature, by the receipt key of `serial` (daemon.security.signing; the device has its public
half from RKEY), covers `smscore menu v1`, the version and the serial (each length-prefixed) and
the SHA-256 of the JSON. `MENU <version>` from a device that has that version already is answered
"up to date" with no document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from daemon.commands.context import CommandContext, Reply
from daemon.commands.errors import ArgValueError
from daemon.commands.registry import REGISTERED, Arg, Args, Registry
from daemon.commands.types import ArgType, ParseEnv
from daemon.security.receipt_keys import ReceiptKey, ReceiptKeyError
from daemon.security.signing import current_keyring
from daemon.ussd.menu import Menu, MenuError
from daemon.ussd.menu_file import menu_of_data
from daemon.ussd.menu_store import current_menu_txn

KEYWORD = "MENU"
TOKEN = "#M1"
LABEL = b"smscore menu v1"
MAX_DOCUMENT_BYTES = 1 << 20  # a download inflating beyond this is refused, not held in memory
_TOKEN = re.compile(r"#M1:([A-Za-z0-9._-]+):(K[1-9][0-9]?):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class MenuTokenError(ValueError):
    """A downloaded menu that is not genuine or not readable (one line)."""


class MenuVersionType(ArgType):
    """The version the app has (as written: versions are compared exactly)."""

    label = "arg_menu_version"
    one_word = True

    def take(self, words: list[str], pos: int, env: ParseEnv) -> tuple[str, int]:
        if not _VERSION.fullmatch(words[pos]):
            raise ArgValueError("reference_format")
        return words[pos], pos + 1


def document_json(menu: Menu) -> bytes:
    return json.dumps(menu.data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8"
    )


def signed_bytes(version: str, serial: str, document: bytes) -> bytes:
    parts = [version.encode("ascii"), serial.encode("ascii"), hashlib.sha256(document).digest()]
    return LABEL + b"".join(len(p).to_bytes(2, "big") + p for p in parts)


def menu_token(menu: Menu, key: ReceiptKey) -> str:
    document = document_json(menu)
    signature = key.signing_key.sign(signed_bytes(menu.version, key.serial, document))
    payload = zlib.compress(document, 9)
    return ":".join([TOKEN, menu.version, key.serial, _b64(signature), _b64(payload)])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def read_menu_token(text: str, public_key: Callable[[str], bytes | None]) -> tuple[Menu, str]:
    """The menu in a MENU reply and the serial that signed it, checked with `public_key(serial)`;
    MenuTokenError if there is none, it does not verify, or it is not a menu."""
    found = _TOKEN.search(text)
    if found is None:
        raise MenuTokenError("the reply has no menu")
    version, serial = found[1], found[2]
    try:
        signature, payload = base64.b64decode(found[3]), base64.b64decode(found[4])
        inflater = zlib.decompressobj()
        document = inflater.decompress(payload, MAX_DOCUMENT_BYTES)
    except (binascii.Error, zlib.error):
        raise MenuTokenError("the menu is not readable") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise MenuTokenError("the menu is too large or cut short")
    key = public_key(serial)
    if key is None:
        raise MenuTokenError(f"unknown key {serial}")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(
            signature, signed_bytes(version, serial, document)
        )
    except (InvalidSignature, ValueError):
        raise MenuTokenError("the menu's signature is INVALID") from None
    return _menu_of_document(document, version), serial


def _menu_of_document(document: bytes, version: str) -> Menu:
    try:
        text = document.decode("utf-8")
        menu = menu_of_data(json.loads(text), text, f"menu {version}")
        from daemon.ussd.menu_check import check_menu

        check_menu(menu, None, 182)
    except (UnicodeDecodeError, ValueError, MenuError) as exc:
        raise MenuTokenError(f"the signed document is not a menu: {exc}") from None
    if menu.version != version:
        raise MenuTokenError(f"the document is version {menu.version}, not {version}")
    return menu


def register_menu_download(registry: Registry) -> Registry:
    @registry.command(
        KEYWORD,
        args=[Arg("version", MenuVersionType(), optional=True)],
        roles=REGISTERED,
        example="MENU 2026.12.1",
        listed=False,
    )
    def menu_download(ctx: CommandContext, args: Args) -> Reply:
        if ctx.channel != "app":
            return ctx.reply("menu_app_only")
        menu = current_menu_txn(ctx.conn) or _configured_menu(ctx)
        key = _signing_key(ctx)
        if menu is None or key is None:
            return ctx.reply("menu_unavailable")
        if args.get("version") == menu.version:
            return ctx.reply("menu_up_to_date", version=menu.version)
        return ctx.reply("menu_document", token=menu_token(menu, key))

    return registry


def _configured_menu(ctx: CommandContext) -> Menu | None:
    """Before the daemon stored any menu (a process with no watcher): the configured file."""
    from daemon.ussd.menu_watch import load_config_menu

    try:
        return load_config_menu(ctx.config, ctx.registry)
    except MenuError:
        return None


def _signing_key(ctx: CommandContext) -> ReceiptKey | None:
    keyring = current_keyring(ctx.config)
    if keyring is None:
        return None
    try:
        return keyring.active
    except ReceiptKeyError:
        return None
