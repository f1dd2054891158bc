"""The app's event channels end to end: the real daemon and simulator, two devices of one
subscriber enrolled over SMS (`smscore device enrol`, the second with the code the first ENROL
sent), money moved by SMS, both devices syncing over real HTTP (`smscore device sync`): every event
once and in order, across a restart of the daemon on the same state and database, and a balance
that matches the ledger. A live stream (server-sent events, read with `requests`, an independent
client) ends cleanly when the daemon stops and resumes from Last-Event-ID; another subscriber's
token never reads these events; a tampered token is refused."""

from __future__ import annotations

import base64
import json
import re

import requests
from click.testing import CliRunner

from daemon.cli import main as smscore_cli
from daemon.device.state import load
from tests.e2e.harness import wait_for
from tests.e2e.money import KES, PIN, START

READ_TIMEOUT_S = 15  # a stream's keepalive comes every 15 s by default; events well before


def _device(path, *args: str):
    return CliRunner().invoke(smscore_cli, ["device", *args, "--file", str(path)])


def _enrolled(money, phone, path, code: str | None = None) -> str:
    """Init and enrol a device for `phone`; the output of the enrolment that enrolled it."""
    made = _device(path, "init", "--phone", phone.msisdn)
    assert made.exit_code == 0, made.output
    sim = ["--api", money.simulator.api]
    enrolled = _device(path, "enrol", "--pin", PIN, *sim)
    if enrolled.exit_code == 5:  # a further device: the first ENROL sent a code by SMS
        found = re.search(r"enter code (\d+)", enrolled.output)
        assert found, enrolled.output
        enrolled = _device(path, "enrol", "--pin", PIN, "--code", found[1], *sim)
    assert enrolled.exit_code == 0 and "enrolled as device" in enrolled.output, enrolled.output
    return enrolled.output


def _read_all(phone) -> None:
    """The phone's SMS so far are read (enrolment replies, codes, receipt keys)."""
    phone.read[:] = [message["text"] for message in phone.simulator.inbox(phone.msisdn)]


def _sync(path, api: str):
    synced = _device(path, "sync", "--api", api)
    assert synced.exit_code == 0, synced.output
    assert synced.output.rstrip().endswith("MATCH"), synced.output
    return synced.output


def _seqs(path) -> list[int]:
    return [event["seq"] for event in load(path).channel.recent]


def _stream(api: str, token: str, **headers: str) -> requests.Response:
    answer = requests.get(
        f"{api}/channels/me/stream",
        headers={"Authorization": f"Bearer {token}", **headers},
        stream=True,
        timeout=(5, READ_TIMEOUT_S),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    return answer


def _stream_ids(lines, count: int) -> list[int]:
    """The ids of the next `count` events on a stream."""
    ids: list[int] = []
    for line in lines:
        if line.startswith("id: "):
            ids.append(int(line[4:]))
            if len(ids) == count:
                return ids
    raise AssertionError(f"the stream ended after {ids}")


def test_two_devices_see_every_event_once_and_in_order_across_a_restart(money, tmp_path) -> None:
    alice = money.customer(START, name="Alice Atieno")
    bob = money.customer(START, name="Bob Otieno")
    first, second = tmp_path / "alice-1.json", tmp_path / "alice-2.json"
    _enrolled(money, alice, first)
    _enrolled(money, alice, second)
    _read_all(alice)
    api = f"http://{money.daemon.settings['api']['listen']}"

    alice.send(f"SEND {bob.msisdn} 100 {PIN}")
    bob.next("the recipient's notice")
    bob.send(f"SEND {alice.msisdn} 40 {PIN}")
    alice.next("the recipient's notice")
    money.quiet()
    before = [_sync(path, api) for path in (first, second)]
    head = load(first).channel.applied_seq
    assert _seqs(first) == _seqs(second) == list(range(1, head + 1))
    assert all(f"(#1..#{head})" in shown for shown in before), before

    token = load(first).channel.token
    live = _stream(api, token, **{"Last-Event-ID": str(head)})
    lines = live.iter_lines(decode_unicode=True)
    assert next(lines) == ": stream open"
    alice.send(f"SEND {bob.msisdn} 25 {PIN}")
    bob.next("the recipient's notice")
    streamed = _stream_ids(lines, 2)  # the posting's pending and posted events, as they come
    assert streamed == [head + 1, head + 2]

    money.daemon.stop()  # the stream ends cleanly with the daemon
    assert [line for line in lines if line.startswith("id: ")] == []
    money.daemon.start().wait_ready()
    wait_for(lambda: money.simulator.stats()["binds"] >= 1, 15, "the daemon to bind again")

    resumed = _stream(api, token, **{"Last-Event-ID": str(streamed[-1])})
    lines = resumed.iter_lines(decode_unicode=True)
    assert next(lines) == ": stream open"
    bob.send(f"SEND {alice.msisdn} 15 {PIN}")
    alice.next("the recipient's notice")
    assert _stream_ids(lines, 1)[0] == streamed[-1] + 1  # nothing repeated, nothing missed
    resumed.close()
    alice.send(f"SEND {bob.msisdn} 10 {PIN}")
    bob.next("the recipient's notice")
    money.quiet()

    after = [_sync(path, api) for path in (first, second)]
    final = load(first).channel.applied_seq
    assert final > streamed[-1] + 1
    assert _seqs(first) == _seqs(second) == list(range(1, final + 1))
    assert all(f"(#{head + 1}..#{final})" in shown for shown in after), after
    posted, _ = money.balance(alice.msisdn)
    assert load(first).channel.balance_minor == load(second).channel.balance_minor == posted
    assert posted == START - (100 + 25 + 10) * KES + (40 + 15) * KES - _fees(money, 100, 25, 10)
    _read_all(alice)


def _fees(money, *amounts: int) -> int:
    return sum(money.fee(amount * KES) for amount in amounts)


def test_another_subscribers_token_never_reads_the_channel_and_a_tampered_one_is_refused(
    money, tmp_path
) -> None:
    alice = money.customer(START)
    bob = money.customer(START)
    alice_path, bob_path = tmp_path / "alice.json", tmp_path / "bob.json"
    _enrolled(money, alice, alice_path)
    _enrolled(money, bob, bob_path)
    _read_all(alice)
    _read_all(bob)
    api = f"http://{money.daemon.settings['api']['listen']}"
    alice.send(f"SEND {bob.msisdn} 50 {PIN}")
    bob.next("the recipient's notice")
    money.quiet()
    _sync(alice_path, api)
    _sync(bob_path, api)
    alice_token, bob_token = load(alice_path).channel.token, load(bob_path).channel.token

    def page(token: str) -> requests.Response:
        return requests.get(f"{api}/channels/me/events?after=0",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip

    alice_page, bob_page = page(alice_token).json(), page(bob_token).json()
    alice_texts = {event["ciphertext"] for event in alice_page["events"]}
    assert alice_texts and not alice_texts & {event["ciphertext"] for event in bob_page["events"]}
    assert load(alice_path).channel.reference != load(bob_path).channel.reference
    header, claims, signature = alice_token.split(".")
    forged = json.loads(_b64url_decode(claims))
    forged["chn"] = forged["sub"] = load(bob_path).channel.reference  # Bob's channel, Alice's key
    for tampered in (
        f"{header}.{_b64url(json.dumps(forged))}.{signature}",
        alice_token[:-4] + ("AAAA" if not alice_token.endswith("AAAA") else "BBBB"),
    ):
        refused = page(tampered)
        assert refused.status_code == 401, refused.text
        assert refused.json()["errorCode"] == "clientAuthorisationError"


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
