"""`smscore chaos`: a mixed money workload against the real daemon under random faults and SIGKILLs,
then a verdict against an independent model. Prints one JSON object; exit 0 on pass, 1 on a failed
verdict (the seed is printed so `smscore chaos --seed N` replays the plan), 2 on bad options."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import click

from daemon.chaos.plan import make_plan
from daemon.chaos.run import ChaosRun, Evidence, Options
from daemon.chaos.world import make_people, run_seed, tariff_text
from daemon.click_types import FiniteFloatRange

LEDGER_CHECK_TIMEOUT_S = 120


@click.command()
@click.option("--seed", type=int, help="the run's seed (default: a fresh one, printed)")
@click.option("--duration", "duration_s", type=FiniteFloatRange(min=1), default=30.0,
              show_default=True, help="seconds of load and faults")  # fmt: skip
@click.option("--rate", "rate_per_s", type=FiniteFloatRange(min=0.1), default=8.0,
              show_default=True, help="new intents (MOs, dialogues) per second")  # fmt: skip
@click.option("--kills", type=click.IntRange(min=0), default=5, show_default=True,
              help="SIGKILLs of the daemon, each followed by a restart")  # fmt: skip
@click.option("--customers", type=click.IntRange(min=3), default=30, show_default=True)
@click.option("--drain", "drain_s", type=FiniteFloatRange(min=1), default=90.0,
              show_default=True, help="at most this long for the system to come to rest")  # fmt: skip
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the timeline (rate, faults, kills) as a PNG here")  # fmt: skip
@click.option("--keep-dir", type=click.Path(file_okay=False, path_type=Path),
              help="run in this (new or empty) directory and keep it: database, logs")  # fmt: skip
def chaos(
    seed: int | None, duration_s: float, rate_per_s: float, kills: int, customers: int,
    drain_s: float, plot_path: Path | None, keep_dir: Path | None,
) -> None:  # fmt: skip
    """Drive SEND, DEPOSIT, WITHDRAW, PAY, BUY, BAL, REQ, USSD, wrong PINs and malformed texts
    through the SMSC simulator into `smscore run`, with faults switched on and off from the seed
    (dropped links, throttling, lost and delayed responses, re-delivered MOs, lost and late
    receipts, airtime failures, a held database lock) and the daemon killed and restarted; then
    check every acknowledged MO had one outcome and at most one posting, every balance equals the
    model's, the ledger's invariants hold and no pending transfer outlived its timeout.

    Example: smscore chaos --seed 7 --duration 60 --kills 10 --plot chaos.png
    """
    options = Options(run_seed(seed), duration_s, rate_per_s, kills, customers, drain_s=drain_s)
    if keep_dir is not None:
        if keep_dir.exists() and any(keep_dir.iterdir()):
            raise click.BadParameter(f"{keep_dir} is not empty", param_hint="--keep-dir")
        keep_dir.mkdir(parents=True, exist_ok=True)
        result = run_chaos(options, keep_dir, plot_path)
    else:
        with tempfile.TemporaryDirectory(prefix="smscore-chaos-") as temporary:
            result = run_chaos(options, Path(temporary), plot_path)
    click.echo(json.dumps(result, indent=2))
    if not result["verdict"]["pass"]:
        click.echo(f"chaos: verdict FAILED; replay with: {result['replay']}", err=True)
        sys.exit(1)


def replay_command(options: Options) -> str:
    return (
        f"smscore chaos --seed {options.seed} --duration {options.duration_s:g} "
        f"--rate {options.rate_per_s:g} --kills {options.kills} --customers {options.customers}"
    )


def run_chaos(options: Options, work: Path, plot_path: Path | None) -> dict[str, Any]:
    from daemon.chaos.model import Fees
    from daemon.chaos.snapshot import read_snapshot
    from daemon.chaos.verdict import verdict

    plan = make_plan(options.seed, options.duration_s, options.kills)
    evidence, run = _drive(options, plan, work)
    ledger = ledger_check(run.config.database_url)
    snapshot = read_snapshot(run.db_path)
    driver = evidence.driver
    judged = verdict(driver.intents, snapshot, driver.messages, evidence.people.opening(),
                     Fees.parse(tariff_text()), ledger, evidence.quiet,
                     evidence.timeline.down_spans_s())  # fmt: skip
    result = summary(options, evidence, snapshot, judged)
    if plot_path is not None:
        from daemon.chaos.timeline import plot

        title = (f"smscore chaos --seed {options.seed}: {result['mos']['acknowledged']} MOs, "
                 f"{evidence.daemon.kills} kills, verdict {'pass' if judged['pass'] else 'FAIL'}")  # fmt: skip
        plot(evidence.timeline, plot_path, title)
        result["plot"] = str(plot_path)
    return result


def _drive(options: Options, plan: Any, work: Path) -> tuple[Evidence, ChaosRun]:
    """The run on the global reactor (once per process)."""
    from twisted.internet import reactor

    run = ChaosRun(reactor, options, plan, work)
    run.seed(make_people(options.customers, options.agents))
    outcome: dict[str, Any] = {}

    def start() -> None:
        done = run.run()
        done.addCallbacks(lambda evidence: outcome.update(evidence=evidence),
                          lambda failure: outcome.update(error=failure))  # fmt: skip
        done.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if "error" in outcome:
        run.daemon.stop()
        outcome["error"].raiseException()
    return outcome["evidence"], run


def ledger_check(database_url: str) -> tuple[int, str]:
    """`smscore ledger check` as an operator runs it: its exit code and output."""
    from daemon.chaos.process import smscore_command

    done = subprocess.run(
        [*smscore_command(), "ledger", "check", "--db", database_url],
        capture_output=True, text=True, timeout=LEDGER_CHECK_TIMEOUT_S,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def summary(
    options: Options, evidence: Evidence, snapshot: Any, judged: dict[str, Any]
) -> dict[str, Any]:
    intents = evidence.driver.intents
    sms = [intent for intent in intents if intent.text is not None]
    stats = evidence.simulator_stats
    return {
        "seed": options.seed,
        "duration_s": options.duration_s,
        "rate_per_s": options.rate_per_s,
        "mos": {
            "sent": len(sms),
            "acknowledged": sum(1 for intent in sms if intent.acked_at_s is not None),
            "never_acknowledged": sum(1 for intent in sms if intent.acked_at_s is None),
            "by_kind": dict(sorted(Counter(intent.kind for intent in intents).items())),
            "redelivered_by_smsc": stats.get("mo_redelivered", 0),
        },
        "ussd": {
            key: count
            for key, count in sorted(evidence.driver.counts.items())
            if key.startswith("ussd_")
        },
        "ussd_gave_up": evidence.driver.gave_up[:10],
        "replies": len(evidence.driver.messages),
        "postings": sum(1 for move in snapshot.moves if move["state"] == "posted"),
        "moves_by_state": dict(Counter(move["state"] for move in snapshot.moves)),
        "kills": evidence.daemon.kills,
        "starts": evidence.daemon.starts,
        "died_by_itself": evidence.died_by_itself,
        "faults": dict(sorted(evidence.switch.started.items())),
        "fault_actions": stats.get("fault_actions", {}),
        "db_lock": {
            "taken": evidence.switch.lock.taken,
            "held_s": round(evidence.switch.lock.held_s, 2),
        },
        "drain_s": evidence.drain_took_s,
        "drain_waited_for": evidence.waited_for,
        "daemon_exit": evidence.daemon_exit,
        "verdict": judged,
        "replay": replay_command(options),
        "timeline": evidence.timeline.as_json() if not judged["pass"] else None,
    }
