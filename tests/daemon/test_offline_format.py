"""The signed offline transfer's canonical encoding and its signature (daemon.security.offline):
one byte form per transfer, and any change of any field or byte fails verification."""

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from daemon.security.offline import (
    SIGNATURE_BYTES,
    ForgedSignature,
    OfflineFormatError,
    OfflineTransfer,
    SignedTransfer,
    decode,
    sign,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()

transfers = st.builds(
    OfflineTransfer,
    device_id=st.binary(min_size=8, max_size=8).map(bytes.hex),
    counter=st.integers(1, (1 << 63) - 1),
    signed_at_ns=st.integers(0, (1 << 63) - 1),
    valid_for_s=st.integers(1, (1 << 32) - 1),
    amount_minor=st.integers(1, (1 << 63) - 1),
    currency=st.sampled_from(["KES", "TZS", "UGX"]),
    payee_msisdn=st.from_regex(r"[1-9][0-9]{7,14}", fullmatch=True),
)


def _example() -> OfflineTransfer:
    return OfflineTransfer("00112233aabbccdd", 7, 1_764_590_400 * 10**9, 3600, 10_000, "KES",
                           "254712000002")  # fmt: skip


@given(transfers)
def test_decode_gives_back_exactly_what_was_signed_and_it_verifies(transfer) -> None:
    signed = sign(transfer, KEY)
    again = decode(signed.encode())
    assert again == signed
    assert again.encode() == signed.encode()
    again.verify(PUBLIC)


_CHANGES = {
    "device_id": lambda t: "f" * 16 if t.device_id != "f" * 16 else "e" * 16,
    "counter": lambda t: t.counter + 1 if t.counter < (1 << 63) - 1 else 1,
    "signed_at_ns": lambda t: t.signed_at_ns ^ 1,
    "valid_for_s": lambda t: t.valid_for_s + 1 if t.valid_for_s < 2**32 - 1 else 1,
    "amount_minor": lambda t: t.amount_minor ^ 1 or 2,
    "currency": lambda t: "USD" if t.currency != "USD" else "EUR",
    "payee_msisdn": lambda t: t.payee_msisdn[:-1] + ("1" if t.payee_msisdn[-1] != "1" else "2"),
}


@given(transfers, st.sampled_from(sorted(_CHANGES)))
def test_any_field_changed_after_signing_fails_verification(transfer, name) -> None:
    signed = sign(transfer, KEY)
    changed = dataclasses.replace(transfer, **{name: _CHANGES[name](transfer)})
    assert changed != transfer
    with pytest.raises(ForgedSignature):
        SignedTransfer(changed, signed.signature).verify(PUBLIC)


@given(transfers, st.data())
def test_any_bit_flipped_in_the_bytes_is_refused(transfer, data) -> None:
    body = bytearray(sign(transfer, KEY).encode())
    bit = data.draw(st.integers(0, len(body) * 8 - 1))
    body[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((OfflineFormatError, ForgedSignature)):
        decode(bytes(body)).verify(PUBLIC)


def test_another_key_s_signature_is_forged() -> None:
    signed = sign(_example(), Ed25519PrivateKey.generate())
    with pytest.raises(ForgedSignature):
        signed.verify(PUBLIC)


@pytest.mark.parametrize("cut", [1, 32, SIGNATURE_BYTES])
def test_a_truncated_signature_is_refused(cut) -> None:
    body = sign(_example(), KEY).encode()
    with pytest.raises(OfflineFormatError):
        decode(body[:-cut])


def test_trailing_bytes_and_other_versions_are_refused() -> None:
    body = sign(_example(), KEY).encode()
    with pytest.raises(OfflineFormatError):
        decode(body + b"\x00")
    with pytest.raises(OfflineFormatError):
        decode(b"\x02" + body[1:])


@pytest.mark.parametrize(
    "field, value",
    [("counter", 0), ("amount_minor", 0), ("valid_for_s", 0), ("currency", "kes"),
     ("payee_msisdn", "0712000002"), ("payee_msisdn", "2547x2000002"), ("device_id", "00")],
)  # fmt: skip
def test_fields_out_of_their_form_are_refused_before_signing(field, value) -> None:
    with pytest.raises(OfflineFormatError):
        dataclasses.replace(_example(), **{field: value})


def test_the_signature_is_bound_to_its_purpose() -> None:
    # A signature of the bare payload (no context) does not verify: a key used elsewhere for
    # raw signatures cannot be made to sign a transfer.
    transfer = _example()
    raw = SignedTransfer(transfer, KEY.sign(transfer.payload()))
    with pytest.raises(ForgedSignature):
        raw.verify(PUBLIC)


def test_the_digest_ignores_the_signature_not_the_content() -> None:
    signed = sign(_example(), KEY)
    assert SignedTransfer(signed.transfer, bytes(64)).digest == signed.digest
    other = sign(dataclasses.replace(_example(), amount_minor=10_001), KEY)
    assert other.digest != signed.digest
