"""Offline transfers through the TranProc (daemon.security.offline_inbox): posted once as a SEND
however often and in whatever order they arrive, and every refusal answered to the device."""

import dataclasses
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from daemon.chart import deposit_txn, new_transfer_id, wallet_account_id
from daemon.device.state import DeviceState
from daemon.money.common import money_env
from daemon.money.tariff import RecipientKind
from daemon.schema import moves
from daemon.security.devices import revoke_device_txn
from daemon.security.offline import command_text, sign
from tests.daemon.app_world import app_world, enrol, send_frame_text
from tests.daemon.offline_world import (
    KES,
    deliver,
    deliver_body,
    move_count,
    offline_rows,
    signed,
)

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
HOUR = 3600


@pytest.fixture
def world(engine, tmp_path):
    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    world.add(CAROL)
    return world


def _refs(world) -> list[str]:
    with world.engine.begin() as conn:
        return [row.ref for row in conn.execute(select(moves.c.ref).order_by(moves.c.id))]


def test_an_offline_transfer_posts_as_a_send_and_the_recipient_is_told(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100, valid_for_s=86_400)
    world.advance(5 * HOUR)  # delivered hours after it was signed
    answer = deliver(world, device, transfer)
    assert answer.outcome == "posted" and answer.counter == 1
    assert "Confirmed" in answer.text
    world.receipts()
    assert world.balance(BOB) == 100 * KES
    fee = money_env(world.config).tariff.fee_minor("SEND", 100 * KES, RecipientKind.REGISTERED)
    assert world.balance(ALICE) == 900 * KES - fee  # the SEND's tariff
    assert any("received" in text.lower() for text in world.texts_to(BOB))
    [row] = offline_rows(world)
    assert (row.state, row.counter, row.move_id is not None) == ("posted", 1, True)
    world.check()


def test_delivered_twice_posts_once_and_answers_with_the_first_ref(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100)
    first = deliver(world, device, transfer)
    world.receipts()
    world.advance(HOUR)
    second = deliver(world, device, transfer)  # a new frame, the same signed transfer
    assert second.outcome == "posted" and "already" in second.text
    [ref] = _refs(world)
    assert ref in first.text and ref in second.text
    world.receipts()
    assert world.balance(BOB) == 100 * KES
    assert move_count(world) == 1 and len(offline_rows(world)) == 1
    world.check()


def test_out_of_order_both_post(world) -> None:
    device = enrol(world, ALICE)
    one, two = signed(world, device, BOB, 100), signed(world, device, CAROL, 50)
    assert deliver(world, device, two).outcome == "posted"
    assert deliver(world, device, one).outcome == "posted"
    world.receipts()
    assert (world.balance(BOB), world.balance(CAROL)) == (100 * KES, 50 * KES)
    world.check()


def test_forged_signature_is_refused_and_posts_nothing(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100)
    forged = sign(transfer.transfer, Ed25519PrivateKey.generate())
    answer = deliver(world, device, forged)
    assert answer.outcome == "forged" and "not signed by your app" in answer.text
    assert move_count(world) == 0 and offline_rows(world) == []
    # The forgery took no counter: the genuine transfer still posts.
    assert deliver(world, device, transfer).outcome == "posted"


def test_changed_amount_after_signing_is_a_forgery(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100)
    more = dataclasses.replace(transfer.transfer, amount_minor=900 * KES)
    answer = deliver(world, device, dataclasses.replace(transfer, transfer=more))
    assert answer.outcome == "forged" and move_count(world) == 0


@pytest.mark.parametrize("cut", [1, 64])
def test_truncated_signature_is_refused(world, cut) -> None:
    device = enrol(world, ALICE)
    body = signed(world, device, BOB, 100).encode()[:-cut]
    answer = deliver_body(world, device, body)
    assert answer.outcome == "forged" and move_count(world) == 0


def test_expired_outside_its_window_is_refused(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100, valid_for_s=HOUR)
    world.advance(HOUR + 1)
    answer = deliver(world, device, transfer)
    assert answer.outcome == "expired" and "time limit" in answer.text
    assert move_count(world) == 0 and offline_rows(world) == []


def test_the_server_caps_the_window_the_device_asks_for(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100, valid_for_s=30 * 86_400)
    world.advance(3 * 86_400 + 1)  # [app] offline_max_validity_s: 3 days
    assert deliver(world, device, transfer).outcome == "expired"


def test_signed_in_the_future_is_refused(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100, at_ns=world.now_ns + HOUR * 10**9)
    assert deliver(world, device, transfer).outcome == "expired"


