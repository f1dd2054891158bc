"""SIGKILL a posting process at random points, many times: committed work survives, nothing is
half-applied, the invariants hold."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select

from ledger import Account, check_ledger, create_accounts
from ledger.schema import transfers

ROUNDS = 10
REPO = Path(__file__).resolve().parents[2]


def run_and_kill(url: str, seed: int, rng: random.Random) -> tuple[int, tuple[int, int] | None]:
    """Start the child, let it report 1-4 commits, SIGKILL it; return (last committed id, in-flight ids)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.crash_child", url, str(seed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    committed, in_flight, wanted = 0, None, rng.randrange(1, 5)
    try:
        for line in child.stdout:
            kind, *ids = line.split()
            if kind == "B":
                in_flight = (int(ids[0]), int(ids[1]))
            else:
                committed, in_flight = int(ids[0]), None
                wanted -= 1
                if wanted == 0:
                    break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert committed, "the child never committed"
    return committed, in_flight


def test_sigkill_never_loses_or_half_applies(engine: Engine) -> None:
    with engine.begin() as conn:
        create_accounts(conn, [Account(i, "KES") for i in range(1, 6)], 0)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    rng = random.Random(5)
    for round_no in range(ROUNDS):
        committed, in_flight = run_and_kill(url, seed=round_no, rng=rng)
        with engine.connect() as conn:
            ids = set(conn.execute(select(transfers.c.id)).scalars())
            report = check_ledger(conn)
        assert report.ok, report.violations
        top = max(ids)
        assert ids == set(range(1, top + 1)), "a gap: some transfer got lost"
        assert top >= committed, "a batch whose commit returned is missing"
        if in_flight is not None:  # killed inside a batch: all of it or none of it
            assert top in (in_flight[0] - 1, in_flight[1]), (top, in_flight)
        engine.dispose()
