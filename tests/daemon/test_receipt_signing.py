"""Signed confirmations (daemon.security.receipts, receipt_keys): a receipt verifies; any changed
field, a truncated or made-up tag, a serial we never made, a tampered signature do not; after a
rotation an old key's receipts still verify, and a revoked key's are reported as revoked."""

import dataclasses
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.security.receipt_keys import (
    ReceiptKeyError,
    ensure_keyring,
    load_keyring,
    revoke_key,
    rotate_keyring,
)
from daemon.security.receipts import (
    ReceiptFields,
    Verdict,
    parse_tag,
    sign_receipt_with,
    tag_with,
    verify_signature,
    verify_tag,
    verify_with_public_key,
)

NOW = 1_764_590_400 * 10**9
FIELDS = ReceiptFields.at("QK7A2B9XYZ", 150_000, "KES", "254712000001", "254712000002", NOW)


@pytest.fixture
def keys(tmp_path):
    return tmp_path / "receipt-keys"


def keyring(keys, tag_chars=7):
    return ensure_keyring(keys, tag_chars, NOW)


def test_the_first_start_makes_one_private_key(keys):
    made = keyring(keys)
    assert [key.serial for key in made.keys.values()] == ["K1"]
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "K1.key").stat().st_mode) == 0o600
    again = keyring(keys)
    assert again.active.mac_key == made.active.mac_key  # read back, not made afresh


def test_a_receipt_verifies_and_shows_its_serial(keys):
    ring = keyring(keys)
    tag = tag_with(ring.active, FIELDS)
    assert tag.startswith("K1-") and len(tag) == len("K1-") + 7
    assert verify_tag(ring, FIELDS, f"Sig {tag}") is Verdict.GENUINE
    assert verify_tag(ring, FIELDS, tag.lower()) is Verdict.GENUINE  # typed back in any case


CHANGES = st.one_of(
    st.builds(
        lambda v: {"ref": v}, st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
    ),
    st.builds(lambda v: {"amount_minor": v}, st.integers(0, 10**12)),
    st.builds(lambda v: {"currency": v}, st.sampled_from(["UGX", "TZS", "USD"])),
    st.builds(lambda v: {"payer": v}, st.from_regex(r"2547[0-9]{8}", fullmatch=True)),
    st.builds(
        lambda v: {"payee": v},
        st.from_regex(r"2547[0-9]{8}|[A-Z]{2,8} [0-9]{4,12}", fullmatch=True),
    ),
    st.builds(lambda v: {"minute": v}, st.integers(0, 10**8)),
)


@settings(max_examples=200, deadline=None)
@given(change=CHANGES)
def test_any_changed_field_fails(tmp_path_factory, change):
    ring = keyring(tmp_path_factory.mktemp("k") / "keys")
    changed = dataclasses.replace(FIELDS, **change)
    if changed.canonical_bytes("K1") == FIELDS.canonical_bytes("K1"):
        return  # the same receipt (a change to the value it had)
    assert verify_tag(ring, changed, tag_with(ring.active, FIELDS)) is Verdict.FORGED
    serial, signature = sign_receipt_with(ring, FIELDS)
    assert verify_signature(ring, changed, serial, signature) is Verdict.FORGED


def test_a_truncated_or_made_up_tag_fails(keys):
    ring = keyring(keys)
    tag = tag_with(ring.active, FIELDS)
    assert verify_tag(ring, FIELDS, tag[:-1]) is Verdict.FORGED
    assert verify_tag(ring, FIELDS, tag + "A") is Verdict.FORGED
    flipped = tag[:-1] + ("A" if tag[-1] != "A" else "B")
    assert verify_tag(ring, FIELDS, flipped) is Verdict.FORGED
    assert verify_tag(ring, FIELDS, "K9" + tag[2:]) is Verdict.FORGED  # no such serial
    assert verify_tag(ring, FIELDS, "not a tag") is Verdict.FORGED


