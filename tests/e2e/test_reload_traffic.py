"""SIGHUP during traffic: one bind removed and another changed (so restarted) while MOs flow and
submit_sm wait for their submit_sm_resp. Each leaving bind is retired as the SIGTERM drain retires
them all (smscore.retire): every MO the SMSC saw acknowledged is stored and answered exactly once,
and no reply reaches a phone twice.

The simulator answers every request 0.6 s late (the `delay` fault), so at the signal the leaving
binds have submit_sm outstanding (unbound at once, those would fail and be sent again: a duplicate
MT) and deliver_sm in the inbox's group commit (answered on a closed link, the SMSC would deliver
them again: a second reply).
"""

import os
import re
import signal
from collections import Counter
from pathlib import Path

from tests.e2e.harness import (
    PASSWORD,
    SYSTEM_ID,
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
    match_replies,
    to_toml,
    wait_for,
)
from tests.e2e.test_drain import BURST, DELAY_S, Offers
from tests.e2e.test_reload import _daemon_pid, _log_lines, _up


def _bind(name: str, port: int, **more: object) -> dict:
    return {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "response_timeout_s": 2.0,  # above the delay: a late answer, never a lost one
        "enquire_link_interval_s": 5.0,
        "reconnect_initial_delay_s": 0.1,
        "reconnect_max_delay_s": 0.5,
        **more,
    }


def _outbox(tables: Tables) -> Counter:
    return Counter(row.status for row in tables.outbox_rows())


def test_a_reload_during_traffic_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    simulator = SimulatorProcess(tmp_path, faults={"delay": {"delay_s": DELAY_S}})
    url = f"sqlite:///{tmp_path / 'reload.db'}"
    settings = daemon_settings(
        tmp_path / "state", url, None, service={"drain_timeout_s": 10.0}, logging={"level": "info"}
    )
    port = simulator.port
    settings["binds"] = [_bind("keep", port), _bind("gone", port), _bind("edit", port)]
    daemon = DaemonProcess(tmp_path, settings)
    offers = Offers(simulator)
    tables = Tables.open(url)
    try:
        daemon.start().wait_ready()
        wait_for(lambda: _up(daemon, "keep", "gone", "edit"), 20, "three binds up")
        for _ in range(BURST):
            offers.offer()
        thread = offers.keep_offering()
        wait_for(
            lambda: _outbox(tables)["in_flight"] >= 10,
            30,
            lambda: f"replies in flight: {_outbox(tables)}",
            interval_s=0.01,
        )
        settings["binds"] = [_bind("keep", port), _bind("edit", port, window=5)]
        daemon.config_path.write_text(to_toml(settings), encoding="utf-8")
        os.kill(_daemon_pid(daemon), signal.SIGHUP)
        for _ in range(BURST):  # arriving as the signal does
            offers.offer()
        wait_for(
            lambda: _log_lines(daemon, r"bind edit leaving") and _up(daemon, "keep", "edit"),
            30,
            "the reload to retire gone and edit and bind edit again",
        )
        offers.stop.set()
        thread.join(timeout=10)
        total = len(offers.sent)
        wait_for(
            lambda: (
                simulator.stats()["mo_acknowledged"] == total
                and simulator.stats()["deliveries_pending"] == 0
                # Every reply sent (none queued or in flight). Not every one receipted yet: after
                # this reload 1-2 of ~140 stay awaiting their receipt (an open finding, see the
                # closing note of issue 16), which the sweeper's receipt timeout settles.
                and set(_outbox(tables)) <= {"delivered", "submitted"}
                and sum(_outbox(tables).values()) == total
            ),
            60,
            lambda: f"{total} MOs answered: {simulator.stats()} {_outbox(tables)}",
        )
        inbox_rows = tables.inbox_rows()
        outbox_rows = tables.outbox_rows()
        recorded = tables.recorded_message_ids()
        messages = simulator.all_messages()
        stats = simulator.stats()
        status = daemon.status()
    finally:
        offers.stop.set()
        tables.close()
        code = daemon.stop()
        simulator.stop()
    assert code == 0, daemon.log()

    [summary] = _log_lines(daemon, r"reload: binds added")
    assert "removed: gone; restarted: edit; kept: keep" in summary, summary
    for name in ("gone", "edit"):  # retired, not cut: waited for what was in flight
        [leaving] = _log_lines(daemon, rf"bind {name} leaving")
        assert "every MO answered, every submit_sm_resp in" in leaving, leaving
    assert status["reload"]["result"] == "ok", status["reload"]
    # Every MO the SMSC offered: stored once, handled once, none given up by the SMSC.
    assert sorted((row.source_addr, row.text) for row in inbox_rows) == sorted(offers.sent)
    assert {(row.status, row.attempts) for row in inbox_rows} == {("done", 1)}
    assert stats["mo_failed"] == 0 and stats["mo_acknowledged"] == total
    assert sorted(row.inbox_id for row in outbox_rows) == [row.id for row in inbox_rows]
    # One reply per MO, on its phone once: none sent again after a cut submit_sm.
    by_row, unrecorded = match_replies(messages, recorded)
    assert unrecorded == [], unrecorded
    assert all(len(got) == 1 for got in by_row.values()), by_row
    assert sorted(by_row) == sorted(row.id for row in outbox_rows)
    # And by what they say: each offer's text echoed back to its sender as often as it was offered
    # (two offers may share a text: the burst and the paced thread number them concurrently).
    echoed = Counter((m["msisdn"], re.search(r'"(DRN\d+X)"', m["text"]).group(1)) for m in messages)
    assert echoed == Counter(offers.sent)
