"""The chaos model and verdict on hand-made evidence: a clean run passes, and each defect a chaos run
is there to find (a double posting, a posting no MO asked for, a wrong fee, a subscriber told the
opposite of what the ledger did, a posting before its confirmation was delivered, a pending
transfer left open or posted late, a failed ledger check) fails the check that names it."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.chaos.driver import PhoneMessage
from daemon.chaos.intents import Intent
from daemon.chaos.model import AGENT_COMMISSION, FEE_INCOME, TRUST, Fees, ModelError
from daemon.chaos.snapshot import Balance, Snapshot
from daemon.chaos.verdict import verdict
from daemon.chaos.world import tariff_text

ALICE, BOB, STORE = "254713000001", "254713000002", "254722000001"
OPENING = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
FEES = Fees.parse(tariff_text())
SEND_FEE = 2_350  # the chaos tariff: KES 23.50 from KES 1,001 to 20,000
BILLER_ACCOUNT = 1_000_001
WALLETS = {ALICE: 101, BOB: 102, STORE: 103}
OK_LEDGER = (0, "ledger ok\ntrust reconciles\n")


def send_intent(intent_id: int = 1, amount: int = 150_000) -> Intent:
    return Intent(intent_id, "send", ALICE, text=f"SEND 0713000002 {amount // 100} 1234",
                  payer=ALICE, payee=BOB, amount_minor=amount, injected_at_s=0.0,
                  acked_at_s=0.1)  # fmt: skip


def move(ref: str = "REF0000001", state: str = "posted", amount: int = 150_000, **kw: Any) -> dict:
    return {"id": 1, "ref": ref, "kind": "send", "state": state, "payer_msisdn": ALICE,
            "payee_msisdn": BOB, "actor_msisdn": None, "amount_minor": amount,
            "audit_id": None, "decided_at_ns": None, "inbox_id": None, **kw}  # fmt: skip


def snapshot(moves: list[dict], balances: dict[str, int], **system: int) -> Snapshot:
    """Accounts holding `balances` (wallets) and `system` (ledger id -> balance); the trust
    account makes the whole ledger sum to zero."""
    accounts = {WALLETS[msisdn]: _balance(amount) for msisdn, amount in balances.items()}
    ids = {"fee": FEE_INCOME, "commission": AGENT_COMMISSION}
    for name, amount in system.items():
        accounts[ids[name]] = _balance(amount)
    accounts[TRUST] = _balance(-sum(balances.values()) - sum(system.values()))
    inbox = [{"id": 1, "source_addr": ALICE, "text": "SEND 0713000002 1500 ****",
              "status": "done", "command": "SEND", "error": None, "ussd_session": None}]  # fmt: skip
    return Snapshot(accounts, WALLETS, {"KPLC": BILLER_ACCOUNT}, moves, inbox, [], {1: 1}, [], {})


def _balance(amount: int) -> Balance:
    return Balance(max(-amount, 0), max(amount, 0), 0, 0)


def confirmed(ref: str = "REF0000001", to: str = ALICE) -> PhoneMessage:
    return PhoneMessage(to, f"{ref} Confirmed. KES 1,500.00 sent to CHAOS C.", 1.0, ("1",))


def judge(snap: Snapshot, messages: list[PhoneMessage], intents: list[Intent] | None = None,
          ledger: tuple[int, str] = OK_LEDGER, quiet: bool = True) -> dict:  # fmt: skip
    return verdict(intents or [send_intent()], snap, messages, OPENING, FEES, ledger, quiet)


def failed(result: dict) -> set[str]:
    return {name for name, check in result["checks"].items() if not check["ok"]}


def posted_send_balances(times: int = 1, fee: int = SEND_FEE) -> dict[str, int]:
    return {ALICE: 1_000_000 - times * (150_000 + fee), BOB: 1_000_000 + times * 150_000,
            STORE: 5_000_000}  # fmt: skip


def test_a_clean_run_passes() -> None:
    result = judge(snapshot([move()], posted_send_balances(), fee=SEND_FEE), [confirmed()])
    assert result["pass"], result
    assert result["checks"]["told_truth"]["confirmations"] == 1


def test_a_declined_send_moves_nothing_and_passes() -> None:
    """The daemon may decline: the model follows its record (no move, or a voided one)."""
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    assert judge(snapshot([], untouched), [])["pass"]
    assert judge(snapshot([move(state="voided")], untouched), [])["pass"]


def test_a_double_posting_fails_exactly_once_and_balances() -> None:
    moves = [move(), move(ref="REF0000002", id=2)]
    result = judge(snapshot(moves, posted_send_balances(2), fee=2 * SEND_FEE), [confirmed()])
    assert {"exactly_once", "balances"} <= failed(result)


def test_a_posting_no_mo_asked_for_fails_exactly_once() -> None:
    stray = move(ref="REF0000009", amount=99_900, id=9)
    balances = {ALICE: 1_000_000 - 99_900 - 700, BOB: 1_000_000 + 99_900, STORE: 5_000_000}
    result = judge(snapshot([stray], balances, fee=700), [], intents=[send_intent()])
    assert "exactly_once" in failed(result)
    assert "no acknowledged MO asked for it" in result["checks"]["exactly_once"]["first"][0]


def test_a_wrong_fee_fails_balances_by_the_difference() -> None:
    result = judge(snapshot([move()], posted_send_balances(fee=700), fee=700), [confirmed()])
    assert failed(result) == {"balances"}
    assert any("(+1650)" in line for line in result["checks"]["balances"]["first"])


def test_posted_but_told_it_did_not_go_through_fails_told_truth() -> None:
    undone = PhoneMessage(ALICE, "REF0000001: your KES 1,500.00 to 0713 000002 did not go "
                          "through. Nothing was taken.", 2.0, ("2",))  # fmt: skip
    result = judge(snapshot([move()], posted_send_balances(), fee=SEND_FEE), [confirmed(), undone])
    assert failed(result) == {"told_truth"}


def test_a_receipt_gated_send_posted_without_its_confirmation_delivered_fails() -> None:
    result = judge(snapshot([move()], posted_send_balances(), fee=SEND_FEE), [])
    assert failed(result) == {"told_truth"}
    assert "without its confirmation" in result["checks"]["told_truth"]["first"][0]


def test_a_voided_send_confirmed_to_its_payer_needs_a_notice_saying_so() -> None:
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    snap = snapshot([move(state="voided")], untouched)
    result = judge(snap, [confirmed()])
    assert failed(result) == {"told_truth"}
    assert "untold" in result["checks"]["told_truth"]["first"][0]
    snap.outbox.append({"id": 9, "inbox_id": None, "destination_addr": ALICE, "status": "failed",
                        "text": "REF0000001: your KES 1,500.00 to 0713 000002 did not go through. "
                                "Nothing was taken."})  # fmt: skip
    assert judge(snap, [confirmed()])["pass"]  # told, even if that SMS was lost in turn


def test_a_confirmed_deposit_that_is_not_posted_fails() -> None:
    deposit = Intent(1, "deposit", STORE, text="DEPOSIT 0713000001 1500 2468", payer=STORE,
                     payee=ALICE, amount_minor=150_000)  # fmt: skip
    voided = move(state="voided", kind="deposit", payer_msisdn=STORE, payee_msisdn=ALICE)
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    result = judge(snapshot([voided], untouched), [confirmed(to=STORE)], intents=[deposit])
    assert failed(result) == {"told_truth"}
    assert "was told it was done" in result["checks"]["told_truth"]["first"][0]


def test_a_recipient_told_of_a_voided_send_fails() -> None:
    told = confirmed(to=BOB)
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    assert failed(judge(snapshot([move(state="voided")], untouched), [told])) == {"told_truth"}


def test_a_confirmation_of_a_move_that_does_not_exist_fails() -> None:
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    assert failed(judge(snapshot([], untouched), [confirmed("NOSUCHREF1")])) == {"told_truth"}


def test_an_acknowledged_mo_missing_from_the_inbox_fails() -> None:
    snap = snapshot([move()], posted_send_balances(), fee=SEND_FEE)
    snap.inbox.clear()
    assert failed(judge(snap, [confirmed()])) == {"exactly_once"}


def test_pending_left_open_or_posted_after_its_timeout_fails() -> None:
    snap = snapshot([move()], posted_send_balances(), fee=SEND_FEE)
    snap.pendings.append(
        {"transfer_id": 7, "status": 1, "expires_at_ns": 10, "resolved_at_ns": None}
    )
    snap.pendings.append({"transfer_id": 8, "status": 2, "expires_at_ns": 10**9,
                          "resolved_at_ns": 3 * 10**9})  # fmt: skip
    result = judge(snap, [confirmed()])
    assert failed(result) == {"pending"}
    assert result["checks"]["pending"]["failures"] == 2


def test_a_failed_ledger_check_or_no_rest_fails() -> None:
    snap = snapshot([move()], posted_send_balances(), fee=SEND_FEE)
    assert failed(judge(snap, [confirmed()], ledger=(1, "hash chain broken"))) == {"conservation"}
    assert failed(judge(snap, [confirmed()], quiet=False)) == {"quiet"}


@pytest.mark.parametrize(
    ("table", "amount_minor", "charge_minor"),
    [
        ("send_registered", 10_099, 0),  # KES 100.99 is still in the band up to 100
        ("send_registered", 10_100, 700),
        ("send_registered", 100_099, 700),
        ("send_registered", 100_100, 2_350),
        ("withdraw", 5_000, 2_800),
    ],
)
def test_the_models_fee_bands_include_both_ends_and_their_cents(
    table: str, amount_minor: int, charge_minor: int
) -> None:
    assert FEES.charge("fees", table, amount_minor) == charge_minor


def test_the_model_refuses_an_amount_outside_every_band() -> None:
    with pytest.raises(ModelError):
        FEES.charge("fees", "withdraw", 100)


def confirmation_row(deliver_by_ns: int, final_at_ns: int | None) -> dict:
    return {"id": 5, "inbox_id": 1, "destination_addr": ALICE, "status": "delivered",
            "text": "REF0000001 Confirmed. KES 1,500.00 sent to CHAOS C.", "on_failure": "move",
            "on_failure_ref": 1, "ussd_op": None, "deliver_by_ns": deliver_by_ns,
            "final_at_ns": final_at_ns}  # fmt: skip


def test_a_send_posted_on_a_receipt_after_its_deadline_fails_pending() -> None:
    snap = snapshot([move(decided_at_ns=5 * 10**9)], posted_send_balances(), fee=SEND_FEE)
    snap.outbox.append(confirmation_row(deliver_by_ns=4 * 10**9, final_at_ns=4 * 10**9))
    assert judge(snap, [confirmed()])["pass"]  # stored at the deadline: in time
    snap.outbox[0]["final_at_ns"] = 4 * 10**9 + 1
    result = judge(snap, [confirmed()])
    assert failed(result) == {"pending"}
    assert "after its deadline" in result["checks"]["pending"]["first"][0]


def test_a_move_decided_long_after_its_deadline_fails_unless_the_daemon_was_down() -> None:
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    snap = snapshot([move(state="voided", decided_at_ns=34 * 10**9)], untouched)
    snap.outbox.append(confirmation_row(deliver_by_ns=4 * 10**9, final_at_ns=None))
    assert failed(judge(snap, [])) == {"pending"}
    down = [(5.0, 31.0)]  # the daemon was down 26 s of the 30 s after the deadline
    assert verdict([send_intent()], snap, [], OPENING, FEES, OK_LEDGER, True, down)["pass"]
    elsewhere = [(40.0, 66.0)]  # as long, but after the decision: no excuse
    assert not verdict([send_intent()], snap, [], OPENING, FEES, OK_LEDGER, True, elsewhere)["pass"]


def test_an_unasked_move_from_replayed_ussd_answers_is_reported_unless_it_posted() -> None:
    stray = move(ref="REF0000009", amount=100, id=9, state="voided", inbox_id=2)
    untouched = {ALICE: 1_000_000, BOB: 1_000_000, STORE: 5_000_000}
    snap = snapshot([stray], untouched)
    snap.inbox.append({"id": 2, "source_addr": ALICE, "text": "****", "status": "done",
                       "command": None, "error": None, "ussd_session": "167"})  # fmt: skip
    result = judge(snap, [], intents=[send_intent()])
    assert result["pass"] and result["checks"]["exactly_once"]["ussd_dialogues_replayed"] == 1
    stray["state"] = "posted"
    assert "exactly_once" in failed(judge(snap, [], intents=[send_intent()]))


def test_two_moves_for_one_sms_fail_but_a_replayed_dialogue_only_if_both_posted() -> None:
    moves = [move(), move(ref="REF0000002", id=2, state="voided")]
    snap = snapshot(moves, posted_send_balances(), fee=SEND_FEE)
    assert failed(judge(snap, [confirmed()])) == {"exactly_once"}
    dialogue = Intent(1, "ussd_send", ALICE, payer=ALICE, payee=BOB, amount_minor=150_000)
    result = judge(snap, [confirmed()], intents=[dialogue])
    assert result["pass"] and result["checks"]["exactly_once"]["ussd_dialogues_replayed"] == 1
    snap.moves[1]["state"] = "posted"
    assert "exactly_once" in failed(judge(snap, [confirmed()], intents=[dialogue]))
