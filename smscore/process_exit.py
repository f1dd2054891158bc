"""Leaving a process that has stopped cleanly, without the interpreter's teardown.

After "Main loop terminated." the daemon and the simulator have closed their sockets, stopped their
threads and disposed of their databases. What Python's own exit would still do is free every module
and object one by one: about 1,200 modules and 140,000 objects in `smscore run`, half a second of
CPU, and several seconds on a loaded machine, while systemd or a script waits for the process.
"""

import atexit
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Run the exit handlers (logging's flush, weakref finalizers, a coverage run's save), flush the
    standard streams, then end the process with `code` at once."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or its reader went away: nothing more to say
            pass
    os._exit(code)
