"""daemon.systemd_notify: the datagrams a Type=notify unit's manager receives, read from a real
AF_UNIX socket in tmp_path (or an abstract one), on a Clock."""

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from daemon.systemd_notify import (
    SystemdNotifier,
    socket_address,
    status_line,
    watchdog_interval_s,
)

SNAPSHOT = {
    "role": "all",
    "binds": [{"name": "a", "bound": True}, {"name": "b", "bound": False}],
    "queues": {"inbox_new": 3, "inbox_done": 90, "outbox_queued": 5, "outbox_in_flight": 2},
}
STATUS = "STATUS=binds 1/2 up; inbox_new 3; outbox_queued 5; outbox_in_flight 2"


class Manager:
    """The service manager's end: a datagram socket bound where $NOTIFY_SOCKET points."""

    def __init__(self, address: str) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(address)
        self.socket.setblocking(False)

    def received(self) -> list[str]:
        messages = []
        while True:
            try:
                messages.append(self.socket.recv(4096).decode())
            except BlockingIOError:
                return messages


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[Manager, str]]:
    path = str(tmp_path / "notify")
    listener = Manager(path)
    try:
        yield listener, path
    finally:
        listener.socket.close()


def notifier_for(path: str, clock: Clock, **environ: str) -> SystemdNotifier:
    return SystemdNotifier.from_environ(clock, {"NOTIFY_SOCKET": path, **environ}, pid=4242)


def test_without_notify_socket_nothing_is_sent_and_nothing_scheduled(manager) -> None:
    listener, _ = manager
    clock = Clock()
    notifier = SystemdNotifier.from_environ(clock, {"WATCHDOG_USEC": "1000000"}, pid=4242)
    notifier.start_watchdog()
    notifier.ready(lambda: succeed(SNAPSHOT))
    notifier.stopping()
    notifier.failed("boom")
    assert not notifier.enabled
    assert clock.getDelayedCalls() == []
    assert listener.received() == []


def test_ready_waits_for_the_snapshot_then_status_follows_every_few_seconds(manager) -> None:
    listener, path = manager
    clock = Clock()
    notifier = notifier_for(path, clock)
    answers: list[Deferred] = []

    def snapshot() -> Deferred:
        answers.append(Deferred())
        return answers[-1]

    assert listener.received() == []  # built: nothing said before ready()
    notifier.ready(snapshot)
    assert listener.received() == []  # the database has not answered yet
    clock.advance(5.0)
    assert len(answers) == 1  # a snapshot still under way: no second one piled on
    answers[0].callback(SNAPSHOT)
    assert listener.received() == [f"READY=1\n{STATUS}"]
    clock.advance(5.0)
    answers[1].callback({**SNAPSHOT, "binds": [{"name": "a", "bound": True}]})
    assert listener.received() == [
        "STATUS=binds 1/1 up; inbox_new 3; outbox_queued 5; outbox_in_flight 2"
    ]


def test_no_ready_while_the_database_does_not_answer(manager) -> None:
    listener, path = manager
    clock = Clock()
    notifier = notifier_for(path, clock)
    answers = [fail(OSError("connection refused\nsecond line")), succeed(SNAPSHOT)]
    notifier.ready(lambda: answers.pop(0))
    assert listener.received() == ["STATUS=database not answering: connection refused"]
    assert not notifier.is_ready
    clock.advance(5.0)
    assert listener.received() == [f"READY=1\n{STATUS}"]
    assert notifier.is_ready


def test_the_watchdog_pings_at_half_of_watchdog_usec(manager) -> None:
    listener, path = manager
    clock = Clock()
    notifier = notifier_for(path, clock, WATCHDOG_USEC="20000000", WATCHDOG_PID="4242")
    assert notifier.watchdog_s == 10.0
    notifier.start_watchdog()
    assert listener.received() == ["WATCHDOG=1"]
    clock.advance(9.9)
    assert listener.received() == []
    clock.advance(0.1)
    assert listener.received() == ["WATCHDOG=1"]
    notifier.stopping()  # a drain may outlast the watchdog period: the pings go on
    clock.advance(10.0)
    assert listener.received() == ["STOPPING=1\nSTATUS=stopping", "WATCHDOG=1"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(environ, 4242) == expected


def test_no_watchdog_configured_means_no_pings(manager) -> None:
    listener, path = manager
    clock = Clock()
    notifier = notifier_for(path, clock)
    notifier.start_watchdog()
    assert clock.getDelayedCalls() == [] and listener.received() == []


def test_stopping_is_said_once_and_ends_the_status_lines(manager) -> None:
    listener, path = manager
    clock = Clock()
    notifier = notifier_for(path, clock)
    notifier.ready(lambda: succeed(SNAPSHOT))
    listener.received()
    notifier.stopping()
    notifier.stopping()
    clock.advance(30.0)
    notifier.ready(lambda: succeed(SNAPSHOT))  # too late: no READY after STOPPING
    assert listener.received() == ["STOPPING=1\nSTATUS=stopping"]


def test_a_failed_start_up_is_shown_as_the_status(manager) -> None:
    listener, path = manager
    notifier = notifier_for(path, Clock())
    notifier.failed("status.listen 127.0.0.1:8780: address already in use")
    assert listener.received() == [
        "STATUS=failed: status.listen 127.0.0.1:8780: address already in use"
    ]


def test_an_abstract_socket_is_reached_through_an_at_sign() -> None:
    name = f"smscore-test-{os.getpid()}-{id(object())}"
    listener = Manager("\0" + name)
    try:
        notifier = SystemdNotifier.from_environ(Clock(), {"NOTIFY_SOCKET": f"@{name}"})
        notifier.stopping()
        assert listener.received() == ["STOPPING=1\nSTATUS=stopping"]
    finally:
        listener.socket.close()


def test_a_manager_that_went_away_is_logged_once_and_never_raises(tmp_path) -> None:
    from twisted.logger import globalLogPublisher

    seen: list[dict] = []
    globalLogPublisher.addObserver(seen.append)
    try:
        notifier = notifier_for(str(tmp_path / "nobody-listens"), Clock())
        notifier.failed("one")
        notifier.failed("two")
    finally:
        globalLogPublisher.removeObserver(seen.append)
    failures = [event for event in seen if "sd_notify" in event.get("log_format", "")]
    assert len(failures) == 1


@pytest.mark.parametrize(
    ("value", "address"),
    [("/run/systemd/notify", "/run/systemd/notify"), ("@abc", "\0abc"), ("vsock:2:99", None),
     ("@", None), ("", None)],
)  # fmt: skip
def test_socket_address(value: str, address: str | None) -> None:
    assert socket_address(value) == address


def test_status_line_of_a_role_without_binds() -> None:
    line = status_line({"role": "tranproc", "binds": [], "queues": {"inbox_new": 7}})
    assert line == "no binds (role tranproc); inbox_new 7; outbox_queued 0; outbox_in_flight 0"
