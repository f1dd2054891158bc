"""A hostile SMSC against the live daemon: one `smscore run` with two binds, `bad` to the hostile SMSC
(tests/e2e/hostile_smsc.py) and `sim` to the bundled simulator.

The hostile one binds like any SMSC, then sends random and mutated PDUs, PDUs out of state, half a
PDU and a disconnect, a command_length of 0xFFFFFFFF, a million bytes of garbage and a flood of
deliver_sm. Each time `bad` answers what it must (its own *_resp or generic_nack, with the status
SMPP 3.4 names) or closes and reconnects after its backoff; and after each test the daemon is alive,
its memory (VmRSS) has not grown past a bound, and a BAL through `sim` is answered: the other bind
and the TranProc keep working. Inputs come from fixed seeds, so a failure replays.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon.schema import inbox
from smscore.codec import encode
from smscore.constants import CommandId as C
from smscore.pdu import (
    PDU_CLASSES,
    BindTransceiver,
    BindTransceiverResp,
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    SubmitSm,
    Unbind,
)
from smscore.status import CommandStatus as S
from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Subscriber,
    Tables,
    daemon_settings,
    seed_subscribers,
    wait_for,
)
from tests.e2e.hostile_smsc import HostileSMSC, Link
from tests.smscore.hostile_input import TEMPORARY, expected_answer, mutate, random_pdu, valid_pdus

ALICE = Subscriber("254712000001", "1234", 100_050)
BALANCE = "Your smscore balance is KES 1,000.50."
RECONNECT_DELAY_S = 0.3  # bad's reconnect_initial_delay_s: the backoff a dropped link waits
RSS_GROWTH_BOUND_KIB = 96 * 1024  # the flood stores thousands of rows; garbage must add nothing
SEED = 18


@dataclass
class World:
    simulator: SimulatorProcess
    hostile: HostileSMSC
    daemon: DaemonProcess
    tables: Tables
    baseline_rss_kib: int = 0
    balances_asked: int = 0

    def rss_kib(self) -> int:
        """VmRSS of `smscore run` (the child of its `timeout` wrapper)."""
        assert self.daemon.process is not None and self.daemon.process.poll() is None
        wrapper = self.daemon.process.pid
        children = Path(f"/proc/{wrapper}/task/{wrapper}/children").read_text().split()
        status = Path(f"/proc/{children[0]}/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        )

    def ask_balance(self, timeout_s: float = 30) -> None:
        """A BAL through the simulator gets its one reply: `sim` and the TranProc work."""
        self.balances_asked += 1
        self.simulator.send_mo(ALICE.msisdn, f"BAL {ALICE.pin}")
        wait_for(
            lambda: len(self.simulator.inbox(ALICE.msisdn)) >= self.balances_asked,
            timeout_s,
            "the BAL reply through sim",
        )
        # At least once: an SMSC that got its deliver_sm_resp late (a loaded database) delivers
        # the MO again, and a BAL repeated is answered again (daemon.repeats); nothing else.
        assert {m["text"] for m in self.simulator.inbox(ALICE.msisdn)} == {BALANCE}

    def assert_unharmed(self) -> None:
        self.ask_balance()
        grown = self.rss_kib() - self.baseline_rss_kib
        assert grown < RSS_GROWTH_BOUND_KIB, f"VmRSS grew {grown} KiB"

    def bad_bind(self) -> dict:
        return next(bind for bind in self.daemon.status()["binds"] if bind["name"] == "bad")

    def stored_from_bad(self, prefix: str) -> int:
        with self.tables.engine.connect() as conn:
            query = select(func.count()).where(
                inbox.c.bind_name == "bad", inbox.c.text.like(f"{prefix}%")
            )
            return conn.execute(query).scalar_one()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("hostile")
    simulator = SimulatorProcess(workdir)
    hostile = HostileSMSC()
    url = f"sqlite:///{workdir / 'hostile.db'}"
    settings = daemon_settings(workdir / "state", url, simulator.port, logging={"level": "info"})
    settings["binds"].append(
        {
            **settings["binds"][0],
            "name": "bad",
            "port": hostile.port,
            "reconnect_initial_delay_s": RECONNECT_DELAY_S,
            "reconnect_max_delay_s": 2.0,
        }
    )
    daemon = DaemonProcess(workdir, settings)
    seed_subscribers(daemon.config, [ALICE])
    tables = Tables.open(url)
    try:
        daemon.start().wait_ready()
        wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind sim")
        hostile.link(1)
        found = World(simulator, hostile, daemon, tables)
        found.ask_balance()
        found.baseline_rss_kib = found.rss_kib()
        yield found
    finally:
        tables.close()
        try:
            assert daemon.stop() == 0, daemon.log()
        finally:
            hostile.stop()
            simulator.stop()


def reconnected(world: World, dropped: Link) -> Link:
    """The daemon closed `dropped` (or saw it closed) and bound again after its backoff."""
    dropped.wait_closed()
    again = world.hostile.next_link(dropped)
    assert dropped.closed_at is not None
    waited_s = again.connected_at - dropped.closed_at
    assert waited_s >= RECONNECT_DELAY_S * 0.9, f"reconnected after {waited_s:.3f}s"
    return again


def test_pdus_out_of_state_are_answered_and_the_link_stays(world: World) -> None:
    link = world.hostile.current()
    stray_resp = link.send_pdu(BindTransceiverResp(system_id="x"))  # answers nothing
    stray_nack = link.send_pdu(GenericNack(command_status=S.ESME_RSYSERR))
    stray_deliver_resp = link.send_pdu(DeliverSmResp())
    submit = link.send_pdu(SubmitSm(source_addr="1", destination_addr="2", short_message=b"X"))
    bind_again = link.send_pdu(BindTransceiver(system_id="a", password="b"))
    link.ping()  # read in order: everything before it has been judged
    # A submit_sm is an ESME's request: this bind does not take it (SMPP 3.4 2.3: it is issued by
    # the ESME); a second bind on a bound session is ESME_RALYBND; responses are never answered.
    answer = link.wait_answer(submit)
    assert (answer.command_id, answer.command_status) == (C.SUBMIT_SM_RESP, S.ESME_RINVBNDSTS)
    answer = link.wait_answer(bind_again)
    assert (answer.command_id, answer.command_status) == (
        C.BIND_TRANSCEIVER_RESP,
        S.ESME_RALYBND,
    )
    for stray in (stray_resp, stray_nack, stray_deliver_resp):
        assert link.answers_to(stray) == []
    assert not link.closed.is_set() and world.hostile.current() is link
    world.assert_unharmed()


def test_an_unbind_from_the_smsc_is_answered_and_the_bind_comes_back(world: World) -> None:
    link = world.hostile.current()
    drops = world.bad_bind()["drops"]
    answer = link.wait_answer(link.send_pdu(Unbind()))
    assert (answer.command_id, answer.command_status) == (C.UNBIND_RESP, S.ESME_ROK)
    reconnected(world, link).ping()
    assert world.bad_bind()["drops"] == drops + 1
    world.assert_unharmed()


def test_half_a_pdu_then_a_disconnect(world: World) -> None:
    link = world.hostile.current()
    whole = encode(
        DeliverSm(source_addr="254719900001", destination_addr="12345", short_message=b"HALFPDU")
    )
    link.send(whole[: len(whole) // 2])
    link.close()
    again = reconnected(world, link)
    again.ping()
    assert world.stored_from_bad("HALFPDU") == 0  # nothing half-read is stored
    world.assert_unharmed()


def test_a_command_length_of_0xffffffff_is_nacked_and_the_link_closed(world: World) -> None:
    link = world.hostile.current()
    header = (0xFFFF_FFFF).to_bytes(4, "big") + int(C.DELIVER_SM).to_bytes(4, "big")
    link.send(header + bytes(4) + (77).to_bytes(4, "big") + b"\x00" * 64)
    nack = link.wait_answer(77)
    # SMPP 3.4: an invalid command_length is answered generic_nack ESME_RINVCMDLEN; the framing is
    # lost, so the link is closed (and made again).
    assert (nack.command_id, nack.command_status) == (C.GENERIC_NACK, S.ESME_RINVCMDLEN)
    reconnected(world, link).ping()
    world.assert_unharmed()


def test_an_smsc_that_breaks_every_link_is_retried_ever_later(world: World) -> None:
    # Each link binds, then loses its framing at once: a link that dies that young counts as a
    # failed attempt, so the reconnects back off (doubling, capped at reconnect_max_delay_s).
    link = world.hostile.current()
    waits = []
    for _ in range(3):
        link.send((0xFFFF_FFFF).to_bytes(4, "big") + bytes(12))
        again = reconnected(world, link)
        assert link.closed_at is not None
        waits.append(again.connected_at - link.closed_at)
        link = again
    assert waits[2] >= 4 * RECONNECT_DELAY_S * 0.9, waits  # the third in a row: two doublings
    link.ping()
    world.assert_unharmed()


def test_a_million_bytes_of_garbage(world: World) -> None:
    link = world.hostile.current()
    garbage = bytearray(random.Random(SEED).randbytes(1_000_000))
    garbage[0] = 0xA5  # a command_length past any PDU: framing is lost at once
    garbage[4:8] = (0x0F0F_0F0F).to_bytes(4, "big")  # no such command: no sequence to answer
    link.send(bytes(garbage))  # the daemon may close the link while we write
    nack = link.wait_answer(0)
    assert (nack.command_id, nack.command_status) == (C.GENERIC_NACK, S.ESME_RINVCMDLEN)
    reconnected(world, link).ping()
    world.assert_unharmed()


def test_a_million_bytes_of_framed_garbage_gets_one_nack_per_frame(world: World) -> None:
    # Well framed, unknown commands: each one is answered (generic_nack ESME_RINVCMDID with its
    # sequence number) and the link stays.
    link = world.hostile.current()
    rng = random.Random(SEED)
    frames = []
    for number in range(1, 1001):
        command_id = 0x0000_0F00 + number  # not a command of SMPP 3.4
        assert command_id not in PDU_CLASSES
        header = (1000).to_bytes(4, "big") + command_id.to_bytes(4, "big") + bytes(4)
        frames.append(header + (5_000_000 + number).to_bytes(4, "big") + rng.randbytes(984))
    link.send(b"".join(frames))
    link.ping(timeout_s=30)
    for number in range(1, 1001):
        [nack] = link.answers_to(5_000_000 + number)
        assert (nack.command_id, nack.command_status) == (C.GENERIC_NACK, S.ESME_RINVCMDID)
    assert not link.closed.is_set()
    world.assert_unharmed()


def test_random_and_mutated_pdus_are_each_answered_as_smpp_says(world: World) -> None:
    rng = random.Random(SEED)
    samples = valid_pdus(rng)
    link = world.hostile.current()
    outcomes: Counter[str] = Counter()
    for _ in range(400):
        data = bytearray(
            random_pdu(rng) if rng.random() < 0.3 else mutate(rng, rng.choice(samples))
        )
        sequence_number = link.next_sequence() + 0x4000_0000  # never one the daemon uses
        data[12:16] = sequence_number.to_bytes(4, "big")
        expected = expected_answer(bytes(data))
        link.send(bytes(data))
        if expected.answer_id is None:
            link.ping()
            assert link.answers_to(sequence_number) == [], data.hex()
            outcomes["unanswered"] += 1
            continue
        answer = link.wait_answer(sequence_number)
        assert answer.command_id == expected.answer_id, (data.hex(), answer)
        assert answer.command_status in expected.statuses, (data.hex(), answer)
        outcomes[S(answer.command_status).name] += 1
        if expected.closes:
            link = reconnected(world, link)
            outcomes["reconnects"] += 1
    # Every path was taken, or the loop proves little.
    assert outcomes["unanswered"] and outcomes["ESME_ROK"] and outcomes["ESME_RINVCMDID"], outcomes
    assert sum(count for key, count in outcomes.items() if key.startswith("ESME_RINV")) > 20, (
        outcomes
    )
    world.assert_unharmed()


def test_a_flood_of_huge_messages_is_refused_for_good_and_stores_nothing(world: World) -> None:
    # 60 KB message_payloads (legal SMPP, no command is that long): refused by size before they
    # take memory waiting for a commit (inbox.max_mo_bytes), and not delivered again.
    link = world.hostile.current()
    huge = [
        encode(
            DeliverSm(
                sequence_number=8_000_000 + number,
                source_addr="254719800001",
                destination_addr="12345",
                tlvs={"message_payload": b"HUGE" + b"X" * 60_000},
            )
        )
        for number in range(HUGE_COUNT)
    ]
    link.send_many(huge, per_write=10)
    wait_for(
        lambda: len(link.answers_to_range(8_000_000, HUGE_COUNT)) == HUGE_COUNT,
        60,
        "an answer to every huge deliver_sm",
    )
    answers = link.answers_to_range(8_000_000, HUGE_COUNT)
    assert {(a.command_id, a.command_status) for a in answers} == {
        (C.DELIVER_SM_RESP, S.ESME_RINVMSGLEN)
    }
    assert world.stored_from_bad("HUGE") == 0
    assert world.daemon.status()["counters"]["inbox.refused_too_long"] >= HUGE_COUNT
    world.assert_unharmed()


HUGE_COUNT = 500


def test_a_deliver_sm_flood_is_answered_without_waiting_and_stays_bounded(world: World) -> None:
    link = world.hostile.current()
    flood = [
        DeliverSm(
            sequence_number=7_000_000 + number,
            source_addr=f"2547198{number % 50:05d}",
            destination_addr="12345",
            short_message=f"FLOOD{number}".encode(),
        )
        for number in range(FLOOD_SIZE)
    ]
    writer = threading.Thread(target=link.send_many, args=([encode(pdu) for pdu in flood],))
    writer.start()  # all of it at once: the answers are read by the link's reader meanwhile
    world.ask_balance(timeout_s=60)  # during the flood
    writer.join(60)
    wait_for(
        lambda: len(link.answers_to_range(7_000_000, FLOOD_SIZE)) == FLOOD_SIZE,
        120,
        "a deliver_sm_resp for every deliver_sm of the flood",
    )
    answers = link.answers_to_range(7_000_000, FLOOD_SIZE)
    assert len({answer.sequence_number for answer in answers}) == FLOOD_SIZE  # each one once
    statuses = Counter(answer.command_status for answer in answers)
    assert set(statuses) <= {S.ESME_ROK, *TEMPORARY}, statuses
    assert {answer.command_id for answer in answers} == {C.DELIVER_SM_RESP}
    assert world.stored_from_bad("FLOOD") == statuses[S.ESME_ROK]  # stored iff acknowledged
    world.assert_unharmed()


FLOOD_SIZE = 8000
