"""The same config started twice (an operator's `smscore run` beside the running service): the
second refuses in one line naming the owner name, host and pid, and exits 1 without touching the
first's outbox lease, so the first keeps sending each reply exactly once."""

import subprocess
from pathlib import Path

from sqlalchemy import select

from daemon import exit_codes
from daemon.schema import leases
from tests.e2e.harness import (
    SMSCORE,
    DaemonProcess,
    SimulatorProcess,
    Tables,
    daemon_settings,
    free_port,
    seed_subscribers,
    subscribers,
    to_toml,
    wait_for,
)

PEOPLE = subscribers(4)


def lease_rows(tables: Tables) -> list[tuple[str, int, int]]:
    with tables.engine.connect() as conn:
        query = select(leases.c.owner, leases.c.incarnation, leases.c.pid)
        return [tuple(row) for row in conn.execute(query)]


def test_a_second_daemon_on_the_same_config_refuses_and_the_first_sends_once(
    tmp_path: Path, simulator: SimulatorProcess
) -> None:
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    first = DaemonProcess(tmp_path, daemon_settings(tmp_path / "state", url, simulator.port))
    seed_subscribers(first.config, PEOPLE)
    first.start().wait_ready()
    wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the first daemon to bind")
    tables = Tables.open(url)
    try:
        simulator.send_mo(PEOPLE[0].msisdn, f"BAL {PEOPLE[0].pin}")
        wait_for(lambda: simulator.inbox(PEOPLE[0].msisdn), 15, "the first reply")
        held = lease_rows(tables)
        # Its own ports (the same state directory, database and binds): only the lease stops it.
        second = {**first.settings, "status": {"listen": f"127.0.0.1:{free_port()}"}}
        second["api"] = {"listen": f"127.0.0.1:{free_port()}"}
        config = tmp_path / "second.toml"
        config.write_text(to_toml(second), encoding="utf-8")
        done = subprocess.run(
            [str(SMSCORE), "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        after = lease_rows(tables)
        for person in PEOPLE[1:]:
            simulator.send_mo(person.msisdn, f"BAL {person.pin}")
        wait_for(lambda: all(simulator.inbox(p.msisdn) for p in PEOPLE), 20, "every reply")
        wait_for(lambda: tables.outbox_counts() == {"delivered": len(PEOPLE)}, 20, "every receipt")
        code, health = first.health()
        status = first.status()
        inboxes = {p.msisdn: simulator.inbox(p.msisdn) for p in PEOPLE}
        attempts = [row.attempts for row in tables.outbox_rows()]
    finally:
        tables.close()
        assert first.stop() == 0, first.log()
    [owner] = [row[0] for row in held]
    assert done.returncode == exit_codes.FAILURE, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(
        f"smscore: another smscore with service.instance_name {owner} is running: pid "
    )
    assert lines[0].endswith("give this one its own instance_name")
    assert after == held and held[0][1] == 1  # the first's lease: untouched
    assert (code, health["ok"]) == (200, True)
    assert status["counters"]["lease.renew_failures"] == 0
    assert not [error for error in status["last_errors"] if error.startswith("lease")]
    assert all(len(messages) == 1 for messages in inboxes.values()), inboxes
    assert attempts == [1] * len(PEOPLE)
