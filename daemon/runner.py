"""The process around the daemon: logging, the global reactor, signals, clean shutdown, exit code.

`smscore run` and `smscore demo` both run the daemon through `run_forever`: one wiring, one
behaviour. The demo adds its simulator and script through `RunHooks`.
"""

import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from daemon import exit_codes
from daemon.config import Config
from daemon.heap import freeze_start_up_heap
from daemon.logs import start_logging
from daemon.systemd_notify import SystemdNotifier
from smscore.process_exit import exit_now

if TYPE_CHECKING:
    from daemon.service import Daemon

log = Logger()


class RunHooks:
    """What runs alongside the daemon in the same reactor (the demo's simulator and script)."""

    exit_code = 0  # the process exit code when the daemon itself ran and stopped cleanly

    def prepared(self, daemon: "Daemon") -> None:
        """The daemon is built, nothing runs yet (may block: the reactor is not running)."""

    def started(self, daemon: "Daemon") -> None:
        """The status endpoint listens (daemon.status_address) and every component runs."""

    def stopping(self) -> Deferred:
        """The reactor is shutting down; fires when this part has stopped."""
        return succeed(None)


def run_forever(
    config: Config,
    hooks: RunHooks | None = None,
    read_config: Callable[[], Config] | None = None,
    where: str = "<command line>",
    accept_ledger_state: bool = False,
    exit_at_once: bool = False,
) -> int:
    """Run until SIGTERM/SIGINT (or a hook stops the reactor); returns the process exit code.
    SIGTERM drains first (daemon.drain); SIGHUP reloads: `read_config` (blocking, in a thread;
    None: the same config) is checked and applied (daemon.reload). `accept_ledger_state`: run on
    a ledger the start-up's seal check refuses (daemon.seal_guard). `exit_at_once` (`smscore
    run`): once stopped, end the process without the interpreter's teardown (smscore.process_exit)."""
    from twisted.internet import reactor  # only the entry point touches the global reactor

    # What the units' UMask=0077 gives, outside systemd too: every file the daemon makes (the
    # database's -wal and -shm, keys, the seal) is its user's only.
    os.umask(0o077)

    from daemon.service import StartupError, build_daemon
    from daemon.signals import HupReload

    hooks = hooks or RunHooks()
    start_logging(config.logging)
    notifier = SystemdNotifier.from_environ(reactor)  # Type=notify units; else it does nothing
    try:
        daemon = build_daemon(config, reactor, accept_ledger_state)
        hooks.prepared(daemon)
    except StartupError as exc:  # the database, a key file...: systemd may retry (exit 1)
        print(f"smscore: {exc}", file=sys.stderr)
        notifier.failed(str(exc))
        notifier.close()
        return exc.exit_code  # 3 for a refused ledger: not retried
    start = StartOnceRunning(reactor, daemon, hooks, notifier)
    reactor.callWhenRunning(notifier.start_watchdog)
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", notifier.stopping)
    reactor.addSystemEventTrigger("before", "shutdown", daemon.stop)
    reactor.addSystemEventTrigger("before", "shutdown", hooks.stopping)
    stop_once = StopOnce(reactor, daemon)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_once.on_signal)
    hup = HupReload(reactor, daemon, read_config or (lambda: config), where, notifier)
    reactor.addSystemEventTrigger("before", "shutdown", hup.stop)
    signal.signal(signal.SIGHUP, hup.on_signal)
    # Our handlers, not Twisted's: its handler calls reactor.stop() on every signal, and a second
    # SIGTERM during the shutdown (a supervisor signalling the process group again) then logs a
    # critical ReactorNotRunning traceback.
    reactor.run(installSignalHandlers=False)
    _ignore_further_stop_signals()
    notifier.close()
    code = exit_codes.FAILURE if start.failed else hooks.exit_code
    if exit_at_once:  # stopped cleanly; freeing every module would only keep systemd waiting
        exit_now(code)
    return code


class StartOnceRunning:
    """Once the reactor runs: open the ports, then start the daemon (which takes the outbox lease
    first). Either failing is one line on stderr, and the reactor stops: nothing had started, so a
    taken port or a live holder of the lease changes nothing for the process already running."""

    def __init__(self, reactor: Any, daemon: "Daemon", hooks: RunHooks, notifier: Any) -> None:
        self.reactor = reactor
        self.daemon = daemon
        self.hooks = hooks
        self.notifier = notifier
        self.failed = False

    def __call__(self) -> None:
        listened = self.daemon.listen()
        listened.addCallbacks(self._listening, self._listen_failed)

    def _listen_failed(self, failure: Failure) -> None:
        self._fail(failure.getErrorMessage())  # a port taken, or not this host's

    def _listening(self, _address: str) -> None:
        from daemon.service import StartupError

        try:
            self.daemon.start()
        except StartupError as exc:
            self._fail(str(exc))
            return
        self.hooks.started(self.daemon)
        freeze_start_up_heap()  # what start-up built is never walked by a collection again
        # READY=1 once the first snapshot answers: the database too, not only the start-up's.
        self.notifier.ready(self.daemon.snapshot)

    def _fail(self, message: str) -> None:
        print(f"smscore: {message}", file=sys.stderr)
        self.notifier.failed(message)
        self.failed = True
        self.reactor.stop()


class StopOnce:
    """A stop signal stops the reactor once (the shutdown drains first); later SIGTERMs while it
    shuts down are ignored (a supervisor signalling the process group again), a later SIGINT
    (Ctrl-C again) cuts the drain's wait for submit_sm_resp short: it unbinds at once."""

    def __init__(self, reactor: Any, daemon: "Daemon | None" = None) -> None:
        self.reactor = reactor
        self.daemon = daemon
        self.signals = 0

    def on_signal(self, signum: int, frame: object) -> None:
        self.signals += 1
        if self.signals == 1:
            # From a signal handler: the reactor is woken through its waker, never re-entered.
            self.reactor.callFromThread(self._stop)
        elif signum == signal.SIGINT and self.daemon is not None:
            self.reactor.callFromThread(self._hurry)

    def _hurry(self) -> None:
        log.warn("drain: SIGINT again: no more waiting for submit_sm_resp; unbinding now")
        assert self.daemon is not None
        self.daemon.hurry()

    def _stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()


def _ignore_further_stop_signals() -> None:
    # The shutdown is done. Python restores the default handlers while the interpreter finalizes, so
    # a second SIGTERM then (a supervisor or `timeout` signalling the whole process group again)
    # would turn this clean exit into a kill.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