def test_an_old_key_still_verifies_after_rotation(keys):
    ring = keyring(keys)
    old_tag = tag_with(ring.active, FIELDS)
    old_serial, old_signature = sign_receipt_with(ring, FIELDS)
    rotate_keyring(keys, 8, NOW)
    ring = load_keyring(keys)
    assert ring.active.serial == "K2" and ring.active.tag_chars == 8
    assert tag_with(ring.active, FIELDS).startswith("K2-")
    assert verify_tag(ring, FIELDS, old_tag) is Verdict.GENUINE  # keeps its own 7 characters
    assert verify_signature(ring, FIELDS, old_serial, old_signature) is Verdict.GENUINE


def test_a_revoked_keys_receipts_do_not_verify(keys):
    ring = keyring(keys)
    tag = tag_with(ring.active, FIELDS)
    serial, signature = sign_receipt_with(ring, FIELDS)
    replacement = revoke_key(keys, "K1", 7, NOW)
    assert replacement is not None and replacement.serial == "K2"  # the signing key was revoked
    ring = load_keyring(keys)
    assert verify_tag(ring, FIELDS, tag) is Verdict.REVOKED
    assert verify_signature(ring, FIELDS, serial, signature) is Verdict.REVOKED
    fresh = tag_with(ring.active, FIELDS)
    assert fresh.startswith("K2-") and verify_tag(ring, FIELDS, fresh) is Verdict.GENUINE


def test_revoking_an_old_key_makes_no_new_one(keys):
    keyring(keys)
    rotate_keyring(keys, 7, NOW)
    assert revoke_key(keys, "k1", 7, NOW) is None
    assert load_keyring(keys).active.serial == "K2"
    with pytest.raises(ReceiptKeyError, match="K7: no such receipt key"):
        revoke_key(keys, "K7", 7, NOW)


def test_the_app_checks_a_signature_with_the_public_key_alone(keys):
    ring = keyring(keys)
    serial, signature = sign_receipt_with(ring, FIELDS)
    public = ring.active.public_key()
    assert len(signature) == 64 and len(public) == 32
    assert verify_with_public_key(public, FIELDS, serial, signature) is Verdict.GENUINE
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert verify_with_public_key(public, FIELDS, serial, tampered) is Verdict.FORGED
    assert verify_with_public_key(public, FIELDS, serial, signature[:63]) is Verdict.FORGED
    assert (
        verify_with_public_key(public, FIELDS, "K2", signature) is Verdict.FORGED
    )  # serial signed


def test_the_encoding_keeps_fields_apart():
    one = ReceiptFields("AB", 1, "KES", "2547", "", 5)
    other = ReceiptFields("AB", 1, "KES", "", "2547", 5)
    assert one.canonical_bytes("K1") != other.canonical_bytes("K1")
    spaced = ReceiptFields("ab", 1, "kes", "kplc  123", "", 5)
    assert spaced.canonical_bytes("K1") == ReceiptFields(
        "AB", 1, "KES", "KPLC 123", "", 5
    ).canonical_bytes("K1")


def test_tags_are_read_as_people_type_them():
    assert parse_tag("Sig K3-7QX3M2A") == ("K3", "7QX3M2A")
    assert parse_tag("  sig k12 - 7qx3m2a ") == ("K12", "7QX3M2A")
    assert parse_tag("K3-7QX3M20") == ("K3", "7QX3M2O")  # a zero is the letter O
    assert parse_tag("K3 7QX3M2A") is None and parse_tag("K0-AAAAAAA") is None


def test_a_key_file_others_can_read_is_refused(keys):
    keyring(keys)
    os.chmod(keys / "K1.key", 0o644)
    with pytest.raises(
        ReceiptKeyError, match=r"K1\.key: a receipt key must be readable by its owner"
    ):
        load_keyring(keys)


def test_a_broken_key_file_is_one_line_naming_it(keys):
    keyring(keys)
    (keys / "K1.key").write_text(json.dumps({"seed": "00"}))
    with pytest.raises(ReceiptKeyError, match=r"K1.key: not a receipt key file"):
        load_keyring(keys)


def test_no_repr_shows_a_key(keys):
    key = keyring(keys).active
    seed = json.loads((keys / "K1.key").read_text())["seed"]
    shown = repr(key) + repr(keyring(keys))
    assert seed not in shown and key.mac_key.hex() not in shown and str(key.mac_key) not in shown
