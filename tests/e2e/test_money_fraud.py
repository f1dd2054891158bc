"""Fraud review end to end: a SIM swap recorded with the real `smscore admin simswap` on the daemon's
own config, then a large SEND through the simulator is held (the phone is told, nothing moves), staff
release it with `smscore admin review release`, and it posts once: both phones see it, the ledger
agrees, and (the `money` fixture) `smscore ledger check` passes at the end."""

from __future__ import annotations

import re
import subprocess

from tests.e2e.harness import SMSCORE
from tests.e2e.money import KES, PIN, START, MoneyService, kes, national, ref_in


def admin(money: MoneyService, *args: str) -> tuple[int, str]:
    command = [str(SMSCORE), "admin", *args, "--config", str(money.daemon.config_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_a_send_after_a_sim_swap_is_held_then_released_and_posted_once(money) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(name="Bob Otieno")
    code, out = admin(money, "simswap", alice.msisdn, "--actor", "e2e-staff")
    assert code == 0 and "recorded" in out, out
    reply = alice.send(f"SEND {national(bob.msisdn)} 5000 {PIN}")
    assert "is held for a security check. Nothing has left your account" in reply
    ref = ref_in(reply)
    money.quiet(states_too=False)  # the held move waits for staff: every SMS is final
    assert money.posted(alice.msisdn) == START and money.balance(alice.msisdn) == (START, 0)
    [move] = money.moves_of(alice.msisdn)
    assert (move.state, move.ref) == ("held", ref)
    code, listed = admin(money, "review", "list")
    assert code == 0 and ref in listed and "sim_swap" in listed, listed
    hold_id = re.search(rf"^\s*(\d+)\s+{ref}", listed, re.MULTILINE).group(1)
    code, out = admin(money, "review", "release", hold_id, "--actor", "e2e-staff")
    assert code == 0 and f"released hold {hold_id}: {ref}" in out, out
    charged = 5000 * KES + money.fee(5000 * KES)
    confirmed = alice.next("the confirmation after release")
    assert f"{ref} Confirmed. {kes(5000 * KES)} sent to BOB O." in confirmed
    told = bob.next("the recipient's notice")
    assert f"{ref} Confirmed. You have received {kes(5000 * KES)} from ALICE A." in told
    money.quiet()
    assert money.posted(alice.msisdn) == START - charged
    assert money.posted(bob.msisdn) == 5000 * KES
    code, again = admin(money, "review", "release", hold_id)
    assert code == 2 and "released already" in again and again.count("\n") == 1, again
    money.quiet()
    assert money.posted(bob.msisdn) == 5000 * KES
    assert alice.unread() == [] and bob.unread() == []
