"""REVERSE through the TranProc and the staff's decisions: the hold, approval (a new transfer back to
the payer), rejection (the hold released), asked twice, a reversal of a reversal, a recipient who had
spent the money, the window, who may ask, the kinds that cannot be reversed, a re-delivered MO; and
till and bill payments (made here directly: their flows live in other modules). Every test ends with
the ledger checked and the trust account reconciled, and checks them after each step too."""

import threading

import pytest
from sqlalchemy import insert, select, text

from daemon.audit import list_txn
from daemon.chart import (
    BILLER_ID_BASE,
    SystemAccount,
    TransferCode,
    deposit_txn,
    new_transfer_id,
    wallet_account_id,
)
from daemon.commands import Role
from daemon.money.common import money_env
from daemon.money.moves import (
    Leg,
    MoveKind,
    MoveRequest,
    MoveState,
    find_move_by_ref_txn,
    get_move_txn,
    open_move_txn,
)
from daemon.money.reversal_decisions import (
    AlreadyDecided,
    NoSuchReversal,
    Staff,
    StillUnfunded,
    approve_txn,
    reject_txn,
)
from daemon.money.reversal_records import (
    ReversalState,
    reversal_by_ref_txn,
    reversal_of_move_txn,
)
from daemon.outbox import OutboxStatus
from daemon.schema import inbox, moves
from ledger import Account, AccountCode, AccountFlags, create_accounts, get_balance
from tests.daemon.money_world import SHORT_CODE, World

ALICE, BOB, CAROL, STORE, SHOP = (
    "254712000001",
    "254712000002",
    "254712000003",
    "254722000100",
    "254733000100",
)
KES = 100
WALLET = 10_000 * KES
HOUR_S = 3600


