"""`smscore bench`: the benchmark programs (the `benchmarks` package), each printing JSON.

`smscore bench e2e` runs simulator load against a `smscore run` subprocess (see benchmarks/e2e.py);
`smscore bench send` runs random wallet-to-wallet SENDs the same way and checks every one posted
exactly once (benchmarks/send.py); `smscore bench soak` runs a steady BAL/SEND mix for a long time
and records the daemon's memory and latency over it (benchmarks/soak.py); `smscore bench codec`
measures the SMPP codec against smpplib and bare struct. `smscore bench workload NAME` runs one of
issue 19's standard workloads (bal, send, mix, mix-encrypted, ussd: benchmarks/workload.py) and
`smscore bench sweep` runs one at rising rates, finds the knee and draws it (benchmarks/sweep.py). They are installed with smscore, so they
run from an installed package as from a source checkout. The benchmarks that need more than the
package (callgrind, a PostgreSQL server) are run from a checkout as scripts:
`python benchmarks/codec_instructions.py`, `python benchmarks/ledger.py`.
"""

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from daemon.click_types import FINITE_FLOAT

BENCHMARKS_PACKAGE = "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    module_name = f"{BENCHMARKS_PACKAGE}.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (BENCHMARKS_PACKAGE, module_name):
            raise  # the benchmark is there; something it imports is not
        click.echo(
            f"smscore bench: {module_name} is not installed: this smscore was installed without "
            "its benchmarks (pip install . in a source checkout installs them)",
            err=True,
        )
        sys.exit(2)


@click.group()
def bench() -> None:
    """Benchmarks (print JSON; record the figures in BENCHMARKS.md).

    Run from an installed package or a source checkout alike; see BENCHMARKS.md for the figures.
    """


@bench.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def e2e(args: tuple[str, ...]) -> None:
    """MO→reply throughput, latency and exactly-once of the whole daemon (--help for options).

    Example: smscore bench e2e --rate 1000 --duration 10 (--encrypted: enrolled app devices)
    """
    sys.exit(load_benchmark("e2e").main(list(args)))


@bench.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def send(args: tuple[str, ...]) -> None:
    """SEND between random subscribers: rate, latency, exactly-once (--help for options).

    Example: smscore bench send --rate 500 --duration 60 (100,000 accounts; --post-at-once)
    """
    sys.exit(load_benchmark("send").main(list(args)))


@bench.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def soak(args: tuple[str, ...]) -> None:
    """Memory and latency of the daemon at a steady rate over a long run (--help for options).

    Example: smscore bench soak --rate 200 --duration-s 1800 --plot soak.png
    """
    sys.exit(load_benchmark("soak").main(list(args)))


@bench.command()
def codec() -> None:
    """Encode/decode PDUs per second: ours, smpplib and bare struct."""
    module = load_benchmark("codec")
    module.main()


@bench.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def crypto(args: tuple[str, ...]) -> None:
    """App-frame open and offline-transfer verify per second on one core (--help for options).

    Example: smscore bench crypto --seconds 2
    """
    sys.exit(load_benchmark("crypto").main(list(args)))


@bench.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def profile(args: tuple[str, ...]) -> None:
    """CPU per BAL by pipeline stage, the slowest named (py-spy; --help for options).

    Needs py-spy (pip install 'smscore[bench]'). Example: smscore bench profile --rate 1000
    """
    sys.exit(load_benchmark("profile").main(list(args)))


def _plan_or_exit(**fields: Any) -> Any:
    module = load_benchmark("workload")
    try:
        return module.WorkloadPlan(**fields)
    except ValueError as exc:
        click.echo(f"smscore bench: {exc}", err=True)
        sys.exit(2)


def _progress(choice: bool | None) -> bool:
    if choice is not None:
        return choice
    return load_benchmark("progress").wanted()


