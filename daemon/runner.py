"""The process around the daemon: logging, the global reactor, signals, clean shutdown, exit code."""

import sys

from twisted.logger import Logger

from daemon.config import Config
from daemon.logs import start_logging

log = Logger()


def run_forever(config: Config, after_start=None) -> int:  # type: ignore[no-untyped-def]
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    from twisted.internet import reactor  # only the entry point touches the global reactor

    from daemon.service import StartupError, build_daemon

    start_logging(config.logging.level, config.logging.format)
    try:
        daemon = build_daemon(config, reactor)
    except StartupError as exc:
        print(f"smscore: {exc}", file=sys.stderr)
        return 1
    exit_code = [0]

    def status_failed(failure) -> None:  # type: ignore[no-untyped-def]
        print(
            f"smscore: status endpoint {config.status.listen}: {failure.getErrorMessage()}",
            file=sys.stderr,
        )
        exit_code[0] = 1
        reactor.stop()

    def started() -> None:
        daemon.start()
        daemon.listen_status().addErrback(status_failed)
        if after_start is not None:
            after_start(daemon)

    reactor.callWhenRunning(started)
    reactor.addSystemEventTrigger("before", "shutdown", daemon.stop)
    reactor.run()
    return exit_code[0]
