"""exit_now: a stopped process ends at once with its code, its exit handlers run and its buffered
output written (what the interpreter's exit would keep; its teardown is what it skips)."""

import subprocess
import sys

PROGRAM = """
import atexit, sys
from smscore.process_exit import exit_now
atexit.register(lambda: print("exit handler ran"))
sys.stdout.write("buffered, no newline")
sys.stderr.write("on stderr")
exit_now(3)
print("never")
"""


def test_the_code_the_handlers_and_the_buffers_survive() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, no newlineexit handler ran\n"
    assert done.stderr == "on stderr"
