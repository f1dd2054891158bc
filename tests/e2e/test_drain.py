"""SIGTERM with MOs and submits in flight: the daemon drains, exits 0, and the restart finishes the
work; nothing is lost and nothing is done twice.

The simulator answers every request 0.6 s late (the `delay` fault: processed at once, answered
later), so at the signal there are submit_sm without their submit_sm_resp, replies queued, and MOs
still arriving: a thread keeps offering MOs until the daemon has exited, so some reach it during
the drain and are answered ESME_RX_T_APPN, which the simulator (like an SMSC) retries.
"""

import re
import threading
from collections import Counter
from pathlib import Path

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
    match_replies,
    wait_for,
)

SENDERS = [f"2547150000{n:02d}" for n in range(10)]
BURST = 60  # offered at once before the signal: a backlog of replies to work through
OFFER_EVERY_S = 0.05  # the paced offers around the signal
DELAY_S = 0.6  # below the bind's response_timeout_s (1 s): a late answer, never a lost one


class Offers:
    """Unique MOs (each text is echoed in its reply), from a few senders."""

    def __init__(self, simulator: SimulatorProcess) -> None:
        self.simulator = simulator
        self.sent: list[tuple[str, str]] = []
        self.stop = threading.Event()

    def offer(self) -> None:
        number = len(self.sent)
        mo = (SENDERS[number % len(SENDERS)], f"DRN{number}X")
        self.simulator.send_mo(*mo)
        self.sent.append(mo)

    def keep_offering(self) -> threading.Thread:
        def run() -> None:
            # The pause paces the offers (a steady trickle across the signal); nothing waits on it.
            while not self.stop.wait(OFFER_EVERY_S):
                self.offer()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def _outbox(tables: Tables) -> Counter:
    return Counter(row.status for row in tables.outbox_rows())


def _refused_in_all(log: str) -> int:
    found = re.search(r"drain 4/4: .* (\d+) deliver_sm refused in all", log)
    assert found, log
    return int(found.group(1))


def test_sigterm_drains_in_flight_work_and_the_restart_answers_every_mo(tmp_path: Path) -> None:
    simulator = SimulatorProcess(tmp_path, faults={"delay": {"delay_s": DELAY_S}})
    url = f"sqlite:///{tmp_path / 'drain.db'}"
    settings = daemon_settings(
        tmp_path / "state",
        url,
        simulator.port,
        service={"drain_timeout_s": 10.0},
        logging={"level": "info"},
    )
    daemon = DaemonProcess(tmp_path, settings)
    offers = Offers(simulator)
    tables = Tables.open(url)
    try:
        daemon.start().wait_ready()
        for _ in range(BURST):
            offers.offer()
        thread = offers.keep_offering()
        wait_for(
            lambda: _outbox(tables)["in_flight"] >= 10,
            30,
            lambda: f"replies in flight: {_outbox(tables)}",
            interval_s=0.01,
        )
        for _ in range(BURST):  # arriving as the signal does: stored, not yet handled
            offers.offer()
        exit_code = daemon.stop()  # SIGTERM; waits for the exit
        offers.stop.set()
        thread.join(timeout=10)
        # The whole log: daemon.log() is its last 3000 chars, a few JSON lines (daemon.logs).
        first_log = (daemon.workdir / f"{daemon.name}.{daemon.starts}.log").read_text()
        left = _outbox(tables)
        new_mos = sum(row.status == "new" for row in tables.inbox_rows())
        before_restart = simulator.stats()

        daemon.start().wait_ready()
        total = len(offers.sent)
        wait_for(
            lambda: (
                simulator.stats()["mo_acknowledged"] == total
                and simulator.stats()["deliveries_pending"] == 0
                and _outbox(tables) == Counter({"delivered": total})
            ),
            60,
            lambda: f"{total} MOs answered: {simulator.stats()} {_outbox(tables)}",
        )
        inbox_rows = tables.inbox_rows()
        outbox_rows = tables.outbox_rows()
        recorded = tables.recorded_message_ids()
        messages = simulator.all_messages()
        simulator_failed = simulator.stats()["mo_failed"]
    finally:
        offers.stop.set()
        tables.close()
        assert daemon.stop() == 0, daemon.log()
        simulator.stop()

    assert exit_code == 0, first_log
    for phase in ("drain 1/4", "drain 2/4", "drain 3/4", "drain 4/4"):
        assert phase in first_log, first_log
    # The drain waited for every submit_sm_resp: nothing was left in flight for the restart ...
    assert "in_flight" not in left, left
    # ... while work was left for it: replies not yet sent, or MOs stored but not yet handled.
    assert left["queued"] + new_mos > 0, (left, new_mos)
    # MOs (and receipts) offered during the drain were refused with a temporary error, and the
    # simulator delivered each again (after the restart at the latest: none failed).
    refused = _refused_in_all(first_log)
    assert before_restart["mo_retried"] > 0, before_restart
    assert before_restart["mo_retried"] + before_restart["dlr_retried"] >= refused > 0
    # Every MO once in the inbox, handled once, with one reply that reached its phone once.
    assert sorted((row.source_addr, row.text) for row in inbox_rows) == sorted(offers.sent)
    assert {(row.status, row.attempts) for row in inbox_rows} == {("done", 1)}
    assert simulator_failed == 0
    assert sorted(row.inbox_id for row in outbox_rows) == [row.id for row in inbox_rows]
    by_row, unrecorded = match_replies(messages, recorded)
    assert unrecorded == [] and all(len(got) == 1 for got in by_row.values())
    assert sorted(by_row) == sorted(row.id for row in outbox_rows)
    for row in outbox_rows:
        [message] = by_row[row.id]
        assert (message["msisdn"], message["text"]) == (row.destination_addr, row.text)
