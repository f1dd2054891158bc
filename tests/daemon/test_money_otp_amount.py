"""A SEND above security.otp_amount_above_minor waits for a one-time password sent by SMS
(daemon.security.amount_otp): right once, wrong ones counted and locked, reused or expired ones
refused, one per re-delivered MO. Every test ends with the ledger checked and trust reconciled."""

import re

import pytest
from sqlalchemy import select

from daemon import replies
from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.schema import moves, one_time_codes
from daemon.tranproc import TranProcEnv
from smscore.text import gsm7_septet_length
from tests.daemon.fraud_world import redeliver
from tests.daemon.money_world import HASHER, SHORT_CODE, World

ALICE, BOB = "254712000001", "254712000002"
KES = 100
WALLET = 10_000 * KES
SEND_BIG = "SEND 0712000002 5000 1234"  # above the OTP threshold
WRONG = "WRONG"


def otp_world(engine, digits=6, fraud=True, **money):
    world = World(engine)
    world.config = build_config(
        {
            "fraud": {"enabled": fraud},
            "money": {"confirm_above_minor": 1_000 * KES, **money},
            "security": {"otp_amount_above_minor": 3_000 * KES, "otp_digits": digits},
            "sender": {"source_addr": SHORT_CODE},
        }
    )
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    world.add(ALICE, balance_minor=WALLET, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    return world


@pytest.fixture
def world(engine):
    world = otp_world(engine)
    yield world
    world.check()


def otp_in(text, digits=6):
    return re.search(rf"YES (\d{{{digits}}})\b", text).group(1)


def other(code):
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def move_states(world):
    with world.engine.begin() as conn:
        return [row.state for row in conn.execute(select(moves.c.state).order_by(moves.c.id))]


def otp_rows(world):
    with world.engine.begin() as conn:
        query = select(one_time_codes).where(one_time_codes.c.purpose == "otp_amount")
        return conn.execute(query).all()


def test_the_right_otp_posts_the_send_once(world):
    ask = world.sms(ALICE, SEND_BIG)
    assert ask.startswith("Send KES 5,000.00 to JANE W. 0712 000002?")
    assert "within 5 min" in ask and "Never share" in ask
    assert world.balance(ALICE) < WALLET - 5_000 * KES + 1  # reserved meanwhile
    code = otp_in(ask)
    world.advance(200)  # past money.confirm_timeout_s (120), within security.otp_ttl_s (300)
    assert "Confirmed" in world.sms(ALICE, f"YES {code}")
    world.receipts()
    assert world.balance(BOB) == 5_000 * KES
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")  # used up
    world.receipts()
    assert world.balance(BOB) == 5_000 * KES
    assert move_states(world) == ["posted"]


def test_a_wrong_otp_is_refused_and_counted(world):
    code = otp_in(world.sms(ALICE, SEND_BIG))
    reply = world.sms(ALICE, f"YES {other(code)}")
    assert reply.startswith(
        "Wrong code. Nothing was sent. Wrong codes left before the payment is cancelled: 2"
    )
    assert [row.failures for row in otp_rows(world)] == [1]
    assert move_states(world) == ["confirming"]
    assert "Confirmed" in world.sms(ALICE, f"YES {code}")
    world.receipts()
    assert world.balance(BOB) == 5_000 * KES


def test_too_many_wrong_otps_release_the_send_and_say_so(world):
    code = otp_in(world.sms(ALICE, SEND_BIG))
    world.sms(ALICE, f"YES {other(code)}")
    world.sms(ALICE, "YES 0000")  # any YES code counts while an OTP waits
    told = world.sms(ALICE, f"YES {other(code)}")
    assert "too many wrong codes" in told and "KES 5,000.00 to 0712 000002 was cancelled" in told
    assert "in 15 min" in told  # security.otp_lockout_s
    assert world.balance(ALICE) == WALLET
    assert move_states(world) == ["voided"]
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")  # the right one, too late
    # No new OTP meanwhile (the lockout is also a fraud rule's signal: daemon.security.fraud_rules).
    assert "Never share" not in world.sms(ALICE, SEND_BIG)
    assert world.balance(ALICE) == WALLET


def test_no_new_otp_while_locked(engine):
    world = otp_world(engine, fraud=False)  # else the lockout's fraud rule answers first
    code = otp_in(world.sms(ALICE, SEND_BIG))
    for _ in range(world.config.security.otp_max_attempts):
        world.sms(ALICE, f"YES {other(code)}")
    assert world.sms(ALICE, SEND_BIG).startswith("Too many wrong codes. Nothing was sent.")
    assert world.balance(ALICE) == WALLET and move_states(world) == ["voided"]
    world.advance(world.config.security.otp_lockout_s)
    assert "Never share" in world.sms(ALICE, SEND_BIG)
    world.check()


def test_an_expired_otp_send_is_released_and_said(world):
    code = otp_in(world.sms(ALICE, SEND_BIG))
    world.advance(world.config.security.otp_ttl_s + 1)
    world.settle()
    assert "did not confirm" in world.last_to(ALICE)
    assert world.balance(ALICE) == WALLET
    assert move_states(world) == ["expired"]
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")
    assert world.balance(BOB) == 0


def test_below_the_otp_threshold_no_otp(world):
    ask = world.sms(ALICE, "SEND 0712000002 2000 1234")  # above money.confirm_above_minor only
    code = re.search(r"YES (\d+)", ask).group(1)
    assert len(code) == 4 and "Never share" not in ask
    assert "Confirmed" in world.sms(ALICE, f"YES {code}")
    assert "Confirmed" in world.sms(ALICE, "SEND 0712000002 500 1234")  # below both
    world.receipts()
    assert world.balance(BOB) == 2_500 * KES
    assert otp_rows(world) == []


def test_a_redelivered_mo_issues_one_otp(world):
    first = redeliver(world, ALICE, SEND_BIG, "k1")
    second = redeliver(world, ALICE, SEND_BIG, "k1")
    assert len(otp_rows(world)) == 1 and move_states(world) == ["confirming"]
    asked = [world.outbox(inbox_id=row_id)[0].text for row_id in (first, second)]
    assert "Send KES 5,000.00" in asked[0] and "Send KES 5,000.00" in asked[1]
    assert world.balance(ALICE) >= WALLET - 5_000 * KES - 500 * KES  # reserved once
    assert "Confirmed" in world.sms(ALICE, f"YES {otp_in(asked[0])}")
    world.receipts()
    assert world.balance(BOB) == 5_000 * KES


def test_a_second_large_send_waits_for_the_first(world):
    code = otp_in(world.sms(ALICE, SEND_BIG))
    assert world.sms(ALICE, "SEND 0712000002 4000 1234").startswith("A payment is waiting")
    assert move_states(world) == ["confirming"]
    assert "Confirmed" in world.sms(ALICE, f"YES {code}")


def test_no_with_the_otp_cancels_and_uses_it_up(world):
    code = otp_in(world.sms(ALICE, SEND_BIG))
    assert "cancelled" in world.sms(ALICE, f"NO {code}")
    assert world.balance(ALICE) == WALLET and move_states(world) == ["declined"]
    assert [row.code_hmac for row in otp_rows(world)] == [b""]
    assert "matches nothing" in world.sms(ALICE, f"YES {code}")


def test_a_refused_large_send_leaves_no_live_otp(world):
    reply = world.sms(ALICE, "SEND 0712000002 9990 1234")  # the fee makes it more than the wallet
    assert "Never share" not in reply and move_states(world) == []
    assert [row.code_hmac for row in otp_rows(world)] == [b""]
    assert "Never share" in world.sms(ALICE, SEND_BIG)  # a refusal does not lock anything


def test_eight_digit_otps_are_taken_by_yes(engine):
    world = otp_world(engine, digits=8)
    code = otp_in(world.sms(ALICE, SEND_BIG), digits=8)
    assert "Confirmed" in world.sms(ALICE, f"YES {code}")
    assert "4 to 8 digits" in world.sms(ALICE, "YES 123456789")
    world.receipts()
    assert world.balance(BOB) == 5_000 * KES
    world.check()


@pytest.mark.parametrize("language", replies.LANGUAGES)
@pytest.mark.parametrize(
    "key", ["otp_send_confirm", "otp_wrong", "otp_locked_released", "otp_locked", "otp_waiting"]
)
def test_otp_replies_fit_one_sms_with_long_waits(language, key):
    worst = {
        "amount": "KES 250,000.00",
        "fee": "KES 350.00",
        "name": "WANJIKUMUTHONI K.",
        "phone": "0712 345678",
        "code": "48213795",
        "ref": "QK7A2B9XYZ",
        "remaining": 9,
        "minutes": 1440,  # security.otp_lockout_s of a day
    }
    fields = replies.template_fields(replies.template(language, key))
    text = replies.render(language, key, **{name: worst[name] for name in fields})
    assert gsm7_septet_length(text) <= 160, f"{len(text)}: {text}"
