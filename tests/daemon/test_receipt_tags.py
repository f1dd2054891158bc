"""Tags on the money confirmations, through the TranProc: the sender's confirmation and the
recipient's notice carry one that `verify_tag` accepts for the move's reference, amount, parties and
minute; a notice that nothing moved carries none; a rotation while running signs with the new key;
no tagged reply is one the length tests do not measure (receipt_tags.TAGGED_KEYS)."""

import pytest

from daemon import replies
from daemon.commands import Role
from daemon.config import build_config
from daemon.money.commands import service_registry
from daemon.money.receipt_tags import TAG_KEY, TAGGED_KEYS
from daemon.money.settle import SettleEnv
from daemon.outbox import OutboxStatus
from daemon.security.receipt_keys import load_keyring, rotate_keyring
from daemon.security.receipts import ReceiptFields, Verdict, parse_tag, verify_tag
from daemon.security.signing import activate, deactivate
from daemon.tranproc import TranProcEnv
from tests.daemon.money_world import HASHER, SHORT_CODE, World

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
STORE = "254722000100"
KES = 100


class SignedWorld(World):
    """The test world with receipt keys in `key_dir` (World's own config has none activated)."""

    def __init__(self, engine, key_dir, **money):
        super().__init__(engine)
        self.config = build_config(
            {"money": money, "sender": {"source_addr": SHORT_CODE},
             "receipts": {"key_dir": str(key_dir)}}
        )  # fmt: skip
        self.env = TranProcEnv.build(service_registry(), self.config, HASHER)
        self.settle_env = SettleEnv(self.config, HASHER)


@pytest.fixture
def keys(tmp_path):
    return tmp_path / "receipt-keys"


def make_world(engine, keys, **money):
    world = SignedWorld(engine, keys, **money)
    activate(world.config, world.now_ns)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    return world


@pytest.fixture
def world(engine, keys):
    world = make_world(engine, keys, post_on_delivery=[])
    yield world
    deactivate(world.config)
    world.check()


def tag_of(text):
    assert " Sig K" in text, text
    parsed = parse_tag(text.rsplit(" Sig ", 1)[1])
    assert parsed is not None, text
    return "-".join(parsed)


def send_fields(world, reply, payee=BOB, amount=500 * KES):
    ref = reply.split(" ", 1)[0]
    return ReceiptFields.at(ref, amount, "KES", ALICE, payee, world.now_ns)


def test_a_send_confirmation_and_notice_verify(world, keys):
    reply = world.sms(ALICE, "SEND 0712 000 002 500 1234")
    fields = send_fields(world, reply)
    keyring = load_keyring(keys)
    assert verify_tag(keyring, fields, tag_of(reply)) is Verdict.GENUINE
    told = world.last_to(BOB)
    assert (
        told.startswith(fields.ref) and verify_tag(keyring, fields, tag_of(told)) is Verdict.GENUINE
    )
    other = ReceiptFields.at(fields.ref, 5_000 * KES, "KES", ALICE, BOB, world.now_ns)
    assert verify_tag(keyring, other, tag_of(reply)) is Verdict.FORGED  # the amount changed


def test_a_confirmation_pending_on_delivery_is_tagged_and_a_void_is_not(engine, keys):
    world = make_world(engine, keys)  # SEND posts on its confirmation's delivery
    try:
        keyring = load_keyring(keys)
        reply = world.sms(ALICE, "SEND 0712 000 002 500 1234")
        assert verify_tag(keyring, send_fields(world, reply), tag_of(reply)) is Verdict.GENUINE
        world.receipts(OutboxStatus.FAILED)  # never delivered: voided, nothing moved
        voided = world.last_to(ALICE)
        assert "did not go through" in voided and " Sig " not in voided
        world.advance(120)
        second = world.sms(ALICE, "SEND 0712 000 002 700 1234")
        world.advance(90)  # the receipt comes later: the notice shows, and is signed at, its time
        world.receipts()
        told = world.last_to(BOB)
        fields = send_fields(world, second, amount=700 * KES)
        assert verify_tag(keyring, fields, tag_of(told)) is Verdict.GENUINE
    finally:
        deactivate(world.config)
    world.check()


def test_a_rotation_while_running_signs_with_the_new_key(world, keys):
    first = world.sms(ALICE, "SEND 0712 000 002 500 1234")
    rotate_keyring(keys, 6, world.now_ns)
    world.advance(600)
    second = world.sms(ALICE, "SEND 0712 000 002 600 1234")
    keyring = load_keyring(keys)
    assert tag_of(first).startswith("K1-") and tag_of(second).startswith("K2-")
    assert len(tag_of(second)) == len("K2-") + 6
    fields = send_fields(world, second, amount=600 * KES)
    assert verify_tag(keyring, fields, tag_of(second)) is Verdict.GENUINE


def test_without_activated_keys_nothing_is_tagged(engine):
    world = World(engine)
    world.add(ALICE, balance_minor=10_000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    assert " Sig " not in world.sms(ALICE, "SEND 0712 000 002 500 1234")
    world.check()


def test_only_measured_replies_carry_a_tag(world, monkeypatch):
    rendered = []
    tagged = []
    original = replies.render

    def recording(language, key, **fields):
        if key == TAG_KEY:
            tagged.append(rendered[-1])
        else:
            rendered.append(key)
        return original(language, key, **fields)

    monkeypatch.setattr(replies, "render", recording)
    world.add(STORE, Role.AGENT, balance_minor=50_000 * KES, name="Mama Mboga Shop",
              agent_number="123456")  # fmt: skip
    world.sms(ALICE, "SEND 0712 000 002 500 1234")
    world.sms(ALICE, "SEND 0712 000 003 300 1234")  # Carol has no wallet: a voucher
    world.sms(STORE, "DEPOSIT 0712 000 002 1,000 1234")
    world.sms(ALICE, "WITHDRAW 123456 200 1234")
    assert {"sent", "received", "sent_voucher", "voucher_received", "deposit_done"} <= set(tagged)
    assert set(tagged) <= TAGGED_KEYS
