"""The channel event format and secrets without a database: key files (0600, made once, refused
when readable by others or malformed), event seal/open bound to channel, seq and key, the event
key wrapped for one device only, and channel tokens' typed refusals."""

from __future__ import annotations

import os
import stat

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.channels import crypto, keys, tokens

REF = "ch0123456789abcdef01234567"
DEVICE = "0102030405060708"
NS = 1_000_000_000
NOW_NS = 1_764_590_400 * NS


def test_a_key_file_is_made_once_owner_only_and_read_back(tmp_path):
    path = tmp_path / "k"
    made = keys.load_or_create(path, "test key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.read_key(path, "test key").raw == made.raw and len(made.raw) == 32
    assert "k" in repr(made) and made.raw.hex() not in repr(made)


@pytest.mark.parametrize(
    ("text", "mode", "problem"),
    [
        ("ab" * 32, 0o640, "owner only"),
        ("zz" * 32, 0o600, "not hex"),
        ("ab" * 8, 0o600, "32 bytes"),
    ],
)
def test_a_bad_key_file_is_one_line_naming_it(tmp_path, text, mode, problem):
    path = tmp_path / "k"
    path.write_text(text)
    os.chmod(path, mode)
    with pytest.raises(keys.ChannelKeyError, match=problem) as raised:
        keys.read_key(path, "channel event key")
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert text not in str(raised.value)


def test_the_config_names_the_files_or_the_state_dir(tmp_path):
    from daemon.config import build_config

    config = build_config({"service": {"state_dir": str(tmp_path)}})
    assert keys.event_key_path(config) == tmp_path / keys.EVENT_KEY_FILE_NAME
    assert keys.token_key(config).raw != keys.event_key(config).raw


@settings(max_examples=50, deadline=None)
@given(plain=st.binary(max_size=300), seq=st.integers(1, 2**63 - 1), flip=st.integers(0, 10_000))
def test_an_event_opens_only_unchanged_with_its_key_and_seq(plain, seq, flip):
    key = crypto.derive_event_key(b"m" * 32, REF, 1)
    sealed = crypto.seal_event(key, REF, seq, plain)
    assert crypto.open_event(key, REF, seq, sealed) == plain
    changed = bytearray(sealed)
    changed[flip % len(changed)] ^= 0x01
    for args in ((key, REF, seq, bytes(changed)), (key, REF, seq + 1, sealed),
                 (crypto.derive_event_key(b"m" * 32, REF, 2), REF, seq, sealed),
                 (crypto.derive_event_key(b"m" * 32, REF + "x", 1), REF, seq, sealed)):  # fmt: skip
        with pytest.raises(crypto.EventCryptoError):
            crypto.open_event(*args)


def test_the_event_key_is_the_formats_hkdf():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = b"smscore channel events v1|" + REF.encode() + b"|" + (3).to_bytes(4, "big")
    expected = HKDF(hashes.SHA256(), 32, None, info).derive(b"m" * 32)
    assert crypto.derive_event_key(b"m" * 32, REF, 3) == expected


def test_a_wrapped_key_opens_only_for_its_device_and_epoch():
    server, device, other = (X25519PrivateKey.generate() for _ in range(3))
    event_key = os.urandom(32)
    device_public = device.public_key().public_bytes_raw()
    server_public = server.public_key().public_bytes_raw()
    wrapped = crypto.wrap_event_key(server, device_public, DEVICE, REF, 1, event_key)
    assert crypto.unwrap_event_key(device, server_public, DEVICE, REF, 1, wrapped) == event_key
    for args in ((other, server_public, DEVICE, REF, 1), (device, server_public, DEVICE, REF, 2),
                 (device, server_public, "0102030405060709", REF, 1)):  # fmt: skip
        with pytest.raises(crypto.EventCryptoError):
            crypto.unwrap_event_key(*args, wrapped)


def _issued(key=b"t" * 32, lifetime_s=30 * 86400):
    return tokens.issue_token(
        key, reference=REF, device_id=DEVICE, key_epoch=2, now_ns=NOW_NS, lifetime_s=lifetime_s
    )


def test_a_token_carries_the_claims_and_expires():
    issued = _issued()
    claims = tokens.verify_token(b"t" * 32, issued.text, NOW_NS + 86400 * NS)
    assert (claims.reference, claims.device_id, claims.key_epoch) == (REF, DEVICE, 2)
    assert claims.expires_at_ns == NOW_NS + 30 * 86400 * NS
    raw = jwt.decode(issued.text, b"t" * 32, algorithms=["HS256"], options={"verify_exp": False})
    assert raw["iss"] == "smscore" and raw["sub"] == raw["chn"] == REF and raw["jti"]
    with pytest.raises(tokens.TokenExpired):
        tokens.verify_token(b"t" * 32, issued.text, claims.expires_at_ns)
    assert issued.text not in repr(issued)


def test_a_token_is_refused_by_kind():
    issued = _issued()
    with pytest.raises(tokens.TokenBadSignature):
        tokens.verify_token(b"u" * 32, issued.text, NOW_NS)
    for text in ("", "a.b.c", issued.text.split(".")[0]):
        with pytest.raises(tokens.TokenMalformed):
            tokens.verify_token(b"t" * 32, text, NOW_NS)
    payload = {"iss": "smscore", "sub": REF, "chn": REF, "dev": DEVICE, "epoch": "2",
               "iat": 1, "exp": 2**40, "jti": "x"}  # fmt: skip
    with pytest.raises(tokens.TokenMalformed):  # a claim of the wrong type
        tokens.verify_token(b"t" * 32, jwt.encode(payload, b"t" * 32, "HS256"), NOW_NS)
    unsigned = jwt.encode({**payload, "epoch": 2}, None, algorithm="none")
    with pytest.raises(tokens.TokenMalformed):  # alg none is never accepted
        tokens.verify_token(b"t" * 32, unsigned, NOW_NS)
    other_issuer = jwt.encode({**payload, "epoch": 2, "iss": "x"}, b"t" * 32, "HS256")
    with pytest.raises(tokens.TokenMalformed):
        tokens.verify_token(b"t" * 32, other_issuer, NOW_NS)
