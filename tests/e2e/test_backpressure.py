"""Back-pressure, live: a `--role lis` daemon with no TranProc running takes MOs until the inbox backlog
reaches inbox.max_backlog, then answers deliver_sm ESME_RX_T_APPN unstored while the simulator keeps
delivering them again; once a `--role tranproc` process starts and works the backlog down past the
low-water mark, the LIS takes MOs again by itself, and every MO is stored, handled and answered
exactly once. (SQLite: both processes on one database file.)
"""

import urllib.request
from collections import Counter

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
    match_replies,
    seed_subscribers,
    wait_for,
)

SENDERS = [f"2547160000{n:02d}" for n in range(10)]
MOS = 150
BOUND, LOW_WATER = 40, 10
BACKLOG = {"max_backlog": BOUND, "backlog_low_water": LOW_WATER, "backlog_check_s": 0.2}


def _counter(process: DaemonProcess, key: str) -> int:
    return process.status()["counters"].get(f"inbox.backlog.{key}", 0)


def _new_rows(tables: Tables) -> int:
    return sum(row.status == "new" for row in tables.inbox_rows())


def test_the_inbox_stops_at_its_bound_then_every_mo_is_handled_once(tmp_path) -> None:
    simulator = SimulatorProcess(tmp_path)
    url = f"sqlite:///{tmp_path / 'backpressure.db'}"
    state = tmp_path / "state"  # shared: the PIN pepper
    lis = DaemonProcess(
        tmp_path, daemon_settings(state, url, simulator.port, "lis", inbox=BACKLOG), name="lis"
    )
    tranproc = DaemonProcess(
        tmp_path, daemon_settings(state, url, None, "tranproc"), name="tranproc"
    )
    seed_subscribers(lis.config, [])  # the schema and the chart, as `smscore db upgrade` would
    sent = [(SENDERS[n % len(SENDERS)], f"BP{n}X") for n in range(MOS)]
    tables = Tables.open(url)
    try:
        lis.start().wait_ready()
        wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the LIS to bind")
        for source, text in sent:
            simulator.send_mo(source, text)
        wait_for(lambda: _counter(lis, "refused") >= MOS, 30, "the LIS to refuse MOs")
        stopped_at = _new_rows(tables)
        retried = simulator.stats()["mo_retried"]
        # The simulator goes on delivering the refused ones: the inbox does not grow.
        wait_for(
            lambda: simulator.stats()["mo_retried"] >= retried + MOS,
            30,
            "the simulator to deliver the refused MOs again",
        )
        still = _new_rows(tables)
        refusing = lis.status()["counters"]["inbox.backlog.refusing"]

        tranproc.start().wait_ready()
        wait_for(
            lambda: Counter(row.status for row in tables.outbox_rows()) == {"delivered": MOS},
            90,
            lambda: f"every MO answered: {simulator.stats()} {tables.outbox_counts()}",
        )
        inbox_rows = tables.inbox_rows()
        outbox_rows = tables.outbox_rows()
        messages = simulator.all_messages()
        recorded = tables.recorded_message_ids()
        after = lis.status()["counters"]
        with urllib.request.urlopen(f"{lis.status_url}/metrics", timeout=10) as answer:
            metrics = answer.read().decode().splitlines()
        stats = simulator.stats()
    finally:
        tables.close()
        for process in (tranproc, lis):
            assert process.stop() == 0, process.log()
        simulator.stop()

    assert LOW_WATER < stopped_at <= BOUND and still == stopped_at, (stopped_at, still)
    assert refusing == 1
    # Recovered by itself: taking MOs again, after refusing many, paused at least once.
    assert after["inbox.backlog.refusing"] == 0 and after["inbox.backlog.pauses"] >= 1
    refused_total = next(m for m in metrics if m.startswith("smscore_inbox_backlog_refused_total"))
    assert float(refused_total.split()[1]) == after["inbox.backlog.refused"] >= MOS
    assert "smscore_inbox_backlog_refusing 0.0" in metrics
    assert stats["mo_failed"] == 0 and stats["deliveries_pending"] == 0
    # Every MO stored once, handled once, with one reply that reached its phone once.
    assert sorted((row.source_addr, row.text) for row in inbox_rows) == sorted(sent)
    assert {(row.status, row.attempts) for row in inbox_rows} == {("done", 1)}
    assert sorted(row.inbox_id for row in outbox_rows) == [row.id for row in inbox_rows]
    by_row, unrecorded = match_replies(messages, recorded)
    assert unrecorded == [] and all(len(got) == 1 for got in by_row.values())
    assert sorted(by_row) == sorted(row.id for row in outbox_rows)