@pytest.fixture
def world(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    world.add(CAROL, name="Carol Chebet")
    world.add(STORE, Role.AGENT, balance_minor=50_000 * KES, name="Duka", agent_number="123456")
    yield world
    world.check()


def send(world, amount, to="0712000002", sender=ALICE):
    reply = world.sms(sender, f"SEND {to} {amount} 1234")
    world.receipts()
    return reply.split()[0]


def fee(world, amount_minor):
    from daemon.money.tariff import RecipientKind

    return money_env(world.config).tariff.fee_minor("SEND", amount_minor, RecipientKind.REGISTERED)


def staff(world):
    return Staff(world.config, "tester")


def approve(world, ref, note=""):
    with world.engine.begin() as conn:
        return approve_txn(conn, staff(world), ref, note, world.now_ns)


def reject(world, ref, reason="not a mistake"):
    with world.engine.begin() as conn:
        return reject_txn(conn, staff(world), ref, reason, world.now_ns)


def reversal(world, ref):
    with world.engine.begin() as conn:
        return reversal_by_ref_txn(conn, ref)


def move(world, move_id=None, ref=None):
    with world.engine.begin() as conn:
        if ref is not None:
            return find_move_by_ref_txn(conn, ref)
        return conn.execute(select(moves).where(moves.c.id == move_id)).one()


def kinds(world):
    with world.engine.begin() as conn:
        return [row.kind for row in conn.execute(select(moves).order_by(moves.c.id))]


def suspense(world):
    with world.engine.begin() as conn:
        found = get_balance(conn, int(SystemAccount.REVERSAL_SUSPENSE))
    return found.credits_posted - found.debits_posted, found.credits_pending


def account_balance(world, account_id):
    with world.engine.begin() as conn:
        return get_balance(conn, account_id).available


# --- asked, then approved or rejected


def test_approved_gives_the_amount_back_by_a_new_transfer(world):
    ref = send(world, 500)
    charged = 500 * KES + fee(world, 500 * KES)
    reply = world.sms(ALICE, f"REVERSE {ref.lower()}")
    assert reply == (
        f"Reversal of {ref} asked. KES 500.00 is held from JANE W. 0712 000002; staff will decide "
        "and SMS you. The fee is not refunded."
    )
    assert world.last_to(BOB) == (
        f"{ref}: ALICE A. 0712 000001 says the KES 500.00 sent to you was a mistake. It is held "
        "until staff decide; we will SMS you."
    )
    assert world.balance(BOB) == 0 and suspense(world) == (0, 500 * KES)  # held, not moved
    assert "Not enough money" in world.sms(BOB, "SEND 0712000003 100 1234")
    found = reversal(world, ref)
    assert found.state is ReversalState.HELD and found.requester_msisdn == ALICE
    world.check()
    decided = approve(world, ref, note="checked with both")
    refund = decided.refund
    assert (refund.kind, refund.state, refund.detail) == (MoveKind.REVERSAL, MoveState.POSTED, ref)
    assert refund.ref != ref and refund.payee_msisdn == ALICE
    assert world.balance(ALICE) == WALLET - charged + 500 * KES  # the fee is kept
    assert world.balance(BOB) == 0 and suspense(world) == (0, 0)
    assert move(world, found.hold_move_id).state == "posted"
    assert move(world, ref=ref).state is MoveState.POSTED  # the original is never edited
    assert world.last_to(ALICE) == (
        f"{refund.ref} Confirmed. Reversal of {ref}: KES 500.00 is back in your wallet. "
        f"New balance KES {(WALLET - charged + 500 * KES) / KES:,.2f}."
    )
    hold_ref = move(world, found.hold_move_id).ref
    assert world.last_to(BOB) == (
        f"{hold_ref}: the KES 500.00 held from you for {ref} was given back to ALICE A. "
        "0712 000001. New balance KES 0.00."
    )
    assert reversal(world, ref).state is ReversalState.APPROVED
    with world.engine.begin() as conn:
        [entry] = list_txn(conn, target=ALICE)
    assert (entry.action, entry.move_ref, entry.actor) == ("reversal.approve", refund.ref, "tester")
    assert "note: checked with both" in entry.detail
    world.check()


def test_mini_and_verify_name_what_a_reversal_reversed(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    hold_ref = move(world, reversal(world, ref).hold_move_id).ref
    assert f"{hold_ref} is genuine: KES 500.00 from JANE W. 0712 000002 to held for the " in (
        world.sms(BOB, f"VERIFY {hold_ref}")
    )
    assert f"-500* {hold_ref}" in world.sms(BOB, "MINI 1234")
    refund = approve(world, ref).refund
    verified = world.sms(ALICE, f"VERIFY {refund.ref}")
    assert verified.startswith(
        f"{refund.ref} is genuine: KES 500.00 from smscore to ALICE A. 0712 000001, reversal of "
        f"{ref} on "
    )
    assert verified.endswith(", completed.")
    assert f"reversal of {ref}" in world.sms(BOB, f"VERIFY {refund.ref}")  # the other party
    assert "no such transaction" in world.sms(CAROL, f"VERIFY {refund.ref}")
    assert f"+500 {refund.ref}" in world.sms(ALICE, "MINI 1234")
    mini = world.sms(BOB, "MINI 1234")
    assert f"-500 {hold_ref}" in mini and refund.ref not in mini  # taken once, not twice


def test_rejected_releases_the_hold(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    hold_id = reversal(world, ref).hold_move_id
    alice_before = world.balance(ALICE)
    reject(world, ref, reason="Bob sold goods")
    assert world.balance(BOB) == 500 * KES and world.balance(ALICE) == alice_before
    assert suspense(world) == (0, 0)
    assert move(world, hold_id).state == "declined"
    found = reversal(world, ref)
    assert (found.state, found.reason, found.decided_by) == (
        ReversalState.REJECTED,
        "Bob sold goods",
        "tester",
    )
    assert world.last_to(ALICE).startswith(
        f"Your request to reverse {ref} (KES 500.00) was refused after review. Nothing moved."
    )
    assert "is released and yours to use. New balance KES 500.00." in world.last_to(BOB)
    assert "Confirmed" in world.sms(BOB, "SEND 0712000003 100 1234")  # Bob may spend it again
    world.receipts()
    with world.engine.begin() as conn:
        [entry] = list_txn(conn, target=ALICE)
    assert entry.action == "reversal.reject" and "Bob sold goods" in entry.detail


def test_a_hold_waits_for_staff_whatever_the_settler_and_sweeper_do(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    for _ in range(3):
        world.advance(HOUR_S * 30)
        world.receipts()  # settle and sweep
    hold = move(world, reversal(world, ref).hold_move_id)
    assert hold.state == "pending" and suspense(world) == (0, 500 * KES)
    approve(world, ref)
    assert suspense(world) == (0, 0)


# --- once per transaction, never a reversal


def test_asked_twice(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    assert world.sms(ALICE, f"REVERSE {ref}").startswith(f"You asked to reverse {ref} on 1/12/25")
    assert kinds(world).count("reversal_hold") == 1 and suspense(world) == (0, 500 * KES)
    approve(world, ref)
    assert world.sms(ALICE, f"REVERSE {ref}").startswith(f"{ref} was already reversed on ")
    assert kinds(world).count("reversal") == 1


def test_asked_again_after_a_rejection(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    reject(world, ref)
    assert world.sms(ALICE, f"REVERSE {ref}").startswith(f"Your request to reverse {ref} was ref")
    assert kinds(world).count("reversal_hold") == 1 and world.balance(BOB) == 500 * KES


def test_a_reversal_of_a_reversal_is_refused(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    hold_ref = move(world, reversal(world, ref).hold_move_id).ref
    refused = f"{hold_ref} is a reversal, and a reversal cannot be reversed."
    assert world.sms(BOB, f"REVERSE {hold_ref}").startswith(refused)  # Bob pays the hold
    assert world.sms(ALICE, f"REVERSE {hold_ref}").startswith(refused)
    refund = approve(world, ref).refund
    assert world.sms(ALICE, f"REVERSE {refund.ref}").startswith(f"{refund.ref} is a reversal")
    assert world.sms(BOB, f"REVERSE {refund.ref}").startswith(f"{refund.ref} is a reversal")
    assert kinds(world).count("reversal_hold") == 1 and kinds(world).count("reversal") == 1


def test_staff_decide_once(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    approve(world, ref)
    before = (kinds(world), world.balance(ALICE), len(world.texts_to(ALICE)))
    with pytest.raises(AlreadyDecided, match=f"the reversal of {ref} was already approved on "):
        approve(world, ref)
    with pytest.raises(AlreadyDecided, match="already approved"):
        reject(world, ref)
    assert (kinds(world), world.balance(ALICE), len(world.texts_to(ALICE))) == before
    other = send(world, 300)
    world.sms(ALICE, f"REVERSE {other}")
    reject(world, other)
    with pytest.raises(AlreadyDecided, match="already rejected"):
        approve(world, other)
    assert world.balance(BOB) == 300 * KES
    with pytest.raises(NoSuchReversal):
        approve(world, "ABCDEFGHJK")
    with pytest.raises(NoSuchReversal):  # a payment nobody asked back
        approve(world, send(world, 200))


def test_staff_may_name_the_hold_instead_of_the_payment(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    hold_ref = move(world, reversal(world, ref).hold_move_id).ref
    assert approve(world, hold_ref).original.ref == ref


# --- the recipient had spent it


def test_the_recipient_had_spent_it(world):
    ref = send(world, 500)
    send(world, 400, to="0712000003", sender=BOB)
    reply = world.sms(ALICE, f"REVERSE {ref}")
    assert reply == (
        f"Reversal of {ref} asked, but JANE W. 0712 000002 no longer has the KES 500.00, so it "
        "cannot be held now. Staff will contact you."
    )
    assert "Please keep it aside; staff will contact you." in world.last_to(BOB)
    found = reversal(world, ref)
    assert (found.state, found.hold_move_id) == (ReversalState.UNFUNDED, None)
    assert "reversal_hold" not in kinds(world)
    bob_before = world.balance(BOB)
    world.check()
    with pytest.raises(StillUnfunded, match="still cannot be held: 254712000002 has KES "):
        approve(world, ref)
    assert world.balance(BOB) == bob_before and "reversal_hold" not in kinds(world)
    assert reversal(world, ref).state is ReversalState.UNFUNDED
    with world.engine.begin() as conn:  # Bob is paid again: now it can be held and given back
        deposit_txn(
            conn,
            wallet_account_id(BOB),
            1_000 * KES,
            "KES",
            world.now_ns,
            transfer_id=new_transfer_id(),
            user_data="test",
        )
    alice_before = world.balance(ALICE)
    decided = approve(world, ref)
    assert world.balance(ALICE) == alice_before + 500 * KES
    assert world.balance(BOB) == bob_before + 500 * KES
    found = reversal(world, ref)
    assert found.state is ReversalState.APPROVED and found.hold_move_id is not None
    assert move(world, found.hold_move_id).state == "posted"
    assert decided.refund.ref in world.last_to(ALICE)


def test_an_unfunded_request_rejected_tells_both(world):
    ref = send(world, 500)
    send(world, 400, to="0712000003", sender=BOB)
    assert "cannot be held now" in world.sms(ALICE, f"REVERSE {ref}")
    reject(world, ref)
    assert "refused after review" in world.last_to(ALICE)
    assert world.last_to(BOB) == (
        f"{ref}: the request to give back KES 500.00 is closed. Nothing more is asked of you."
    )


# --- when, who, what


@pytest.mark.parametrize(("hours", "allowed"), [(23.99, True), (24.01, False)])
def test_the_window(world, hours, allowed):
    ref = send(world, 500)
    world.advance(hours * HOUR_S)
    reply = world.sms(ALICE, f"REVERSE {ref}")
    if allowed:
        assert reply.startswith(f"Reversal of {ref} asked.")
        reject(world, ref)
    else:
        assert reply == (
            f"{ref} was on 1/12/25 15:00. A payment can be reversed only within 24 hours of it. "
            "Call customer care."
        )
        assert reversal(world, ref) is None and "reversal_hold" not in kinds(world)


def test_a_shorter_window_from_the_config(engine):
    world = World(engine, reversal_window_hours=0.5)
    world.add(ALICE, balance_minor=WALLET)
    world.add(BOB)
    ref = send(world, 500)
    world.advance(HOUR_S)
    assert "only within 0.5 hours" in world.sms(ALICE, f"REVERSE {ref}")
    world.check()


def test_only_the_payer_may_ask_and_strangers_learn_nothing(world):
    ref = send(world, 500)
    none = "no payment from your number has this reference"
    assert world.sms(BOB, f"REVERSE {ref}") == (  # the recipient
        f"{ref}: {none}. Check the reference in your confirmation SMS."
    )
    assert world.sms(CAROL, f"REVERSE {ref}") == world.sms(BOB, f"REVERSE {ref}")  # a stranger
    assert world.sms(ALICE, "REVERSE ABCDEFGHJK").startswith(f"ABCDEFGHJK: {none}")
    assert world.sms(ALICE, "REVERSE abcdefghjkmnpqrs").startswith(f"ABCDEFGHJKMN: {none}")
    assert "reversal_hold" not in kinds(world)


def test_an_agent_cannot_ask(world):
    ref = send(world, 500)
    assert world.sms(STORE, f"REVERSE {ref}").startswith(
        "REVERSE is not available for your account"
    )
    assert "reversal_hold" not in kinds(world)


def test_cash_and_vouchers_are_refused(world):
    withdrawn = world.sms(ALICE, "WITHDRAW 123456 500 1234").split()[0]
    deposited = world.sms(STORE, "DEPOSIT 0712000001 500 2468").split()[0]
    world.receipts()
    voucher = send(world, 200, to="0712999999")
    assert world.sms(ALICE, f"REVERSE {withdrawn}").startswith(
        f"{withdrawn} was cash at an agent, so it cannot be reversed by SMS."
    )
    assert "no payment from your number" in world.sms(ALICE, f"REVERSE {deposited}")
    assert "comes back to you by itself" in world.sms(ALICE, f"REVERSE {voucher}")
    assert "reversal_hold" not in kinds(world)


def test_airtime_and_staff_issues_are_refused(world):
    with world.engine.begin() as conn:
        bought = open_move_txn(
            conn,
            MoveRequest(
                MoveKind.AIRTIME,
                ALICE,
                None,
                100 * KES,
                [
                    Leg(
                        wallet_account_id(ALICE),
                        int(SystemAccount.AIRTIME_SETTLEMENT),
                        100 * KES,
                        TransferCode.AIRTIME,
                    )
                ],
                detail="0712000001",
            ),
            currency="KES",
            now_ns=world.now_ns,
        )
    assert world.sms(ALICE, f"REVERSE {bought.ref}") == (
        f"{bought.ref} bought airtime, and airtime cannot be reversed."
    )


def test_not_yet_posted_and_never_posted(world):
    pending = world.sms(ALICE, "SEND 0712000002 500 1234").split()[0]
    assert world.sms(ALICE, f"REVERSE {pending}") == (
        f"{pending} is not complete yet. Wait for its confirmation SMS, then send REVERSE "
        f"{pending} if it was a mistake."
    )
    world.receipts(OutboxStatus.FAILED)
    assert world.sms(ALICE, f"REVERSE {pending}").startswith(
        f"{pending} did not go through: no money moved"
    )
    assert "reversal_hold" not in kinds(world)


def test_a_redelivered_reverse_holds_once(world):
    ref = send(world, 500)
    with world.engine.begin() as conn:
        for _ in range(2):
            conn.execute(
                insert(inbox).values(
                    received_at_ns=world.now_ns,
                    bind_name="smsc1",
                    source_addr=ALICE,
                    destination_addr=SHORT_CODE,
                    data_coding=0,
                    payload=b"REVERSE " + ref.encode(),
                    text=f"REVERSE {ref}",
                    dedupe_key="same-mo",
                    status="new",
                    attempts=0,
                )
            )
    world.run_tranproc()
    first, again = world.texts_to(ALICE)[-2:]
    assert first.startswith(f"Reversal of {ref} asked.")
    assert again.startswith("You sent this message already")
    assert kinds(world).count("reversal_hold") == 1 and suspense(world) == (0, 500 * KES)
    assert len([t for t in world.texts_to(BOB) if "was a mistake" in t]) == 1
    reject(world, ref)


# --- till and bill payments: held from the merchant's wallet or the biller's account


def till_payment(world, amount_minor, merchant_fee_minor):
    with world.engine.begin() as conn:
        shop = wallet_account_id(SHOP)
        legs = [
            Leg(wallet_account_id(ALICE), shop, amount_minor, TransferCode.MERCHANT_PAYMENT),
            Leg(shop, int(SystemAccount.FEE_INCOME), merchant_fee_minor, TransferCode.FEE),
        ]
        request = MoveRequest(MoveKind.TILL, ALICE, SHOP, amount_minor, legs, detail="555123")
        return open_move_txn(conn, request, currency="KES", now_ns=world.now_ns)


def test_a_till_payment_is_held_from_the_merchant_less_its_fee(world):
    world.add(SHOP, Role.BILLER, name="Mama Shop")
    paid = till_payment(world, 1_000 * KES, 20 * KES)
    assert world.balance(SHOP) == 980 * KES
    reply = world.sms(ALICE, f"REVERSE {paid.ref}")
    assert reply.startswith(f"Reversal of {paid.ref} asked. KES 980.00 is held from MAMA S.")
    assert "ALICE A. 0712 000001 says the KES 980.00" in world.last_to(SHOP)
    assert world.balance(SHOP) == 0
    world.check()
    approve(world, paid.ref)
    assert world.balance(ALICE) == WALLET - 20 * KES and world.balance(SHOP) == 0
    assert "was given back to ALICE A." in world.last_to(SHOP)


def test_an_unfunded_till_reversal_rejected_names_what_the_merchant_got(world):
    world.add(SHOP, Role.BILLER, name="Mama Shop")
    paid = till_payment(world, 1_000 * KES, 20 * KES)
    with world.engine.begin() as conn:  # the shop spends it: nothing can be held
        leg = Leg(wallet_account_id(SHOP), wallet_account_id(BOB), 900 * KES, TransferCode.P2P)
        spent = MoveRequest(MoveKind.SEND, SHOP, BOB, 900 * KES, [leg])
        open_move_txn(conn, spent, currency="KES", now_ns=world.now_ns)
    assert "cannot be held now" in world.sms(ALICE, f"REVERSE {paid.ref}")
    reject(world, paid.ref)
    assert "KES 980.00" in world.last_to(SHOP) and "KES 1,000.00" not in world.last_to(SHOP)
    world.check()


def test_a_bill_payment_is_held_from_the_billers_account(world):
    biller = BILLER_ID_BASE + 7
    with world.engine.begin() as conn:
        create_accounts(
            conn,
            [
                Account(
                    biller,
                    "KES",
                    int(AccountCode.BILLER_SETTLEMENT),
                    AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                    "biller:KPLC",
                )
            ],
            world.now_ns,
        )
        legs = [Leg(wallet_account_id(ALICE), biller, 1_500 * KES, TransferCode.BILL_PAYMENT)]
        request = MoveRequest(MoveKind.BILL, ALICE, None, 1_500 * KES, legs, detail="KPLC 12345678")
        paid = open_move_txn(conn, request, currency="KES", now_ns=world.now_ns)
    reply = world.sms(ALICE, f"REVERSE {paid.ref}")
    assert reply.startswith(
        f"Reversal of {paid.ref} asked. KES 1,500.00 is held from KPLC 12345678;"
    )
    assert account_balance(world, biller) == 0
    world.check()
    reject(world, paid.ref)
    assert account_balance(world, biller) == 1_500 * KES
    assert world.balance(ALICE) == WALLET - 1_500 * KES
    assert "refused after review" in world.last_to(ALICE)


def test_a_second_reverse_and_a_staff_decision_lock_in_one_order(pg_engine):
    # REVERSE locks the payment, then its reversal row; a decision taking them the other way round
    # deadlocks with a REVERSE sent again meanwhile (PostgreSQL aborts one of the two).
    world = World(pg_engine)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    original = move(world, ref=ref)
    decided, errors = [], []

    def decide():
        try:
            decided.append(approve(world, ref))
        except BaseException as exc:
            errors.append(exc)

    decider = threading.Thread(target=decide)
    with pg_engine.connect() as conn:
        with conn.begin():
            get_move_txn(conn, original.id, lock=True)  # as a second REVERSE of it does first
            decider.start()
            _wait_for_a_lock_wait(pg_engine)
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            found = reversal_of_move_txn(conn, original.id, lock=True)  # and then this
            assert found is not None
        decider.join(30)
    assert errors == [] and len(decided) == 1
    assert reversal(world, ref).state is ReversalState.APPROVED
    world.check()


def _wait_for_a_lock_wait(engine):
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    with engine.connect() as conn:
        for _ in range(5000):
            if conn.execute(query).scalar():
                return
            conn.rollback()  # a fresh snapshot of pg_stat_activity each time
    raise AssertionError("the decision never waited for the payment's lock")


def test_a_payment_with_no_fee_does_not_say_the_fee_is_kept(world):
    ref = send(world, 100)  # the tariff's first band: free
    reply = world.sms(ALICE, f"REVERSE {ref}")
    assert reply.startswith(f"Reversal of {ref} asked.") and "fee" not in reply.lower()
    world.check()


def test_verify_of_a_reversed_payment_says_it_was_reversed(world):
    ref = send(world, 500)
    world.sms(ALICE, f"REVERSE {ref}")
    assert world.sms(ALICE, f"VERIFY {ref}").endswith("completed.")
    approve(world, ref)
    assert world.sms(ALICE, f"VERIFY {ref}").endswith("completed, then reversed.")
    world.check()
