"""A held TILL end to end: a SIM swap recorded with `smscore admin simswap`, a large TILL payment
through the simulator is held for review (the phone is told, nothing moves), staff release it with
`smscore admin review release`, and it posts once through the TILL's re-commit (daemon.money.held):
the payer and the merchant see it, a second release is refused in one line, the ledger agrees, and
(the `money` fixture) `smscore ledger check` passes at the end."""

from __future__ import annotations

import re

from tests.e2e.money import KES, PIN, START, MoneyService, kes, ref_in
from tests.e2e.test_money_fraud import admin
from tests.e2e.test_money_tills import merchant, merchant_fee


def test_a_till_payment_after_a_sim_swap_is_held_then_released_once(money: MoneyService) -> None:
    alice = money.customer(START, name="Alice Atieno")
    shop, till = merchant(money)
    code, out = admin(money, "simswap", alice.msisdn, "--actor", "e2e-staff")
    assert code == 0 and "recorded" in out, out
    reply = alice.send(f"TILL {till} 5000 {PIN}")
    assert f"to MAMA MBOGA {till} is held for a security check" in reply, reply
    ref = ref_in(reply)
    money.quiet(states_too=False)  # the held move waits for staff: every SMS is final
    assert money.posted(alice.msisdn) == START
    code, listed = admin(money, "review", "list")
    assert code == 0 and ref in listed and "amount over KES 1,000.00" in listed, listed
    hold_id = re.search(rf"^\s*(\d+)\s+{ref}", listed, re.MULTILINE).group(1)
    code, out = admin(money, "review", "release", hold_id, "--actor", "e2e-staff")
    assert code == 0 and f"released hold {hold_id}: {ref}" in out, out
    confirmed = alice.next("the confirmation after release")
    assert f"{ref} Confirmed. {kes(5000 * KES)} paid to MAMA MBOGA till {till}" in confirmed
    told = shop.next("the merchant's notice")
    assert f"{ref} Confirmed. {kes(5000 * KES)} received from ALICE A." in told
    money.quiet()
    charged = 5000 * KES + money.tariff.fee_minor("TILL", 5000 * KES)
    assert money.posted(alice.msisdn) == START - charged
    assert money.posted(shop.msisdn) == 5000 * KES - merchant_fee(money, 5000 * KES)
    code, again = admin(money, "review", "release", hold_id)
    assert code == 2 and "released already" in again and again.count("\n") == 1, again
    money.quiet()
    assert money.posted(shop.msisdn) == 5000 * KES - merchant_fee(money, 5000 * KES)
    assert alice.unread() == [] and shop.unread() == []
