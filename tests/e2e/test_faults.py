"""The simulator's faults on while a batch of MOs flows: every MO is processed once and answered once.

Faults: throttling, queue-full, generic_nack and withheld responses (the simulator did not act on the
request, so a re-submit duplicates nothing), dropped links and garbage on the wire (the simulator acts on
nothing after the drop), and re-deliveries of acknowledged deliver_sm (MOs and receipts).

One fault cannot end in exactly one reply: a submit_sm the SMSC accepted whose response comes after the
daemon's response timeout. The daemon cannot tell it from a lost request and sends the reply again
(at-least-once; SMPP has no idempotent submit). The second test pins that guarantee down.
Both run on SQLite and on PostgreSQL (`db_url`).
"""

from collections import Counter
from pathlib import Path

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
    for_engine,
    match_replies,
    seed_subscribers,
    subscribers,
    wait_for,
)

FAULTS = {
    "throttle": {"every_n": 7},
    "queue_full": {"every_n": 17},
    "withhold": {"every_n": 23},
    "generic_nack": {"every_n": 31},
    "garbage": {"every_n": 89},
    "drop_connection": {"after_pdus": 60},
    "redeliver": {"every_n": 3},
}
PEOPLE = subscribers(50)


def _texts(pin: str) -> list[str]:
    # Four different texts per subscriber, so each reply can be traced to its MO. (An SMSC's
    # re-delivery of one is stored and answered again: SMPP has no MO id to tell it from a repeat.)
    return ["PING", "ping", f"BAL {pin}", f"bal {pin}"]


def _balance_text(balance_minor: int) -> str:
    return f"Your smscore balance is KES {balance_minor // 100:,}.{balance_minor % 100:02d}."


def _run_daemon(
    tmp_path: Path, simulator: SimulatorProcess, url: str
) -> tuple[DaemonProcess, Tables]:
    daemon = DaemonProcess(tmp_path, daemon_settings(tmp_path / "state", url, simulator.port))
    seed_subscribers(daemon.config, PEOPLE)
    daemon.start().wait_ready()
    wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
    return daemon, Tables.open(url)


def _quiet(simulator: SimulatorProcess, tables: Tables, mos: int) -> bool:
    """Every reply's receipt is in (so the sender has nothing left to send) and the simulator has no
    delivery (MO, re-delivery or receipt) left to make: no further reply can appear. Every stored
    MO, re-deliveries included, has its reply."""
    stats = simulator.stats()
    if stats["mo_acknowledged"] != mos or stats["deliveries_pending"] != 0:
        return False
    counts = tables.outbox_counts()
    return set(counts) == {"delivered"} and counts["delivered"] == len(tables.inbox_rows())


def test_faults_every_mo_processed_once_and_answered_once(tmp_path, db_url) -> None:
    people = for_engine(PEOPLE, db_url)
    simulator = SimulatorProcess(tmp_path, faults=FAULTS)
    daemon, tables = None, None
    try:
        daemon, tables = _run_daemon(tmp_path, simulator, db_url)
        for person in people:
            for text in _texts(person.pin):
                simulator.send_mo(person.msisdn, text)
        mos = len(people) * 4
        wait_for(lambda: _quiet(simulator, tables, mos), 90, "every MO answered and receipted")
        stats = simulator.stats()
        [bind] = daemon.status()["binds"]
        inbox_rows = tables.inbox_rows()
        outbox_rows = tables.outbox_rows()
        messages = simulator.all_messages()
    finally:
        if daemon is not None:
            assert daemon.stop() == 0, daemon.log()
        if tables is not None:
            tables.close()
        simulator.stop()
    actions = stats["fault_actions"]
    assert min(actions.get(kind, 0) for kind in ("status", "withhold", "nack", "drops")) > 0, (
        actions
    )
    assert stats["mo_redelivered"] > 0 and stats["connections"] > 1, stats
    # Each drop is counted, with its reason (the simulator's resets and its garbage).
    assert 0 < bind["drops"] < stats["connections"] and bind["last_error"], bind
    assert stats["mo_failed"] == 0
    # Processed once: one inbox row per MO the SMSC delivered (re-deliveries are stored too, SMPP
    # gives no MO id; so is a retry of one the daemon stored whose resp the drop lost), each done,
    # each with one reply row.
    assert mos < len(inbox_rows) <= mos + stats["mo_redelivered"] + stats["mo_retried"]
    assert len({row.dedupe_key for row in inbox_rows}) == mos
    assert {row.status for row in inbox_rows} == {"done"}
    assert sorted(row.inbox_id for row in outbox_rows) == sorted(row.id for row in inbox_rows)
    # Answered once per stored MO: each phone got its four replies, and a re-delivered BAL or PING
    # (no side effects) its reply once more; nothing else.
    received = Counter((message["msisdn"], message["text"]) for message in messages)
    texts_by_row = Counter((row.source_addr, row.text) for row in inbox_rows)
    expected = Counter()
    for person in people:
        for text in _texts("****"):
            reply = "PONG" if text.lower() == "ping" else _balance_text(person.balance_minor)
            expected[(person.msisdn, reply)] += texts_by_row[(person.msisdn, text)]
    assert received == expected and sum(received.values()) == len(inbox_rows)
    assert stats["submitted"] == len(inbox_rows)  # the SMSC accepted no submit_sm twice


def test_late_submit_responses_give_at_least_once_replies_and_nothing_else_twice(
    tmp_path, db_url
) -> None:
    # Every 9th request is processed at once but answered after 1.5 s; the daemon gives up after 1 s.
    simulator = SimulatorProcess(tmp_path, faults={"delay": {"every_n": 9, "delay_s": 1.5}})
    people = PEOPLE[:20]
    daemon, tables = None, None
    try:
        daemon, tables = _run_daemon(tmp_path, simulator, db_url)
        for person in people:
            simulator.send_mo(person.msisdn, "PING")
        mos = len(people)
        wait_for(lambda: _quiet(simulator, tables, mos), 60, "every MO answered and receipted")
        stats = simulator.stats()
        inbox_rows, outbox_rows = tables.inbox_rows(), tables.outbox_rows()
        by_row, late_copies = match_replies(simulator.all_messages(), tables.recorded_message_ids())
    finally:
        if daemon is not None:
            assert daemon.stop() == 0, daemon.log()
        if tables is not None:
            tables.close()
        simulator.stop()
    # Processed once, one reply row each, and that row reached its phone once.
    assert len(inbox_rows) == mos and {row.status for row in inbox_rows} == {"done"}
    assert sorted(row.inbox_id for row in outbox_rows) == [row.id for row in inbox_rows]
    assert sorted(by_row) == [row.id for row in outbox_rows]
    assert all(len(messages) == 1 for messages in by_row.values())
    # The extra copies: one per submit_sm answered too late, never more.
    assert 0 < len(late_copies) <= stats["fault_actions"]["delay"]
    assert {message["text"] for message in late_copies} == {"PONG"}
    assert stats["submitted"] == mos + len(late_copies)
