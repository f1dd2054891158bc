"""The process's stop signal: the first stops the reactor, later ones are ignored."""

from twisted.internet.error import ReactorNotRunning

from daemon.runner import StopOnce


class FakeReactor:
    def __init__(self) -> None:
        self.running = True
        self.stops = 0

    def callFromThread(self, function) -> None:
        function()

    def stop(self) -> None:
        if not self.running:
            raise ReactorNotRunning("Can't stop reactor that isn't running.")
        self.stops += 1
        self.running = False


def test_only_the_first_signal_stops_the_reactor():
    reactor = FakeReactor()
    stop_once = StopOnce(reactor)
    for _ in range(3):
        stop_once.on_signal(15, None)
    assert (reactor.stops, stop_once.signals) == (1, 3)


def test_a_signal_after_the_reactor_stopped_by_itself_does_nothing():
    reactor = FakeReactor()
    reactor.running = False  # stopped by a hook (the demo's --exit-after)
    StopOnce(reactor).on_signal(15, None)
    assert reactor.stops == 0
