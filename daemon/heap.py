"""The garbage collector after start-up.

Start-up builds objects that live as long as the process (modules, compiled statements, catalogues,
menus, the config). Python's full collections walk every tracked object each time, so at a few
thousand messages a second they came to about a fifth of the daemon's CPU (benchmarks/profile.py,
BENCHMARKS.md "Issue 19"). `freeze_start_up_heap` collects once, then moves what is left into the
collector's permanent generation: later collections only walk what was made since. A message's
objects (PDUs, rows, Deferreds) die within a batch, so the youngest generation is let grow to
YOUNG_THRESHOLD before a collection: fewer of them live long enough to be promoted and walked again.
"""

import gc

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def freeze_start_up_heap() -> int:
    """Call once the daemon runs; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _young, *older = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *older)
    return gc.get_freeze_count()
