"""Run a Python program (the daemon: `smscore run ...`) in this process under a CPU-weighted stack
sampler, for benchmarks.profile.

    python -m benchmarks.profile_sampler --out FILE [--interval-ms 10] -- PYTHON SCRIPT ARGS...

Every `interval_ms` a thread of its own reads each other thread's CPU clock
(`pthread_getcpuclockid`) and its current Python stack, and adds the CPU that thread used since the
last look to that stack. A thread blocked in C (waiting for the GIL, a lock, fsync, epoll) uses no
CPU and so adds nothing, whatever the load on the machine: this is what a wall-clock sampler such as
py-spy cannot tell on a shared machine (it counted 3x more busy samples than the daemon's CPU).
A stack whose innermost Python line calls a DB-API method (`cursor.execute(...)`,
`dbapi_connection.commit()`) gets a frame `dbapi call (_sqlite3)` appended: that time is in the
driver (SQLite's C code, the commit's write and sync).

The stacks go to FILE once a second, rewritten whole, as lines `thread;frame;...;frame cpu_ns`
(frames outermost first, `function (path:line)`), so the file is complete up to the last second
however the program ends (`smscore run` exits without the interpreter's teardown). FILE.json holds
the garbage collector's CPU (gc.callbacks), the sampler's own CPU and the process's CPU.
"""

from __future__ import annotations

import gc
import json
import linecache
import os
import runpy
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

DBAPI_CALLS = (".execute(", ".executemany(", ".commit(", ".rollback(", ".fetchall(",
               ".fetchone(", ".fetchmany(", ".cursor(", "executescript(")  # fmt: skip
DRIVER_FRAME = "dbapi call (_sqlite3)"
_ROOTS = ("site-packages/", "lib/python3")


def short_path(filename: str, project_root: str) -> str:
    if filename.startswith(project_root) and "site-packages/" not in filename:
        return filename[len(project_root) :].lstrip("/")
    for root in _ROOTS:
        at = filename.find(root)
        if at >= 0:
            rest = filename[at + len(root) :]
            return rest.split("/", 1)[1] if root == "lib/python3" and "/" in rest else rest
    return filename


class Sampler:
    def __init__(self, out_path: Path, interval_s: float) -> None:
        self.out_path = out_path
        self.interval_s = interval_s
        self.project_root = str(Path(__file__).resolve().parent.parent) + "/"
        self.stacks: Counter = Counter()  # (thread name, ((code, line), ...)) -> CPU ns
        self._last_cpu_ns: dict[int, int] = {}
        self._clocks: dict[int, int] = {}
        self._names: dict[tuple, str] = {}
        self.gc_ns = 0
        self.gc_ns_by_generation = [0, 0, 0]
        self._gc_started_ns = 0
        self.own_cpu_ns = 0

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        threading.Thread(target=self._run, name="profile-sampler", daemon=True).start()

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started_ns = time.thread_time_ns()
        else:
            used_ns = max(0, time.thread_time_ns() - self._gc_started_ns)
            self.gc_ns += used_ns
            self.gc_ns_by_generation[info["generation"]] += used_ns

    def _run(self) -> None:
        next_dump_s = time.monotonic() + 1.0
        while True:
            time.sleep(self.interval_s)
            try:
                self.sample()
                if time.monotonic() >= next_dump_s:
                    self.dump()
                    next_dump_s = time.monotonic() + 1.0
            except Exception as exc:  # a profile with a gap beats no profile; say what happened
                with open(f"{self.out_path}.err", "a") as errors:
                    errors.write(f"{type(exc).__name__}: {exc}\n")
            self.own_cpu_ns = time.thread_time_ns()

    def _cpu_ns(self, ident: int) -> int | None:
        clock = self._clocks.get(ident)
        try:
            if clock is None:
                clock = self._clocks[ident] = time.pthread_getcpuclockid(ident)
            return time.clock_gettime_ns(clock)
        except (OSError, OverflowError):  # the thread ended meanwhile
            return None

    def sample(self) -> None:
        frames = sys._current_frames()
        me = threading.get_ident()
        for thread in threading.enumerate():
            ident = thread.ident
            if ident is None or ident == me or ident not in frames:
                continue
            cpu_ns = self._cpu_ns(ident)
            if cpu_ns is None:
                continue
            used_ns = cpu_ns - self._last_cpu_ns.get(ident, cpu_ns)
            self._last_cpu_ns[ident] = cpu_ns
            if used_ns > 0:
                self.stacks[(thread.name, _stack_key(frames[ident]))] += used_ns

    def _frame_text(self, code_line: tuple) -> str:
        text = self._names.get(code_line)
        if text is None:
            code, line = code_line
            path = short_path(code.co_filename, self.project_root)
            text = self._names[code_line] = f"{code.co_qualname} ({path}:{line})"
        return text

    def lines(self) -> list[str]:
        out = []
        for (thread_name, key), cpu_ns in list(self.stacks.items()):
            frames = [self._frame_text(code_line) for code_line in key]
            if key and _calls_dbapi(key[-1]):
                frames.append(DRIVER_FRAME)
            out.append(f"thread: {thread_name};{';'.join(frames)} {cpu_ns}")
        return out

    def dump(self) -> None:
        lines = self.lines()
        extras = {"gc_cpu_ns": self.gc_ns, "gc_cpu_ns_by_generation": self.gc_ns_by_generation,
                  "gc_collections": [stats["collections"] for stats in gc.get_stats()],
                  "sampler_cpu_ns": self.own_cpu_ns, "process_cpu_ns": time.process_time_ns()}  # fmt: skip
        temporary = self.out_path.with_suffix(".tmp")
        temporary.write_text("\n".join(lines) + "\n")
        os.replace(temporary, self.out_path)
        Path(f"{self.out_path}.json").write_text(json.dumps(extras))


def _stack_key(frame: FrameType | None) -> tuple:
    key = []
    while frame is not None:
        key.append((frame.f_code, frame.f_lineno or 0))  # None while a frame starts
        frame = frame.f_back
    key.reverse()
    return tuple(key)


def _calls_dbapi(code_line: tuple) -> bool:
    code, line = code_line
    text = linecache.getline(code.co_filename, line)
    return any(call in text for call in DBAPI_CALLS)


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- PYTHON SCRIPT ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    script, *script_args = command[1:]  # command[0] is the interpreter: this one runs it
    Sampler(args.out, args.interval_ms / 1000).start()
    sys.argv = [script, *script_args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
