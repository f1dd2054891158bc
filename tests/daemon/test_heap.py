"""daemon.heap: start-up's objects frozen out of the collector's walks, a larger young generation."""

import gc

from daemon import heap


def test_freezing_moves_start_up_objects_out_of_the_collections() -> None:
    threshold = gc.get_threshold()
    tracked = [[index] for index in range(1000)]
    try:
        frozen = heap.freeze_start_up_heap()
        assert frozen == gc.get_freeze_count() >= len(tracked)
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *threshold[1:])
        walked = {id(obj) for obj in gc.get_objects()}  # the generations a collection walks
        assert gc.is_tracked(tracked[0]) and id(tracked[0]) not in walked
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
