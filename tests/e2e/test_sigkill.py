"""SIGKILL the daemon (on SQLite and on PostgreSQL) at random points while MOs flow, restart it, and check the outcome.

The simulator keeps running across the restarts, re-delivering what the dead daemon did not
acknowledge. What is proven:

- every MO the simulator got ESME_ROK for is in the inbox exactly once, processed once (attempts 1),
  and has exactly one reply row; the phone receives that reply (matched by the SMSC message id);
- a phone receives a second copy only of a reply that was in flight (claimed, submit_sm possibly
  accepted, outcome not yet stored) when the daemon was killed. SMPP has no idempotent submit: the
  daemon cannot learn whether the dead process's submit_sm was accepted, and losing the reply would be
  worse, so such a row is sent again (at-least-once): one extra copy at most for each kill it was
  in flight at. No other reply is ever duplicated;
- a reply in flight at a kill goes out within seconds of the restart (the restarted process owns
  nothing in flight and re-queues its own rows at start-up), not after in_flight_timeout_s, which
  stays at its default of 120 s here.
"""

import random
import time
from collections import Counter
from pathlib import Path

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Subscriber,
    Tables,
    daemon_settings,
    for_engine,
    match_replies,
    seed_subscribers,
    subscribers,
    wait_for,
)

PEOPLE = subscribers(24, first=254_714_000_000)
UNKNOWN_PER_PERSON = 8
KILLS = 4
SEED = random.randrange(1 << 32)
IN_FLIGHT_TIMEOUT_S = 120.0  # the default: only the start-up re-queue can free rows in time
# From the restarted process's spawn to the phone receiving a reply that was in flight at the kill:
# the start-up (Python imports, schema check) and one claim; under in_flight_timeout_s it was 120 s.
MAX_REPLY_DELAY_S = 10.0


def _mos(people: list[Subscriber]) -> list[tuple[str, str]]:
    """(msisdn, text), all different: unknown words are echoed in the reply, so each reply names its
    MO; two BALs per person go through the PIN check and the ledger."""
    mos = []
    for index, person in enumerate(people):
        mos += [(person.msisdn, f"HI{index}X{n}") for n in range(UNKNOWN_PER_PERSON)]
        mos += [(person.msisdn, f"BAL {person.pin}"), (person.msisdn, f"bal {person.pin}")]
    return mos


def _in_flight(url: str) -> list[tuple[int, str, str]]:
    tables = Tables.open(url)
    try:
        return [
            (row.id, row.destination_addr, row.text)
            for row in tables.outbox_rows()
            if row.status == "in_flight"
        ]
    finally:
        tables.close()


def _late_by_s(submitted_at_s: float, starts_s: list[float]) -> float:
    """How long after the daemon's latest (re)start before `submitted_at_s` a reply was sent."""
    return submitted_at_s - max(start for start in starts_s if start <= submitted_at_s)


def _progress(simulator: SimulatorProcess, tables: Tables) -> tuple:
    stats = simulator.stats()
    return stats["mo_acknowledged"], stats["deliveries_pending"], tables.outbox_counts()


def _all_answered(mos: int, tables: Tables) -> tuple[int, int, dict[str, int]]:
    """What _progress shows once every MO is acknowledged and every stored one's reply delivered."""
    return mos, 0, {"delivered": len(tables.inbox_rows())}


