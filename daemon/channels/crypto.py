"""The channel event format, written once for both sides (the server in daemon.channels.events,
the reference device in daemon.device); see COMMON.md "The channel event format".

Event key of a channel = HKDF-SHA256(the event key file's 32 bytes, salt None, info
b"smscore channel events v1|" + reference + b"|" + key_epoch (4 bytes BE)), 32 bytes.
An event's ciphertext = nonce (12 random bytes) || ChaCha20-Poly1305(event key) of its UTF-8 JSON,
with aad b"smscore event v1|" + reference + b"|" + seq (8 bytes BE): a moved or renumbered event
fails to open. A device gets the event key wrapped under a key only it and the server can compute:
HKDF-SHA256(X25519(server app key, device channel key), salt None, info
b"smscore channel key wrap v1|" + device id (8 bytes)); wrappedKey = nonce || ChaCha20-Poly1305 of
the event key with aad reference + b"|" + key_epoch (4 bytes BE).
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from daemon.security.channel import device_id_bytes

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_EVENT_KEY_INFO = b"smscore channel events v1|"
_EVENT_AAD = b"smscore event v1|"
_WRAP_INFO = b"smscore channel key wrap v1|"


class EventCryptoError(Exception):
    """A ciphertext or wrapped key that does not open: another key, another seq, or changed."""


def _epoch(key_epoch: int) -> bytes:
    return key_epoch.to_bytes(4, "big")


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, None, info).derive(ikm)


def derive_event_key(master: bytes, reference: str, key_epoch: int) -> bytes:
    """The event key of channel `reference` at `key_epoch` (from the event key file's bytes)."""
    return _hkdf(master, _EVENT_KEY_INFO + reference.encode("ascii") + b"|" + _epoch(key_epoch))


def event_aad(reference: str, seq: int) -> bytes:
    return _EVENT_AAD + reference.encode("ascii") + b"|" + seq.to_bytes(8, "big")


def seal_event(key: bytes, reference: str, seq: int, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, event_aad(reference, seq))


def open_event(key: bytes, reference: str, seq: int, ciphertext: bytes) -> bytes:
    """The plaintext of event `seq` of `reference`; EventCryptoError if it does not open."""
    if len(ciphertext) < NONCE_BYTES + TAG_BYTES:
        raise EventCryptoError("too short to be an event")
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, body, event_aad(reference, seq))
    except InvalidTag:
        raise EventCryptoError("the event does not open with this key and seq") from None


def event_plaintext(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")


def parse_plaintext(plaintext: bytes) -> dict[str, Any]:
    try:
        found = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EventCryptoError("the event is not UTF-8 JSON") from None
    if not isinstance(found, dict):
        raise EventCryptoError("the event is not a JSON object")
    return found


# --- the event key, wrapped for one device ------------------------------------------------------


def _wrap_key(own: X25519PrivateKey, peer_public: bytes, device_id: str) -> bytes:
    try:
        shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        raise EventCryptoError("not an X25519 public key") from None
    return _hkdf(shared, _WRAP_INFO + device_id_bytes(device_id))


def _wrap_aad(reference: str, key_epoch: int) -> bytes:
    return reference.encode("ascii") + b"|" + _epoch(key_epoch)


def wrap_event_key(
    server_private: X25519PrivateKey,
    device_public: bytes,
    device_id: str,
    reference: str,
    key_epoch: int,
    key: bytes,
) -> bytes:
    """The server side: `key` sealed for the device `device_id` (16 hex digits)."""
    nonce = os.urandom(NONCE_BYTES)
    aead = ChaCha20Poly1305(_wrap_key(server_private, device_public, device_id))
    return nonce + aead.encrypt(nonce, key, _wrap_aad(reference, key_epoch))


def unwrap_event_key(
    device_private: X25519PrivateKey,
    server_public: bytes,
    device_id: str,
    reference: str,
    key_epoch: int,
    wrapped: bytes,
) -> bytes:
    """The device side: the event key from the token answer's wrappedKey; EventCryptoError."""
    if len(wrapped) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
        raise EventCryptoError("a wrapped key is 60 bytes")
    aead = ChaCha20Poly1305(_wrap_key(device_private, server_public, device_id))
    try:
        return aead.decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(reference, key_epoch)
        )
    except InvalidTag:
        raise EventCryptoError("the wrapped key does not open for this device") from None
