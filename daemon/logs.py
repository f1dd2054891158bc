"""Logging to stdout: JSON lines for journald and log shippers, readable text on a terminal.

Every module keeps its `twisted.logger.Logger()`; its namespace (the module's name) says which
component a line belongs to (`component_of`, one of `daemon.config.LOG_COMPONENTS`), and each
component may have its own level (`logging.levels` over `logging.level`).

A JSON line is one object: `time` (ISO 8601, UTC), `level`, `component`, `message` (the rendered
text), `namespace`, then the event's own fields (`correlation_id`, `bind`, ...; see
daemon.log_lines). A field whose name says it holds a secret (a PIN, a password, a key) is never
written, whatever a caller passed. A failure adds `error` (its one line) and `traceback`.

Why stdout and not journald's native protocol: journald keeps stdout as it is (one entry per line,
with the unit, PID and time), `journalctl -o cat -u smscore | jq` reads it back, and the same
output works under Docker, runit or a shell redirect. The native protocol would only add indexed
fields (`journalctl CORRELATION_ID=...`) for a second code path and a socket dependency; jq's
`select(.correlation_id == "mo-42")` does the same job on the JSON.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    PredicateResult,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

from daemon.config import LOG_COMPONENTS, LoggingConfig

LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
    "critical": LogLevel.critical,
}
_LEVEL_NAMES = {level: name for name, level in LEVELS.items()}

# Module name prefixes (longest first wins) and the component their lines belong to; anything
# else (service, runner, db, status, ...) is "service".
NAMESPACE_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("smscore", "smpp"),
    ("simulators", "smpp"),
    ("ledger", "ledger"),
    ("daemon.lis", "lis"),
    ("daemon.inbox", "inbox"),
    ("daemon.repeats", "inbox"),
    ("daemon.security.app_inbox", "inbox"),
    ("daemon.tranproc", "tranproc"),
    ("daemon.commands", "tranproc"),
    ("daemon.money.settle", "settler"),
    ("daemon.money.airtime_settle", "settler"),
    ("daemon.money", "tranproc"),
    ("daemon.ledger", "ledger"),
    ("daemon.sender", "sender"),
    ("daemon.submit", "sender"),
    ("daemon.outbox", "sender"),
    ("daemon.receipts", "receipts"),
    ("daemon.sweeper", "sweeper"),
    ("daemon.api", "api"),
    ("daemon.channels", "channels"),
    ("daemon.ussd", "ussd"),
)
DEFAULT_COMPONENT = "service"
assert {c for _, c in NAMESPACE_COMPONENTS} | {DEFAULT_COMPONENT} <= set(LOG_COMPONENTS)

# Field names never written (a caller's mistake must not become a leak): whole names, and parts.
_SECRET_NAMES = frozenset({"pin", "new_pin", "old_pin", "password", "secret", "key", "pepper"})
_SECRET_PARTS = ("pin_", "_pin", "password", "secret", "pepper", "api_key", "private")
_SCALARS = (str, int, float, bool, type(None))


def component_of(namespace: str | None) -> str:
    """The component of a Logger namespace (a module name, maybe with a class after it)."""
    name = namespace or ""
    best, best_len = DEFAULT_COMPONENT, -1
    for prefix, component in NAMESPACE_COMPONENTS:
        if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
            best, best_len = component, len(prefix)
    return best


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


class ComponentLevels:
    """A twisted.logger filter predicate: an event passes when its level reaches its component's
    level. The component of each namespace is worked out once."""

    def __init__(self, level: str = "info", levels: Mapping[str, str] | None = None) -> None:
        self.default = LEVELS[level]
        self.levels = {component: LEVELS[name] for component, name in (levels or {}).items()}
        self._by_namespace: dict[str | None, LogLevel] = {}

    def level_for(self, component: str) -> LogLevel:
        return self.levels.get(component, self.default)

    def enabled(self, component: str, level: LogLevel) -> bool:
        return level >= self.level_for(component)

    def __call__(self, event: Mapping[str, Any]) -> PredicateResult:
        namespace = event.get("log_namespace")
        wanted = self._by_namespace.get(namespace)
        if wanted is None:
            wanted = self._by_namespace[namespace] = self.level_for(component_of(namespace))
        level = event.get("log_level", LogLevel.info)
        return PredicateResult.maybe if level >= wanted else PredicateResult.no


def event_time(event: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(event.get("log_time") or 0.0, UTC)


def event_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's own fields, JSON-safe, secrets left out."""
    fields: dict[str, Any] = {}
    for name, value in event.items():
        if name.startswith("log_") or is_secret_field(name):
            continue
        fields[name] = _json_safe(value)
    return fields


