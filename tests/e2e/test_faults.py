"""The simulator's faults on while a batch of MOs flows: every MO is processed once and answered once.

Faults: throttling, queue-full, generic_nack and withheld responses (the simulator did not act on the
request, so a re-submit duplicates nothing), dropped links and garbage on the wire (the simulator acts on
nothing after the drop), and re-deliveries of acknowledged deliver_sm (MOs and receipts).
"""

from collections import Counter
from pathlib import Path

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
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
    # Four different texts per subscriber: an identical text from the same phone within the
    # dedupe window is, by design, taken for an SMSC re-delivery (SMPP has no MO id).
    return ["PING", "ping", f"BAL {pin}", f"bal {pin}"]


def _balance_text(balance_minor: int) -> str:
    return f"Your smscore balance is KES {balance_minor // 100:,}.{balance_minor % 100:02d}."


def _run_daemon(tmp_path: Path, simulator: SimulatorProcess) -> tuple[DaemonProcess, Tables]:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    daemon = DaemonProcess(tmp_path, daemon_settings(tmp_path / "state", url, simulator.port))
    seed_subscribers(daemon.config, PEOPLE)
    daemon.start().wait_ready()
    wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
    return daemon, Tables.open(url)


def _quiet(simulator: SimulatorProcess, tables: Tables, mos: int) -> bool:
    """Every reply's receipt is in (so the sender has nothing left to send) and the simulator has no
    delivery (MO, re-delivery or receipt) left to make: no further reply can appear."""
    stats = simulator.stats()
    return (
        stats["mo_acknowledged"] == mos
        and stats["deliveries_pending"] == 0
        and tables.outbox_counts() == {"delivered": mos}
    )


def test_faults_every_mo_processed_once_and_answered_once(tmp_path) -> None:
    simulator = SimulatorProcess(tmp_path, faults=FAULTS)
    daemon, tables = None, None
    try:
        daemon, tables = _run_daemon(tmp_path, simulator)
        for person in PEOPLE:
            for text in _texts(person.pin):
                simulator.send_mo(person.msisdn, text)
        mos = len(PEOPLE) * 4
        wait_for(lambda: _quiet(simulator, tables, mos), 90, "every MO answered and receipted")
        stats = simulator.stats()
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
    assert stats["mo_failed"] == 0
    # Processed once: one inbox row per distinct MO, each done, each with one reply row.
    assert len(inbox_rows) == mos
    assert len({row.dedupe_key for row in inbox_rows}) == mos
    assert {row.status for row in inbox_rows} == {"done"}
    assert sorted(row.inbox_id for row in outbox_rows) == sorted(row.id for row in inbox_rows)
    # Answered once: what each phone received is exactly its four replies.
    received = Counter((message["msisdn"], message["text"]) for message in messages)
    expected = Counter()
    for person in PEOPLE:
        expected[(person.msisdn, "PONG")] += 2
        expected[(person.msisdn, _balance_text(person.balance_minor))] += 2
    assert received == expected
    assert stats["submitted"] == mos  # the SMSC accepted no submit_sm twice