def _workload_options(command: Callable[..., None]) -> Callable[..., None]:
    options = (
        click.option("--duration", type=FINITE_FLOAT, default=30.0, show_default=True,
                     help="Measured seconds (after the warm-up)."),
        click.option("--warmup", type=FINITE_FLOAT, default=2.0, show_default=True,
                     help="Seconds sent first but not measured."),
        click.option("--accounts", type=int, default=None,
                     help="Customers seeded (default: bal 10,000, send 1,000,000, mix 100,000, "
                          "mix-encrypted 10,000, ussd 10,000)."),
        click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the MOs."),
        click.option("--drain", type=FINITE_FLOAT, default=60.0, show_default=True,
                     help="At most this long for the daemon to finish after the last MO."),
        click.option("--progress/--no-progress", default=None,
                     help="The live display on stderr (default: only when stdout is a terminal)."),
    )  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@bench.command()
@click.argument("name", metavar="NAME")
@click.option(
    "--rate",
    type=FINITE_FLOAT,
    default=200.0,
    show_default=True,
    help="MOs (or dialogues) per second, open loop.",
)
@_workload_options
@click.option(
    "--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here."
)
@click.option("--keep-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the database and the daemon's log here.")  # fmt: skip
def workload(
    name: str, rate: float, duration: float, warmup: float, accounts: int | None, seed: int,
    drain: float, progress: bool | None, json_out: Path | None, keep_dir: Path | None,
) -> None:  # fmt: skip
    """One standard workload against the real daemon and simulator: JSON on stdout.

    NAME is bal, send, mix, mix-encrypted or ussd (see BENCHMARKS.md "Issue 19: workloads").
    Example: smscore bench workload bal --rate 200 --duration 5
    """
    plan = _plan_or_exit(
        workload=name, rate_per_s=rate, duration_s=duration, warmup_s=warmup, accounts=accounts,
        seed=seed, drain_s=drain, keep_dir=keep_dir, progress=_progress(progress),
    )  # fmt: skip
    sys.exit(load_benchmark("workload").main(plan, json_out))


@bench.command()
@click.option("--workload", "name", default="bal", show_default=True, help="The workload swept.")
@click.option(
    "--rates",
    default=None,
    help="Offered rates, comma-separated (default: doubling from --start until saturated).",
)
@click.option(
    "--start", type=FINITE_FLOAT, default=250.0, show_default=True, help="First rate when doubling."
)
@click.option(
    "--max-rate",
    type=FINITE_FLOAT,
    default=16_000.0,
    show_default=True,
    help="Doubling stops here.",
)
@click.option(
    "--p99-bound-ms",
    type=FINITE_FLOAT,
    default=100.0,
    show_default=True,
    help="The knee's p99 bound.",
)
@_workload_options
@click.option(
    "--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here."
)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=Path("sweep.png"),
              show_default=True, help="The PNG drawn.")  # fmt: skip
def sweep(
    name: str, rates: str | None, start: float, max_rate: float, p99_bound_ms: float,
    duration: float, warmup: float, accounts: int | None, seed: int, drain: float,
    progress: bool | None, json_out: Path | None, plot: Path,
) -> None:  # fmt: skip
    """Run a workload at rising offered rates; find the knee; draw latency and rate (PNG).

    The knee: the highest offered rate whose sustained rate is at least 95 % of it and whose p99
    is under --p99-bound-ms. Each rate runs in its own process.
    Example: smscore bench sweep --workload bal --rates 500,1000,2000 --duration 10
    """
    module = load_benchmark("sweep")
    try:
        settings = module.SweepSettings(
            workload=name, rates=module.parse_rates(rates), start_rate=start, max_rate=max_rate,
            p99_bound_ms=p99_bound_ms, duration_s=duration, warmup_s=warmup, accounts=accounts,
            seed=seed, drain_s=drain, progress=_progress(progress), plot=plot,
        )  # fmt: skip
    except ValueError as exc:
        click.echo(f"smscore bench sweep: {exc}", err=True)
        sys.exit(2)
    sys.exit(module.main(settings, json_out))
