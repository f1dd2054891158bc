"""Random, malformed and adversarial texts from registered and unregistered numbers: each gets
exactly one sensible reply, no handler ever fails, no PIN is echoed, and the ledger holds."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from daemon.commands import Role
from daemon.schema import inbox
from tests.daemon.money_world import World
from tests.daemon.test_money_bills import add_biller
from tests.daemon.test_money_tills import add_till

CUSTOMERS = ["254712000001", "254712000002"]
AGENT = "254712000009"
STRANGER = "254712000077"
MERCHANT = "254712000050"
SENDERS = [*CUSTOMERS, AGENT, STRANGER, MERCHANT]
PIN = "1234"
KEYWORDS = ["SEND", "BAL", "MINI", "VERIFY", "YES", "NO", "LANG", "HELP", "DEPOSIT", "WITHDRAW",
            "COLLECT", "REG", "PIN", "PING", "send", "Tuma", "bal", "PAY", "LIPA", "TILL", "BUY",
            "REQ", "REVERSE", "KPLC", "12345678", "123456", "R4821"]  # fmt: skip
NUMBERS = ["0712000002", "254712000001", "+254712000009", "0712 000 077", "0799", "12345678901234"]
AMOUNTS = ["100", "1,000", "1000.50", "-5", "0", "1e9", "99999999999999999999", "10.005", "½"]
WORDS = st.one_of(
    st.sampled_from(KEYWORDS),
    st.sampled_from(NUMBERS),
    st.sampled_from(AMOUNTS),
    st.just(PIN),
    st.from_regex(r"[0-9]{4,6}", fullmatch=True),
    st.from_regex(r"[A-Za-z][0-9]{4}", fullmatch=True),  # request codes
    st.from_regex(r"[A-Z0-9]{10}", fullmatch=True),  # move references
    st.text(min_size=1, max_size=12),  # any script, emoji, control characters
)
# Well-formed commands with odd values: most random word lists never get past the parser.
_PHONE = st.sampled_from(NUMBERS)
_AMOUNT = st.sampled_from(AMOUNTS)
_PINS = st.one_of(st.just(PIN), st.from_regex(r"[0-9]{4,6}", fullmatch=True))
SHAPED = st.one_of(
    st.tuples(st.sampled_from(["KPLC", "kplc", "NOPE", "K"]),
              st.sampled_from(["12345678", "1234567", "ABC", "00000000"]), _AMOUNT, _PINS)
    .map(lambda t: "PAY " + " ".join(t)),
    st.tuples(st.sampled_from(["123456", "999999", "12"]), _AMOUNT, _PINS).map(
        lambda t: "TILL " + " ".join(t)),
    st.tuples(_AMOUNT, st.one_of(st.just(""), _PHONE), _PINS).map(
        lambda t: " ".join(["BUY", *filter(None, t)])),
    st.tuples(_PHONE, _AMOUNT, st.text(max_size=30)).map(lambda t: "REQ " + " ".join(t)),
    st.tuples(st.from_regex(r"[A-Za-z][0-9]{4}", fullmatch=True), _PINS).map(
        lambda t: "PAY " + " ".join(t)),
    st.from_regex(r"[A-Z0-9]{10}", fullmatch=True).map(lambda ref: f"REVERSE {ref}"),
    st.tuples(_PHONE, _AMOUNT, _PINS).map(lambda t: "SEND " + " ".join(t)),
)  # fmt: skip
TEXTS = st.one_of(
    SHAPED,
    st.lists(WORDS, min_size=0, max_size=7).map(" ".join),
    st.text(max_size=1000),
    st.builds(lambda w: (w + " ") * 200, st.sampled_from(["SEND", "1234", "é"])),
)


@pytest.fixture
def world(engine):
    # One world for all of a run's examples: state (balances, locks, held moves) builds up.
    world = World(engine)
    for msisdn in CUSTOMERS:
        world.add(msisdn, balance_minor=50_000)
    world.add(AGENT, Role.AGENT, balance_minor=100_000, agent_number="123456", name="Duka")
    add_biller(world, bills=[("12345678", 10_000)])
    add_till(world, msisdn=MERCHANT)
    return world


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sender=st.sampled_from(SENDERS), text=TEXTS)
def test_every_text_gets_one_sensible_reply(world, sender, text):
    world.advance(1)
    row_id = world.mo(sender, text)
    world.run_tranproc()
    replies = [sms for sms in world.outbox(inbox_id=row_id) if sms.to == sender]
    assert len(replies) == 1, (text, replies)
    reply = replies[0].text
    assert reply.strip() and "Traceback" not in reply
    assert "could not process your request" not in reply, (text, reply)  # no handler failed
    if PIN in text.split():
        assert PIN not in reply.split(), (text, reply)
    with world.engine.begin() as conn:
        status = conn.execute(select(inbox.c.status).where(inbox.c.id == row_id)).scalar()
    assert status == "done"
    if world.outbox(inbox_id=row_id)[0].on_failure:
        world.receipts()
    world.check()