def test_revoked_device_s_transfer_is_refused(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 100)
    second = _enrol_second_device(world, ALICE)
    with world.engine.begin() as conn:
        revoke_device_txn(conn, device.device_id, "staff:test", world.now_ns)
    # Delivered through the number's other (active) device: refused because its signer is revoked.
    answer = deliver_body(world, second, transfer.encode())
    assert answer.outcome == "revoked" and "no longer enrolled" in answer.text
    assert move_count(world) == 0
    # Through the revoked device itself: the channel refuses it, in plain text.
    _, reply = send_frame_text(world, ALICE, _frame_text(device, transfer))
    assert "no longer enrolled" in reply and move_count(world) == 0


def _frame_text(device: DeviceState, transfer) -> str:
    from daemon.device.offline import delivery_text

    return delivery_text(device, transfer)


def _enrol_second_device(world, msisdn: str) -> DeviceState:
    device = DeviceState.new(msisdn)
    asked = world.sms(msisdn, device.enrol_text("1234"))
    code = re.search(r"code (\d+)", asked)
    assert code, asked
    assert device.accept_enrolment(world.sms(msisdn, device.enrol_text("1234", code[1])))
    return device


def test_counter_reused_with_other_content_is_a_forgery(world) -> None:
    device = enrol(world, ALICE)
    deliver(world, device, signed(world, device, BOB, 100))
    device.offline_counter = 0  # a broken or cloned device signs counter 1 again
    answer = deliver(world, device, signed(world, device, BOB, 500))
    assert answer.outcome == "reused" and answer.counter == 1
    world.receipts()
    assert world.balance(BOB) == 100 * KES and move_count(world) == 1


def test_insufficient_funds_is_refused_as_send_says_and_stays_refused(world) -> None:
    device = enrol(world, ALICE)
    transfer = signed(world, device, BOB, 5_000)
    answer = deliver(world, device, transfer)
    assert answer.outcome == "refused" and "Not enough money" in answer.text
    [row] = offline_rows(world)
    assert row.state == "refused" and row.move_id is None
    with world.engine.begin() as conn:  # topped up since: the refusal still stands
        deposit_txn(conn, wallet_account_id(ALICE), 10_000 * KES, "KES", world.now_ns,
                    transfer_id=new_transfer_id(), user_data="test")  # fmt: skip
    again = deliver(world, device, transfer)  # delivered again: the first answer, not a retry
    assert again.outcome == "refused" and "Not enough money" in again.text
    assert move_count(world) == 0
    world.check()


def test_over_the_tier_limit_is_refused_as_send_says(world) -> None:
    world.add("254712000008", balance_minor=10_000_000 * KES)
    device = enrol(world, "254712000008")
    answer = deliver(world, device, signed(world, device, BOB, 5_000_000))
    assert answer.outcome == "refused" and move_count(world) == 0


def test_another_number_cannot_deliver_alice_s_transfer(world) -> None:
    alice = enrol(world, ALICE)
    bob = enrol(world, BOB)
    transfer = signed(world, alice, CAROL, 100)
    answer = deliver_body(world, bob, transfer.encode())
    assert answer.outcome == "forged" and move_count(world) == 0


def test_a_plain_sms_cannot_carry_an_offline_transfer(world) -> None:
    device = enrol(world, ALICE)
    reply = world.sms(ALICE, command_text(signed(world, device, BOB, 100).encode()))
    assert "only from your enrolled app" in reply and "#O1:0:app_only" in reply
    assert move_count(world) == 0


def test_an_offline_transfer_is_screened_like_a_send(engine, tmp_path) -> None:
    # A SIM swap caps what leaves the wallet for 48 h: signed offline or not (found by QA: offline
    # transfers used to skip every fraud rule).
    from sqlalchemy import select as select_

    from daemon.schema import fraud_holds
    from tests.daemon.fraud_world import swap_sim

    world = app_world(engine, tmp_path)
    world.add(ALICE, balance_minor=5_000 * KES)
    world.add(BOB)
    device = enrol(world, ALICE)
    swap_sim(world, ALICE)
    transfer = signed(world, device, BOB, 2_000, valid_for_s=86_400)
    first = deliver(world, device, transfer)
    again = deliver(world, device, transfer)
    assert "held for a security check" in first.text and again.counter == first.counter
    with world.engine.begin() as conn:
        holds = conn.execute(select_(fraud_holds.c.rule)).all()
    assert [hold.rule for hold in holds] == ["sim_swap"]  # once, for both deliveries
    assert world.balance(BOB) == 0 and world.balance(ALICE) == 5_000 * KES
    world.check()
