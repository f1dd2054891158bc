"""when_done: waiting for work under way without taking its result."""

from twisted.internet.defer import Deferred, fail

from daemon.deferreds import when_done


def results(deferred: Deferred) -> list:
    box: list = []
    deferred.addBoth(box.append)
    return box


def test_no_work_is_done_at_once():
    assert results(when_done(None)) == [None]


def test_fires_when_the_work_fires_and_leaves_its_result_to_it():
    work: Deferred = Deferred()
    done = results(when_done(work))
    assert done == []
    work.callback("batch result")
    assert done == [None] and results(work) == ["batch result"]


def test_a_failed_work_still_ends_the_wait_and_keeps_its_failure():
    work = fail(RuntimeError("boom"))
    assert results(when_done(work)) == [None]
    [failure] = results(work)
    assert failure.check(RuntimeError)
