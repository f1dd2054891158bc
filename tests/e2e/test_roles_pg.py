"""PostgreSQL, scaled out: one `--role lis` process and two `--role tranproc` processes on one database.

The TranProcs claim inbox rows with FOR UPDATE SKIP LOCKED; the test shows that both took part and
that every MO was handled by exactly one of them, once, and answered once.
"""

from collections import Counter

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
    seed_subscribers,
    subscribers,
    wait_for,
)
from tests.pg import postgres_database

PEOPLE = subscribers(30, first=254_713_000_000)
# Small batches and a fast poll: both TranProcs keep claiming while the MOs arrive.
TRANPROC = {"batch_size": 4, "poll_interval_s": 0.05}


def _handled(process: DaemonProcess) -> int:
    counters = process.status()["counters"]
    return sum(counters.get(f"tranproc.{key}", 0) for key in ("done", "rejected", "failed"))


def test_one_lis_two_tranprocs_handle_each_mo_once(tmp_path, pg_url) -> None:
    simulator = SimulatorProcess(tmp_path)
    processes: list[DaemonProcess] = []
    state = tmp_path / "state"  # shared: the PIN pepper
    with postgres_database(pg_url) as url:
        tables = Tables.open(url)
        try:
            lis = DaemonProcess(
                tmp_path, daemon_settings(state, url, simulator.port, "lis"), name="lis"
            )
            seed_subscribers(lis.config, PEOPLE)
            tranprocs = [
                DaemonProcess(
                    tmp_path,
                    daemon_settings(state, url, None, "tranproc", tranproc=TRANPROC),
                    name=f"tranproc{i}",
                )
                for i in (1, 2)
            ]
            processes = [lis, *tranprocs]
            for process in processes:
                process.start()
            for process in processes:
                process.wait_ready()
            wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the LIS to bind")
            for person in PEOPLE:
                for text in ("PING", "ping", f"BAL {person.pin}", f"bal {person.pin}"):
                    simulator.send_mo(person.msisdn, text)
            mos = len(PEOPLE) * 4
            wait_for(
                lambda: tables.outbox_counts() == {"delivered": mos}, 60, "every reply delivered"
            )
            handled = [_handled(process) for process in tranprocs]
            inbox_rows = tables.inbox_rows()
            outbox_rows = tables.outbox_rows()
            messages = simulator.all_messages()
        finally:
            for process in processes:
                assert process.stop() == 0, process.log()
            tables.close()
            simulator.stop()
    assert sum(handled) == mos and min(handled) > 0, handled
    assert len(inbox_rows) == mos and {row.status for row in inbox_rows} == {"done"}
    assert {row.attempts for row in inbox_rows} == {1}  # each row processed by one TranProc, once
    assert sorted(row.inbox_id for row in outbox_rows) == [row.id for row in inbox_rows]
    received = Counter((message["msisdn"], message["text"]) for message in messages)
    assert sum(received.values()) == mos
    assert all(received[(person.msisdn, "PONG")] == 2 for person in PEOPLE)
