"""CI's chaos run: `smscore chaos` (the real command: the simulator in its process, `smscore run` as
a child it SIGKILLs and restarts) with a few fresh seeds and at least 20 SIGKILLs in all; every
verdict must pass. Each seed is printed, so a failure is replayed with `smscore chaos --seed N` and
the options printed with it; SMSCORE_CHAOS_SEEDS=17,42,7 runs those seeds instead of fresh ones.

Short runs with many kills keep it within a few minutes on a 2-core machine; everything listens
on 127.0.0.1 only and every process is bounded (the command's own timeouts, and this test's)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

SMSCORE = Path(sys.executable).with_name("smscore")
RUNS = 3
KILLS_PER_RUN = 7
MIN_KILLS = 20
RUN_TIMEOUT_S = 400  # a bound on a stuck run; a run takes well under a minute on a quiet machine
OPTIONS = ("--duration", "15", "--rate", "6", "--kills", str(KILLS_PER_RUN), "--customers", "12",
           "--drain", "120")  # fmt: skip


def chaos(seed: int, work: Path) -> dict:
    command = [str(SMSCORE), "chaos", "--seed", str(seed), *OPTIONS, "--keep-dir", str(work)]
    print(f"chaos seed {seed}: {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode in (0, 1), f"seed {seed}: exit {done.returncode}: {done.stderr[-3000:]}"
    return json.loads(done.stdout)


def fresh_seeds() -> list[int]:
    return [random.randrange(1 << 31) for _ in range(RUNS)]


def test_chaos_runs_pass_their_verdicts_through_20_sigkills(tmp_path: Path) -> None:
    pinned = os.environ.get("SMSCORE_CHAOS_SEEDS")  # e.g. "17,42,7": replay CI's seeds
    seeds = [int(seed) for seed in pinned.split(",")] if pinned else fresh_seeds()
    print(f"chaos seeds: {seeds}")
    kills = 0
    for seed in seeds:
        result = chaos(seed, tmp_path / str(seed))
        verdict = result["verdict"]
        failing = {name: check for name, check in verdict["checks"].items() if not check["ok"]}
        assert verdict["pass"], f"seed {seed} failed ({result['replay']}): {failing}"
        assert result["seed"] == seed and result["kills"] == KILLS_PER_RUN
        assert result["starts"] == KILLS_PER_RUN + 1 and result["died_by_itself"] == []
        assert result["mos"]["acknowledged"] == result["mos"]["sent"] > 0
        assert result["postings"] > 0 and result["replies"] > 0 and result["faults"]
        assert result["daemon_exit"] == 0  # a clean SIGTERM stop after the run
        kills += result["kills"]
    assert kills >= MIN_KILLS, f"only {kills} SIGKILLs (seeds {seeds})"
