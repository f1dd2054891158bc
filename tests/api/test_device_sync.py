"""`smscore device sync` and `inbox` (daemon.device.sync) against the in-process API: the device's
HTTP client is replaced by one that sends each request through the ApiWorld (every answer checked
against the OpenAPI document), so the CLI's whole path runs: signed token, pages, decryption,
applying once and in order, the balance beside the ledger's."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from daemon.channels.push import push_txn
from daemon.chart import deposit_txn, new_transfer_id
from daemon.device import sync as device_sync
from daemon.device.channel_api import ChannelApi
from daemon.device.cli import device as device_cli
from daemon.device.client import SimulatorLink
from daemon.device.state import load, save
from daemon.device.sync import reply_filter
from daemon.schema_api import channel_events
from daemon.security import channel
from daemon.subscribers import get_subscriber_txn
from tests.api.channels import ALICE, BOB, KES, ChannelWorld
from tests.api.channels_live import channel_of

SEND = f"SEND {BOB} 100 1234"


class WorldApi(ChannelApi):
    """The channel API in process; `drop` leaves an event out of the next pages (a lost row)."""

    def __init__(self, world: ChannelWorld, sent: list[str]) -> None:
        super().__init__("http://in-process")
        object.__setattr__(self, "world", world)
        object.__setattr__(self, "sent", sent)

    def send(self, method, path, body, token):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.sent.append(f"{method} {path}")
        answer = self.world.http(method, path, body, headers)
        if path.startswith("/channels/me/events") and self.world.drop:
            dropped = self.world.drop.pop(0)
            events = [e for e in answer.body["events"] if e["seq"] != dropped]
            return answer.status, {**answer.body, "events": events}
        return answer.status, answer.body


@pytest.fixture
def world(engine, tmp_path, monkeypatch):
    world = ChannelWorld(engine, tmp_path)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    world.drop, world.sent = [], []
    monkeypatch.setattr(device_sync, "ChannelApi", lambda _: WorldApi(world, world.sent))
    monkeypatch.setattr(device_sync, "time", SimpleNamespace(time_ns=lambda: world.now_ns))
    yield world
    world.close()
    world.receipts()
    world.check()


def phone(world: ChannelWorld, tmp_path, name: str, msisdn: str = ALICE):
    path = tmp_path / f"{name}.json"
    save(world.enrol(msisdn), path)
    return path


def sync(path, *args: str):
    return CliRunner().invoke(device_cli, ["sync", "--file", str(path), *args])


def send(world: ChannelWorld, text: str = SEND) -> None:
    world.sms(ALICE, text)
    world.receipts()  # delivered: the move posts


def test_sync_applies_every_event_once_in_order_and_the_balance_matches(world, tmp_path) -> None:
    path = phone(world, tmp_path, "a")
    send(world)
    first = sync(path)
    assert first.exit_code == 0, first.output
    assert first.output.rstrip().endswith("MATCH")
    copy = load(path).channel
    posted = [e for e in copy.recent if e.get("type") == "posting"]
    assert [e["state"] for e in posted] == ["pending", "posted"]
    assert [e["seq"] for e in copy.recent] == list(range(1, copy.applied_seq + 1))
    with world.engine.connect() as conn:
        from ledger import get_balance

        wallet = get_balance(conn, get_subscriber_txn(conn, ALICE).account_id)
    assert copy.balance_minor == wallet.posted
    assert f"events (#{copy.applied_seq}): KES" in first.output
    again = sync(path)
    assert again.exit_code == 0 and "no new events" in again.output, again.output
    assert load(path).channel.recent == copy.recent  # nothing applied twice
    token = copy.token
    assert token and token not in first.output + again.output


def test_two_devices_each_see_every_event_once_from_their_own_position(world, tmp_path) -> None:
    a = phone(world, tmp_path, "a")
    b = phone(world, tmp_path, "b")
    send(world)
    assert sync(a).exit_code == 0
    send(world)
    assert sync(a).exit_code == 0
    assert sync(b).exit_code == 0
    seqs_a = [e["seq"] for e in load(a).channel.recent]
    seqs_b = [e["seq"] for e in load(b).channel.recent]
    assert seqs_a == seqs_b == list(range(1, load(a).channel.applied_seq + 1))
    assert load(a).channel.balance_minor == load(b).channel.balance_minor


def test_a_tampered_event_is_refused_and_nothing_after_it_is_applied(world, tmp_path) -> None:
    path = phone(world, tmp_path, "a")
    send(world)
    with world.engine.begin() as conn:
        seqs = list(conn.execute(select(channel_events.c.seq).order_by(channel_events.c.seq)))
        target = seqs[-2][0]  # the pending posting
        raw = conn.execute(select(channel_events.c.ciphertext).where(
            channel_events.c.seq == target)).scalar_one()  # fmt: skip
        changed = bytes(raw[:-1]) + bytes([raw[-1] ^ 1])
        conn.execute(update(channel_events).where(channel_events.c.seq == target)
                     .values(ciphertext=changed))  # fmt: skip
    refused = sync(path)
    assert refused.exit_code == 7, refused.output
    assert f"event {target} does not verify" in refused.output
    copy = load(path).channel
    assert copy.applied_seq == target - 1 and copy.balance_minor is None


def test_a_gap_in_a_page_makes_the_device_pull_again(world, tmp_path) -> None:
    path = phone(world, tmp_path, "a")
    send(world)
    world.drop = [2]
    synced = sync(path)
    assert synced.exit_code == 0 and synced.output.rstrip().endswith("MATCH"), synced.output
    head = channel_of(world, ALICE).head_seq
    assert head >= 3 and [e["seq"] for e in load(path).channel.recent] == list(range(1, head + 1))
    pulls = [s for s in world.sent if s.startswith("GET /channels/me/events")]
    assert pulls[:2] == ["GET /channels/me/events?after=0", "GET /channels/me/events?after=1"]


def test_a_gap_that_stays_is_an_error(world, tmp_path) -> None:
    path = phone(world, tmp_path, "a")
    send(world)
    world.drop = [2] * 10
    failed = sync(path)
    assert failed.exit_code == 2 and "gap" in failed.output
    assert load(path).channel.applied_seq == 1


def test_a_balance_the_events_do_not_explain_is_a_mismatch(world, tmp_path) -> None:
    path = phone(world, tmp_path, "a")
    send(world)
    with world.engine.begin() as conn:  # money that moved with no event (no move)
        account = get_subscriber_txn(conn, ALICE).account_id
        deposit_txn(conn, account, 5 * KES, "KES", world.now_ns, transfer_id=new_transfer_id(),
                    user_data="test")  # fmt: skip
    mismatch = sync(path)
    assert mismatch.exit_code == 6 and mismatch.output.rstrip().endswith("MISMATCH")


def test_the_token_is_kept_refreshed_near_its_expiry_and_asked_again_when_refused(
    world, tmp_path
) -> None:
    path = phone(world, tmp_path, "a")
    assert sync(path).exit_code == 0
    assert world.sent.count("POST /channels/token") == 1
    assert sync(path).exit_code == 0
    assert world.sent.count("POST /channels/token") == 1  # kept
    world.advance(29.5 * 86400)  # less than a day left
    assert sync(path).exit_code == 0
    assert world.sent.count("POST /channels/me/token") == 1
    state = load(path)
    state.channel.token = state.channel.token[:-3] + "abc"  # refused: asked again, signed
    save(state, path)
    assert sync(path).exit_code == 0
    assert world.sent.count("POST /channels/token") == 2


def test_inbox_syncs_on_a_push_sealed_to_this_device_only(world, tmp_path, monkeypatch) -> None:
    a = phone(world, tmp_path, "a")
    b = phone(world, tmp_path, "b")
    assert sync(a).exit_code == 0 and sync(b).exit_code == 0
    sent_before = len(world.texts_to(ALICE))
    world.advance(world.config.channels.push_after_s)
    send(world)
    assert sync(b).exit_code == 0  # b is online; a stays away
    with world.engine.begin() as conn:
        counts, _ = push_txn(conn, world.config, world.now_ns)
    assert counts == {"pushed": 1}
    texts = world.texts_to(ALICE)[sent_before:]
    link = SimpleNamespace(received=lambda msisdn: texts)
    monkeypatch.setattr(device_sync, "SimulatorLink", lambda _: link)
    for path, pulled in ((b, False), (a, True)):
        shown = CliRunner().invoke(device_cli, ["inbox", "--file", str(path)])
        assert shown.exit_code == 0, shown.output
        assert ("pushed: the channel has events up to" in shown.output) is pulled
        assert ("MATCH" in shown.output) is pulled
    again = CliRunner().invoke(device_cli, ["inbox", "--file", str(a)])
    assert "no push to this device" in again.output  # read once


def test_the_device_file_keeps_the_copy_and_no_secret_reaches_the_output(world, tmp_path) -> None:
    path = phone(world, tmp_path, "a")
    send(world)
    shown = sync(path)
    data = json.loads(path.read_text())
    assert data["channel"]["applied_seq"] == load(path).channel.applied_seq > 0
    for secret in (data["channel"]["token"], data["channel_key"], data["signing_key"],
                   *data["channel"]["wrapped_keys"].values()):  # fmt: skip
        assert secret not in shown.output
    assert base64.b64decode(data["channel"]["wrapped_keys"]["1"])


def test_a_push_or_another_devices_frame_arriving_meanwhile_is_not_taken_for_the_reply(
    world, tmp_path
) -> None:
    a = phone(world, tmp_path, "a")
    b = phone(world, tmp_path, "b")
    assert sync(a).exit_code == 0 and sync(b).exit_code == 0
    world.advance(world.config.channels.push_after_s)
    send(world)
    before = len(world.texts_to(ALICE))
    with world.engine.begin() as conn:
        assert push_txn(conn, world.config, world.now_ns)[0] == {"pushed": 2}  # both away
    pushes = world.texts_to(ALICE)[before:]
    state_a, state_b = load(a), load(b)
    reply = world.sms(ALICE, state_a.command_text("BAL 1234"))
    inbox = [*pushes, reply]

    class Radio(SimulatorLink):
        def received(self, msisdn):
            return inbox if self.sent_once else []

        def send(self, msisdn, text):
            object.__setattr__(self, "sent_once", True)

    radio = Radio("http://sim")
    object.__setattr__(radio, "sent_once", False)
    assert radio.exchange(ALICE, "x", reply_filter(state_a)) == reply
    assert state_a.open_reply(reply).kind is channel.Kind.TEXT
    assert device_sync.pushes(state_a, pushes) != []  # the push is still there for `inbox`
    assert not reply_filter(state_b)(reply) and reply_filter(state_b)("plain text")
