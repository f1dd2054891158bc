"""A small Twisted idiom the components share for a clean stop."""

from twisted.internet.defer import Deferred, succeed


def when_done(work: Deferred | None) -> Deferred:
    """A new Deferred that fires with None once `work` has fired (at once if there is none), and
    leaves `work`'s own result, or failure, to `work`'s callbacks."""
    if work is None:
        return succeed(None)
    done: Deferred = Deferred()

    def fire(result: object) -> object:
        done.callback(None)
        return result

    work.addBoth(fire)
    return done
