"""Where the daemon's memory goes during a soak: `smscore run` under tracemalloc, a snapshot every
`--interval-s`, and a report of what grew between two of them.

As a wrapper (`benchmarks/soak.py --tracemalloc DIR` puts it in front of the daemon's command):

    python -m benchmarks.soak_tracemalloc --dir DIR [--start-after-s 20] [--interval-s 60] -- \\
        python smscore run --config FILE

runs the daemon in this process, starts tracemalloc `--start-after-s` later (once it is up: tracing
its imports and start-up would take minutes, and what a leak is made of is allocated later), and
writes DIR/snapshot-NNNN.pickle every interval after that (and one more at exit). Then

    python -m benchmarks.soak_tracemalloc --report DIR [--from N] [--top 15]

compares snapshot N (default 0) with the last, grouped by traceback, and prints the allocations that grew most as JSON (KiB and blocks, with their frames).
Tracing slows the daemon (2-3x), so run it at a low rate; the growth per MO is what to compare.

Where an allocation is made is not what keeps it: on SIGUSR1 the wrapper (in the daemon's main
thread) takes the sites that grew most since the first snapshot, finds a few of their objects still
alive, and writes DIR/backrefs.json: for each, the chain of references from a module that keeps it
(objgraph.find_backref_chain). benchmarks/soak.py sends it before stopping the daemon.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import reprlib
import signal
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

SNAPSHOT_GLOB = "snapshot-*.pickle"
BACKREFS_FILE = "backrefs.json"
BACKREF_SITES = 6  # allocation sites followed
OBJECTS_PER_SITE = 2


class Snapshots:
    """Starts tracing after start_after_s, then writes a snapshot every interval_s from a daemon
    thread, and one at exit."""

    def __init__(
        self, directory: Path, start_after_s: float, interval_s: float, frames: int
    ) -> None:
        self.directory = directory
        self.start_after_s = start_after_s
        self.interval_s = interval_s
        self.frames = frames
        self.taken = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def take(self) -> None:
        if not tracemalloc.is_tracing():
            return
        with self._lock:
            snapshot = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),)
            )
            snapshot.dump(str(self.directory / f"snapshot-{self.taken:04d}.pickle"))
            self.taken += 1

    def _every_interval(self) -> None:
        if self._stop.wait(self.start_after_s):
            return
        tracemalloc.start(self.frames)
        while not self._stop.wait(self.interval_s):
            self.take()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._every_interval, name="tracemalloc", daemon=True).start()
        atexit.register(self.stop)

    def stop(self) -> None:
        self._stop.set()
        self.take()


def wrap(directory: Path, start_after_s: float, interval_s: float, frames: int,
         command: list[str]) -> int:  # fmt: skip
    """Run `command` ([python] smscore run ...) here, traced; returns its exit status."""
    Snapshots(directory, start_after_s, interval_s, frames).start()
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: write_backrefs(directory))
    if command and Path(command[0]).name.startswith("python"):
        command = command[1:]  # this process is the interpreter
    sys.argv = command
    from daemon.cli import main

    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _describe(obj: Any) -> str:
    shown = reprlib.Repr()
    shown.maxstring = shown.maxother = 60
    return f"{type(obj).__module__}.{type(obj).__qualname__}: {shown.repr(obj)}"


def backrefs(first: tracemalloc.Snapshot) -> list[dict[str, Any]]:
    """For the sites that grew most since `first`: a few live objects and what keeps each."""
    import objgraph

    grew = tracemalloc.take_snapshot().compare_to(first, "traceback")[:BACKREF_SITES]
    alive: dict[tracemalloc.Traceback, list[Any]] = {stat.traceback: [] for stat in grew}
    for obj in gc.get_objects():
        where = tracemalloc.get_object_traceback(obj)
        found = alive.get(where) if where is not None else None
        if found is not None and len(found) < OBJECTS_PER_SITE:
            found.append(obj)
    sites = []
    for stat in grew:
        chains = [
            [_describe(link) for link in
             objgraph.find_backref_chain(obj, objgraph.is_proper_module, max_depth=30)]
            for obj in alive[stat.traceback]
        ]  # fmt: skip
        sites.append({
            "size_diff_kib": round(stat.size_diff / 1024, 1),
            "count_diff": stat.count_diff,
            "allocated_at": [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback][-4:],
            "kept_by": chains,  # module first, the object last; a lone object: no chain found
        })  # fmt: skip
    return sites


def write_backrefs(directory: Path) -> None:
    paths = sorted(directory.glob(SNAPSHOT_GLOB))
    if not paths or not tracemalloc.is_tracing():
        return
    sites = backrefs(tracemalloc.Snapshot.load(str(paths[0])))
    (directory / BACKREFS_FILE).write_text(json.dumps({"since": paths[0].name, "sites": sites},
                                                      indent=2))  # fmt: skip


def report(directory: Path, first: int, top: int) -> dict[str, Any]:
    """What grew from snapshot `first` to the last one, biggest first, with each one's size in
    every snapshot from `first` on (a leak grows in each; a cache filling up levels off)."""
    paths = sorted(directory.glob(SNAPSHOT_GLOB))
    if len(paths) < 2:
        raise SystemExit(f"{directory}: fewer than two snapshots")
    paths = paths[min(first, len(paths) - 2) :]
    snapshots = [tracemalloc.Snapshot.load(str(path)) for path in paths]
    by_traceback = [
        {stat.traceback: stat.size for stat in snapshot.statistics("traceback")}
        for snapshot in snapshots
    ]
    grew = snapshots[-1].compare_to(snapshots[0], "traceback")
    return {
        "snapshots": [path.name for path in paths],
        "traced_kib": [round(sum(sizes.values()) / 1024) for sizes in by_traceback],
        "top": [
            {
                "size_diff_kib": round(stat.size_diff / 1024, 1),
                "count_diff": stat.count_diff,
                "kib_by_snapshot": [
                    round(sizes.get(stat.traceback, 0) / 1024, 1) for sizes in by_traceback
                ],
                "frames": [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback][-8:],
            }
            for stat in grew[:top]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="write snapshots here (wrapper mode)")
    parser.add_argument("--start-after-s", type=float, default=20.0, help="start tracing then")
    parser.add_argument("--interval-s", type=float, default=60.0)
    parser.add_argument("--frames", type=int, default=8, help="frames kept per allocation")
    parser.add_argument("--report", type=Path, metavar="DIR", help="compare snapshots in DIR")
    parser.add_argument("--from", dest="first", type=int, default=0, help="snapshot to start at")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    if args.report is not None:
        print(json.dumps(report(args.report, args.first, args.top), indent=2))
        return 0
    if args.dir is None or not command:
        parser.error("either --report DIR, or --dir DIR -- COMMAND")
    return wrap(args.dir, args.start_after_s, args.interval_s, args.frames, command)


if __name__ == "__main__":
    sys.exit(main())