def test_sigkill_while_mos_flow_loses_nothing_and_processes_nothing_twice(
    tmp_path: Path, db_url: str
) -> None:
    rng = random.Random(SEED)
    people = for_engine(PEOPLE, db_url)
    mos = _mos(people)
    # Window 1: one deliver_sm at a time, so the MOs keep flowing for a few seconds.
    simulator = SimulatorProcess(tmp_path, window_size=1)
    url = db_url
    settings = daemon_settings(
        tmp_path / "state", url, simulator.port, sender={"in_flight_timeout_s": IN_FLIGHT_TIMEOUT_S}
    )
    daemon = DaemonProcess(tmp_path, settings)
    seed_subscribers(daemon.config, people)
    in_doubt: dict[int, tuple[str, str]] = {}
    # A reply in flight at two kills (re-sent after the first restart, killed again before its
    # outcome was stored) may have reached its phone once for each: count every kill it was in doubt.
    doubtful: Counter[tuple[str, str]] = Counter()
    acked_at_kill = []
    starts_s = [time.time()]
    tables = Tables.open(url)
    try:
        daemon.start().wait_ready()
        for msisdn, text in mos:
            simulator.send_mo(msisdn, text)
        for threshold in sorted(rng.sample(range(10, len(mos) - 30), KILLS)):
            # Strike while replies are in flight: those are the ones a restart must free.
            wait_for(
                lambda at_least=threshold: (
                    simulator.stats()["mo_acknowledged"] >= at_least and _in_flight(url)
                ),
                60,
                f"{threshold} MOs acknowledged, replies in flight (seed {SEED})",
                interval_s=0.01,
            )
            daemon.kill()
            acked_at_kill.append(simulator.stats()["mo_acknowledged"])
            struck = {row[0]: row[1:] for row in _in_flight(url)}
            in_doubt.update(struck)
            doubtful.update(struck.values())
            starts_s.append(time.time())
            daemon.start().wait_ready()
        # Well under in_flight_timeout_s: only the restarts' own re-queueing can meet this.
        wait_for(
            lambda: _progress(simulator, tables) == _all_answered(len(mos), tables),
            IN_FLIGHT_TIMEOUT_S / 4,
            lambda: f"every MO answered, receipted (seed {SEED}): {_progress(simulator, tables)}",
        )
        stats = simulator.stats()
        inbox_rows = tables.inbox_rows()
        outbox_rows = tables.outbox_rows()
        recorded_ids = tables.recorded_message_ids()
        messages = simulator.all_messages()
    finally:
        tables.close()
        assert daemon.stop() == 0, daemon.log()
        simulator.stop()
    context = f"seed {SEED}, acked at kills {acked_at_kill}, in doubt {len(in_doubt)}"
    assert all(acked < len(mos) for acked in acked_at_kill), context  # killed mid-flow
    assert stats["mo_failed"] == 0 and daemon.starts == KILLS + 1
    # The inbox: each acknowledged MO, processed once. A deliver_sm whose resp a kill cut off is
    # delivered again and stored again (SMPP has no MO id): at most one per kill (window 1).
    assert len(mos) <= len(inbox_rows) <= len(mos) + KILLS, context
    copies = Counter(row.dedupe_key for row in inbox_rows)
    assert len(copies) == len(mos) and max(copies.values()) <= 2, context
    assert {(row.status, row.attempts) for row in inbox_rows} == {("done", 1)}, context
    assert sorted(row.inbox_id for row in outbox_rows) == [row.id for row in inbox_rows]
    # The replies: each reply row reached its phone exactly once under its recorded message id ...
    by_row, ghosts = match_replies(messages, recorded_ids)
    rows = {row.id: row for row in outbox_rows}
    assert sorted(by_row) == sorted(rows) and all(len(got) == 1 for got in by_row.values())
    for outbox_id, [message] in by_row.items():
        assert (message["msisdn"], message["text"]) == (
            rows[outbox_id].destination_addr,
            rows[outbox_id].text,
        )
    # ... and the only extra copies are of replies that were in flight when a kill struck.
    extra = Counter((message["msisdn"], message["text"]) for message in ghosts)
    assert not extra - doubtful, f"duplicates of replies not in flight at a kill: {context}"
    # Replies in flight at a kill reached their phones within seconds of the restart.
    assert in_doubt, f"no kill struck a reply in flight: {context}"
    late_by_s = {
        outbox_id: _late_by_s(by_row[outbox_id][0]["submitted_at"], starts_s)
        for outbox_id in in_doubt
    }
    slowest_s = max(late_by_s.values())
    print(f"in doubt {len(in_doubt)}, sent after the restart within {slowest_s:.2f} s ({context})")
    assert slowest_s <= MAX_REPLY_DELAY_S, (
        f"replies late by {sorted(late_by_s.values())}: {context}"
    )
    unknown_replies = [row.text for row in outbox_rows if "did not understand" in row.text]
    assert len(set(unknown_replies)) == len(people) * UNKNOWN_PER_PERSON  # one per unknown word
