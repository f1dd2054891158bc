"""Reversals end to end: REVERSE through the simulator and the daemon, and the staff's decision with
the real `smscore admin reversals` executable on the daemon's own config (as an operator runs it
while the daemon serves). Approved, rejected, asked twice, and a recipient who had spent the money;
each with both parties' SMS as their phones show them, the balances in the ledger, and (the `money`
fixture) `smscore ledger check` at the end."""

from __future__ import annotations

import subprocess

from tests.e2e.harness import SMSCORE
from tests.e2e.money import KES, PIN, START, MoneyService, kes, national, ref_in


def admin(money: MoneyService, *args: str, actor: str | None = "e2e-staff"):
    """`smscore admin reversals ARGS --config <the daemon's config>`: (exit code, output)."""
    command = [str(SMSCORE), "admin", "reversals", *args]
    command += ["--config", str(money.daemon.config_path)]
    if actor is not None:
        command += ["--actor", actor]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def paid(money: MoneyService, amount: int):
    """Alice pays Bob `amount` shillings; both phones read their SMS. (alice, bob, ref, charged)"""
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="Bob Otieno")
    reply = alice.send(f"SEND {national(bob.msisdn)} {amount} {PIN}")
    bob.next("the payment")
    charged = amount * KES + money.fee(amount * KES)
    return alice, bob, ref_in(reply), charged


def test_reversal_approved(money) -> None:
    alice, bob, ref, charged = paid(money, 500)
    asked = alice.send(f"REVERSE {ref}")
    assert asked.startswith(f"Reversal of {ref} asked. {kes(500 * KES)} is held from BOB O.")
    held = bob.next("the notice of the hold")
    assert held.startswith(f"{ref}: ALICE A. {alice_number(alice)} says the {kes(500 * KES)}")
    assert money.balance(bob.msisdn) == (500 * KES, 500 * KES)  # posted, and held (pending)
    code, listed = admin(money, "list", actor=None)
    assert code == 0 and ref in listed and "held" in listed, listed
    code, out = admin(money, "approve", ref, "--note", "confirmed by phone")
    assert code == 0, out
    assert out.startswith(f"approved: {kes(500 * KES)} of {ref} back to {alice.msisdn}, ref ")
    back = alice.next("the reversal's confirmation")
    assert f"Confirmed. Reversal of {ref}: {kes(500 * KES)} is back in your wallet." in back
    assert f"New balance {kes(START - charged + 500 * KES)}. Sig K" in back  # a signed receipt
    gone = bob.next("the notice that the money went back")
    assert f"was given back to ALICE A. {alice_number(alice)}. New balance KES 0.00." in gone
    money.quiet()
    assert money.posted(alice.msisdn) == START - charged + 500 * KES  # the fee is kept
    assert money.posted(bob.msisdn) == 0
    code, again = admin(money, "approve", ref)
    assert code == 2 and "already approved" in again and again.count("\n") == 1, again
    assert money.posted(alice.msisdn) == START - charged + 500 * KES


def test_reversal_rejected(money) -> None:
    alice, bob, ref, charged = paid(money, 700)
    alice.send(f"REVERSE {ref}")
    bob.next("the notice of the hold")
    code, out = admin(money, "reject", ref, "--reason", "the goods were delivered")
    assert code == 0, out
    refused = alice.next("the refusal")
    assert refused.startswith(f"Your request to reverse {ref} ({kes(700 * KES)}) was refused")
    released = bob.next("the release")
    assert released.endswith(f"is released and yours to use. New balance {kes(700 * KES)}.")
    money.quiet()
    assert money.posted(alice.msisdn) == START - charged
    assert money.posted(bob.msisdn) == 700 * KES
    code, again = admin(money, "approve", ref)
    assert code == 2 and "already rejected" in again, again


def test_reversal_asked_twice(money) -> None:
    alice, bob, ref, _ = paid(money, 300)
    first, _ = alice.send_twice(f"REVERSE {ref}")  # re-delivered by the SMSC: held once
    assert first.startswith(f"Reversal of {ref} asked.")
    bob.next("the notice of the hold")
    again = alice.send(f"reverse {ref.lower()}")  # asked again by the person
    assert again.startswith(f"You asked to reverse {ref} on ")
    assert again.endswith("Staff will decide and we will SMS you.")
    assert money.balance(bob.msisdn) == (300 * KES, 300 * KES)
    holds = [move for move in money.moves_of(bob.msisdn) if move.kind == "reversal_hold"]
    assert len(holds) == 1
    code, out = admin(money, "reject", ref, "--reason", "asked twice, decided once")
    assert code == 0, out
    alice.next("the refusal")
    bob.next("the release")
    money.quiet()
    assert money.posted(bob.msisdn) == 300 * KES


def test_reversal_when_the_recipient_had_spent_it(money) -> None:
    alice, bob, ref, charged = paid(money, 500)
    carol = money.customer(name="Carol Chebet")
    bob.send(f"SEND {national(carol.msisdn)} 400 {PIN}")
    carol.next("Bob's payment")
    asked = alice.send(f"REVERSE {ref}")
    assert asked.endswith("so it cannot be held now. Staff will contact you.")
    assert "no longer has the " + kes(500 * KES) in asked
    told = bob.next("the notice of the dispute")
    assert told.endswith("was a mistake. Please keep it aside; staff will contact you.")
    code, listed = admin(money, "list", actor=None)
    assert code == 0 and "unfunded" in listed and ref in listed, listed
    bob_left = money.posted(bob.msisdn)
    code, out = admin(money, "approve", ref)
    assert code == 2 and "still cannot be held" in out and out.count("\n") == 1, out
    assert money.posted(bob.msisdn) == bob_left and money.posted(alice.msisdn) == START - charged
    code, out = admin(money, "reject", ref, "--reason", "recipient has spent it; by phone")
    assert code == 0, out
    assert "was refused after review" in alice.next("the refusal")
    assert bob.next("the close").endswith("is closed. Nothing more is asked of you.")
    money.quiet()


def alice_number(phone) -> str:
    """A number as replies show it: 0712 000001."""
    written = national(phone.msisdn)
    return f"{written[:4]} {written[4:]}"
