"""`smscore bench`: the benchmark programs of a source checkout (benchmarks/*.py), each printing JSON.

`smscore bench e2e` runs simulator load against a `smscore run` subprocess (see benchmarks/e2e.py);
`smscore bench codec` measures the SMPP codec. The programs live in the repository, not in the
installed package (they are tools for developers, with their own dependencies such as smpplib and a
PostgreSQL server, not part of the service), so `--help` says so and the commands stop with one line
when they are not there.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import click

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    path = BENCHMARKS_DIR / f"{name}.py"
    if not path.is_file():
        click.echo(
            f"smscore bench: {path} not found: the benchmarks run from a source checkout "
            f"(git clone the repository, pip install -e . in it, run smscore bench there)",
            err=True,
        )
        sys.exit(2)
    spec = importlib.util.spec_from_file_location(f"smscore_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@click.group()
def bench() -> None:
    """Benchmarks (print JSON; record the figures in BENCHMARKS.md).

    Needs a source checkout with an editable install (pip install -e .): the programs are
    benchmarks/*.py of the repository, not part of the installed package.
    """


@bench.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def e2e(args: tuple[str, ...]) -> None:
    """MO→reply throughput, latency and exactly-once of the whole daemon (--help for options).

    Example: smscore bench e2e --rate 1000 --duration 10
    """
    sys.exit(load_benchmark("e2e").main(list(args)))


@bench.command()
def codec() -> None:
    """Encode/decode PDUs per second: ours, smpplib and bare struct (needs smpplib)."""
    module = load_benchmark("codec")
    module.main()
