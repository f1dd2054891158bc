"""CPU to start (and finish) the light `smscore` commands: the median user+sys milliseconds of N runs
of each, in fresh processes. With `--before TREE` (a checkout of another commit, e.g. from
`git archive main | tar -x -C DIR`) each command also runs from that tree with this venv, the two
interleaved so the machine's load weighs on both alike. Prints one JSON object.
Run: .venv/bin/python benchmarks/cli_startup.py [--runs 7] [--before DIR]
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = [
    ["--help"],
    ["status", "--url", "http://127.0.0.1:1"],  # nobody there: it reads, fails, says so
    ["sim", "send", "254711000001", "12345", "hi", "--api", "http://127.0.0.1:1"],
    ["config", "check", "etc/smscore.toml"],
    ["run", "--help"],
]
# `smscore` from the tree given, ahead of the venv's editable install of this one.
LAUNCH = """
import sys
tree = sys.argv.pop(1)
sys.meta_path = [f for f in sys.meta_path if "editable" not in getattr(type(f), "__module__", "")
                 and "editable" not in getattr(f, "__module__", "")]
sys.path.insert(0, tree)
from daemon.cli import main
sys.argv[0] = "smscore"
main()
"""


def cpu_ms(tree: Path, args: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-c", LAUNCH, str(tree), *args]
    subprocess.run(command, cwd=REPO, capture_output=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    options = parser.parse_args()
    trees = {"after": REPO} if options.before is None else {"before": options.before, "after": REPO}
    figures = {}
    for args in COMMANDS:
        samples: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(options.runs):
            for name, tree in trees.items():
                samples[name].append(cpu_ms(tree, args))
        figures[" ".join(["smscore", *args])] = {
            f"{name}_cpu_ms": round(statistics.median(values)) for name, values in samples.items()
        }
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()}
    print(json.dumps({"runs": options.runs, "machine": machine, "commands": figures}, indent=2))


if __name__ == "__main__":
    main()