def _json_safe(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple | frozenset | set) and all(
        isinstance(item, _SCALARS) for item in value
    ):
        return list(value)
    return str(value)


def json_line(event: Mapping[str, Any]) -> str:
    """One event as one JSON object (no newline)."""
    namespace = event.get("log_namespace")
    level = event.get("log_level", LogLevel.info)
    record: dict[str, Any] = {
        "time": event_time(event).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "level": _LEVEL_NAMES.get(level, level.name),
        "component": component_of(namespace),
        "message": _message(event),
        "namespace": namespace,
    }
    for name, value in event_fields(event).items():
        record.setdefault(name, value)
    failure = event.get("log_failure")
    if failure is not None:
        record["error"] = failure.getErrorMessage()
        record["traceback"] = failure.getTraceback()
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def text_line(event: Mapping[str, Any]) -> str:
    """One event for a person: time, level, component, message (and the correlation id)."""
    when = event_time(event).astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    level = _LEVEL_NAMES.get(event.get("log_level", LogLevel.info), "info")
    component = component_of(event.get("log_namespace"))
    line = f"{when} {level:<5} {component:<8} {_message(event)}"
    correlation = event.get("correlation_id")
    if correlation and correlation not in line:
        line += f" [{correlation}]"
    failure = event.get("log_failure")
    if failure is not None:
        line += "\n" + failure.getTraceback().rstrip("\n")
    return line


def _message(event: Mapping[str, Any]) -> str:
    if event.get("log_format") is None and event.get("log_failure") is not None:
        return event["log_failure"].getErrorMessage()
    return formatEvent(event) or ""


@implementer(ILogObserver)
class LineObserver:
    """Writes each event as one line (JSON or text) with one write call, under a lock: lines are
    logged from the database threads too, and must never interleave."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self.stream = stream
        self.render = json_line if as_json else text_line
        self._lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> None:
        line = self.render(event) + "\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()


def wants_json(fmt: str, stream: TextIO) -> bool:
    """auto: JSON unless the stream is a terminal."""
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return fmt == "json"


def make_observer(settings: LoggingConfig, stream: TextIO) -> FilteringLogObserver:
    levels = ComponentLevels(settings.level, settings.levels)
    return FilteringLogObserver(LineObserver(stream, wants_json(settings.format, stream)), [levels])


def start_logging(settings: LoggingConfig | None = None, stream: TextIO = sys.stdout) -> None:
    """Send every twisted.logger event (and the standard library's) to `stream`; switch on the
    PDU hex dump when smpp logs at debug, and the one-line-per-message log lines."""
    from daemon import log_lines
    from smscore import pdu_trace

    settings = settings or LoggingConfig()
    levels = ComponentLevels(settings.level, settings.levels)
    pdu_trace.enable(levels.enabled("smpp", LogLevel.debug))
    log_lines.activate(c for c in LOG_COMPONENTS if levels.enabled(c, LogLevel.info))
    globalLogBeginner.beginLoggingTo([make_observer(settings, stream)], redirectStandardIO=False)
    bridge_stdlib_logging()
    quiet_libraries(levels)


# Standard-library loggers of libraries whose info lines are noise to an operator (Alembic says
# "Context impl SQLiteImpl." and "Will assume non-transactional DDL." for every schema it checks):
# warnings only, unless the component their lines land in logs at debug.
QUIET_LIBRARIES = ("alembic",)


def quiet_libraries(levels: ComponentLevels) -> None:
    for name in QUIET_LIBRARIES:
        debug = levels.enabled(component_of(name), LogLevel.debug)
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


class _ToTwisted(logging.Handler):
    """Standard library log records (a few modules and libraries use them) as twisted events."""

    def emit(self, record: logging.LogRecord) -> None:
        from twisted.logger import Logger

        level = LEVELS.get(record.levelname.lower().replace("warning", "warn"), LogLevel.info)
        text = record.getMessage().replace("{", "{{").replace("}", "}}")
        Logger(namespace=record.name).emit(level, text)


def bridge_stdlib_logging() -> None:
    root = logging.getLogger()
    if not any(isinstance(handler, _ToTwisted) for handler in root.handlers):
        root.addHandler(_ToTwisted())
        root.setLevel(logging.INFO)
