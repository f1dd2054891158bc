"""Time for the daemon comes from the reactor (an IReactorTime), so tests drive it with task.Clock."""

from typing import Protocol


class SecondsClock(Protocol):
    def seconds(self) -> float: ...


def now_ns(clock: SecondsClock) -> int:
    return int(clock.seconds() * 1_000_000_000)


NS_PER_S = 1_000_000_000
