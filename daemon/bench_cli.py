"""`smscore bench`: the benchmark programs (the `benchmarks` package), each printing JSON.

`smscore bench e2e` runs simulator load against a `smscore run` subprocess (see benchmarks/e2e.py);
`smscore bench send` runs random wallet-to-wallet SENDs the same way and checks every one posted
exactly once (benchmarks/send.py); `smscore bench soak` runs a steady BAL/SEND mix for a long time
and records the daemon's memory and latency over it (benchmarks/soak.py); `smscore bench codec`
measures the SMPP codec against smpplib and bare struct. They are installed with smscore, so they
run from an installed package as from a source checkout. The benchmarks that need more than the
package (callgrind, a PostgreSQL server) are run from a checkout as scripts:
`python benchmarks/codec_instructions.py`, `python benchmarks/ledger.py`.
"""

import importlib
import sys
from types import ModuleType

import click

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
