"""POST /channels/token and the "channel" authenticator: signed requests, replays, tampered,
expired and foreign tokens, revoked devices and the key epoch."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from daemon.channels.crypto import EventCryptoError, derive_event_key, open_event
from daemon.security.devices import revoke_device_txn
from tests.api.channels import ALICE, BOB, KES, ChannelWorld, event_keys, opened


@pytest.fixture
def world(engine, tmp_path):
    world = ChannelWorld(engine, tmp_path)
    world.add(ALICE, balance_minor=1000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.close()


def test_an_enrolled_device_gets_a_token_and_reads_its_channel(world):
    device = world.enrol(ALICE)
    grant = world.token(device)
    assert grant["keyEpoch"] == 1 and grant["channel"].startswith("ch")
    page = world.events(grant["token"])
    [notice] = opened(device, grant, page)
    assert notice["type"] == "notice" and notice["topic"] == "security"
    assert page["next"] == page["head"] == 1


def _refused(answer, words: str) -> None:
    assert answer.status == 401, answer.body
    assert answer.body["errorCode"] == "clientAuthorisationError"
    assert words in answer.body["errorDescription"], answer.body


def test_a_request_signed_by_another_key_is_refused(world):
    device = world.enrol(ALICE)
    other = world.enrol(BOB)
    body = world.token_body(device)
    forged = world.token_body(other)
    _refused(world.ask_token(device, {**body, "signature": forged["signature"]}), "signature")
    _refused(world.ask_token(device, {**body, "signature": "not base64!"}), "signature")


def test_a_replayed_or_stale_request_is_refused(world):
    device = world.enrol(ALICE)
    body = world.token_body(device)
    assert world.ask_token(device, body).status == 200
    _refused(world.ask_token(device, body), "not above")  # the same request again
    old = world.token_body(device, timestamp_ms=world.now_ns // 1_000_000 - 301_000)
    _refused(world.ask_token(device, old), "300 s")
    ahead = world.token_body(device, timestamp_ms=world.now_ns // 1_000_000 + 301_000)
    _refused(world.ask_token(device, ahead), "300 s")


def test_an_unknown_device_and_a_malformed_body(world):
    device = world.enrol(ALICE)
    body = world.token_body(device)
    _refused(world.ask_token(device, {**body, "deviceId": "00" * 8}), "no active device")
    answer = world.ask_token(device, {**body, "deviceId": "XYZ"})
    assert answer.status == 400 and answer.body["errorCode"] == "formatError"


def _events(world, token: str):
    return world.get("/channels/me/events?after=0", token)


def test_no_token_or_a_tampered_token_is_refused(world):
    device = world.enrol(ALICE)
    token = world.token(device)["token"]
    _refused(world.http("GET", "/channels/me/events"), "no channel token")
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    _refused(_events(world, f"{header}.{payload}.{flipped}"), "not a valid")
    _refused(_events(world, "garbage"), "not a valid")


def test_a_token_with_claims_changed_to_read_another_channel_is_refused(world):
    alice, bob = world.enrol(ALICE), world.enrol(BOB)
    a_token = world.token(alice)["token"]
    b_grant = world.token(bob)
    header, payload, signature = a_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["chn"] = claims["sub"] = b_grant["channel"]
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(_events(world, f"{header}.{changed}.{signature}"), "not a valid")
    foreign = jwt.encode(claims, b"k" * 32, algorithm="HS256")  # another server's key
    _refused(_events(world, foreign), "not a valid")


def test_another_subscribers_token_never_reads_this_channel(world):
    alice, bob = world.enrol(ALICE), world.enrol(BOB)
    world.sms(ALICE, "SEND 0712000002 10 1234")
    a_grant, b_grant = world.token(alice), world.token(bob)
    b_page = world.events(b_grant["token"])
    a_page = world.events(a_grant["token"])
    b_cipher = {e["ciphertext"] for e in b_page["events"]}
    assert not b_cipher & {e["ciphertext"] for e in a_page["events"]}
    with pytest.raises(EventCryptoError):  # Alice's key opens none of Bob's events
        opened(alice, a_grant, {"events": b_page["events"][:1]})
    b_grant_for_a = {**b_grant, "channel": a_grant["channel"]}
    with pytest.raises(EventCryptoError):  # nor is Bob's wrapped key Alice's to open
        opened(alice, b_grant_for_a, a_page)


def test_an_expired_token_is_refused_and_a_refresh_extends_it(world):
    device = world.enrol(ALICE)
    grant = world.token(device)
    world.advance(29 * 86400)
    fresh = world.http("POST", "/channels/me/token", headers=_bearer(grant["token"]))
    assert fresh.status == 200 and fresh.body["token"] != grant["token"]
    world.advance(2 * 86400)
    _refused(_events(world, grant["token"]), "expired")
    assert _events(world, fresh.body["token"]).status == 200
    assert opened(device, fresh.body, world.events(fresh.body["token"]))


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _revoke(world, device) -> None:
    with world.engine.begin() as conn:
        revoke_device_txn(conn, device.device_id, "staff:test", world.now_ns)


def test_a_revoked_device_is_refused_and_cannot_open_new_events(world):
    gone, kept = world.enrol(ALICE), world.enrol(ALICE)
    gone_grant, kept_grant = world.token(gone), world.token(kept)
    _revoke(world, gone)
    _refused(_events(world, gone_grant["token"]), "no longer enrolled")
    _refused(world.ask_token(gone), "no active device")
    # The other device's token names the old epoch: it asks again and gets the new key.
    _refused(_events(world, kept_grant["token"]), "keys changed")
    renewed = world.token(kept)
    assert renewed["keyEpoch"] == 2
    assert [k["keyEpoch"] for k in renewed["earlierKeys"]] == [1]
    page = world.events(renewed["token"])
    events = opened(kept, renewed, page)  # old events with the earlier key, new with the new
    assert events[-1]["topic"] == "security" and gone.device_id in events[-1]["text"]
    newest = page["events"][-1]
    assert newest["keyEpoch"] == 2
    with pytest.raises(EventCryptoError):  # the revoked device's key does not open it
        opened(gone, gone_grant, {"events": [{**newest, "keyEpoch": 1}]})


def test_the_ciphertext_opens_only_with_its_key_and_seq(world):
    device = world.enrol(ALICE)
    world.sms(ALICE, "SEND 0712000002 10 1234")
    grant = world.token(device)
    page = world.events(grant["token"])
    key = event_keys(device, grant)[1]
    first, second = page["events"][:2]
    raw = base64.b64decode(second["ciphertext"])
    assert open_event(key, grant["channel"], second["seq"], raw)
    with pytest.raises(EventCryptoError):  # renumbered
        open_event(key, grant["channel"], first["seq"], raw)
    with pytest.raises(EventCryptoError):  # another channel's number space
        open_event(key, grant["channel"] + "x", second["seq"], raw)
    with pytest.raises(EventCryptoError):  # another epoch's key
        open_event(derive_event_key(b"\0" * 32, grant["channel"], 1), grant["channel"], 2, raw)
