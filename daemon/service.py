"""Wiring: builds every component of the daemon from a Config and runs them under one reactor.

Roles: `lis` holds the SMPP binds, the inbox writer, the sender and the sweeper; `tranproc` runs the
TranProc only (several may share one PostgreSQL database); `all` runs everything in one process.
Start-up fails fast with a one-line message if the database is unreachable or the config is wrong;
an unreachable SMSC does not stop it (binds retry with backoff).
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.web.server import Site

import ledger
from daemon.clock import NS_PER_S
from daemon.config import BindConfig, Config
from daemon.db import Database
from daemon.lis import InboxWriter, expire_parts_txn
from daemon.migrate import upgrade_all
from daemon.schema import inbox, outbox
from daemon.status import status_root
from smscore.client import (
    BindPool,
    PersistentBind,
    ReconnectPolicy,
    SMSCAddress,
    client_endpoint,
)
from smscore.esme import ESMEConfig
from smscore.protocol import FlowControl
from smscore.session import SessionTimers

log = Logger()


class StartupError(Exception):
    """The daemon cannot start; the message is one line for the operator."""


def esme_config(bind: BindConfig) -> ESMEConfig:
    return ESMEConfig(
        system_id=bind.system_id,
        password=bind.password,
        system_type=bind.system_type,
        bind_type=bind.bind_type,
        timers=SessionTimers(
            response_timeout_s=bind.response_timeout_s,
            enquire_link_interval_s=bind.enquire_link_interval_s,
            window=bind.window,
        ),
        flow=FlowControl(tps_limit=bind.tps_limit),
    )


def open_database(config: Config, reactor: Any) -> Database:
    """Connect, create/upgrade the schema, and return the runner (blocking: start-up only)."""
    url = config.database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = ledger.make_engine(url)
        with engine.begin() as conn:
            upgrade_all(conn)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StartupError(f"database {_redacted(url)}: {reason}") from None
    return Database(reactor, engine, config.database.threads, config.database.max_retries)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def queue_depths_txn(conn: Connection) -> dict[str, int]:
    depths: dict[str, int] = {}
    for table, prefix in ((inbox, "inbox"), (outbox, "outbox")):
        rows = conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
        depths.update({f"{prefix}_{status}": count for status, count in rows})
    return depths


@dataclass
class Daemon:
    """The running service: every component, so tests and the status endpoint can look inside."""

    config: Config
    reactor: Any
    db: Database
    inbox: InboxWriter | None = None
    pool: BindPool | None = None
    tranproc: Any = None
    sender: Any = None
    sweeper: Any = None
    started_at: float = 0.0
    _listening: list[Any] = field(default_factory=list)
    _rate_marks: dict[str, tuple[float, int]] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return self.config.service.role

    def start(self) -> None:
        self.started_at = self.reactor.seconds()
        self.db.start()
        for component in (self.tranproc, self.sender, self.sweeper):
            if component is not None:
                component.start()
        if self.pool is not None:
            self.pool.start()

    def stop(self) -> Deferred:
        """Unbind politely, flush the inbox, stop the loops, then the database thread."""
        waits = []
        if self.pool is not None:
            waits.append(self.pool.stop())
        if self.inbox is not None:
            flushed = self.inbox.flush()
            if flushed is not None:
                waits.append(flushed)
        for component in (self.tranproc, self.sender, self.sweeper):
            if component is not None:
                waits.append(succeed(component.stop()))
        for port in self._listening:
            waits.append(succeed(port.stopListening()))
        done = gatherResults(waits, consumeErrors=True)
        done.addBoth(lambda _: self.db.stop())
        return done

    def listen_status(self) -> Deferred:
        host, port = self.config.status.listen.rsplit(":", 1)
        site = Site(status_root(self.snapshot, self.health))
        endpoint = serverFromString(self.reactor, f"tcp:{port}:interface={host}")
        return endpoint.listen(site).addCallback(self._listening.append)

    def health(self) -> dict:
        binds = list(self.pool.binds.values()) if self.pool else []
        return {"ok": True, "binds_up": sum(bind.is_bound for bind in binds), "binds": len(binds)}

    def snapshot(self) -> Deferred:
        depths = self.db.run_interaction("status.queue_depths", queue_depths_txn)
        return depths.addCallback(self._snapshot_with)

    def _snapshot_with(self, depths: dict[str, int]) -> dict:
        now = self.reactor.seconds()
        counters = self._counters()
        return {
            "role": self.role,
            "uptime_s": now - self.started_at,
            "binds": self._bind_status(),
            "queues": depths,
            "counters": counters,
            "rates": self._rates(now, counters),
            "last_errors": [
                f"{bind.name}: {bind.last_error}"
                for bind in (self.pool.binds.values() if self.pool else [])
                if bind.last_error
            ],
        }

    def _bind_status(self) -> list[dict]:
        if self.pool is None:
            return []
        result = []
        for name, bind in self.pool.binds.items():
            settings = next(b for b in self.config.binds if b.name == name)
            protocol = bind.protocol
            result.append(
                {
                    "name": name,
                    "host": f"{settings.host}:{settings.port}",
                    "bound": bind.is_bound,
                    "connects": bind.counters.connects,
                    "binds": bind.counters.binds,
                    "bind_failures": bind.counters.bind_failures,
                    "messages_received": bind.counters.messages_received,
                    "outstanding": protocol.session.outstanding_count if protocol else 0,
                    "queued": protocol.queued_count if protocol else 0,
                    "last_error": bind.last_error,
                }
            )
        return result

    def _counters(self) -> dict[str, int]:
        counters: dict[str, int] = {}
        for name, component in (
            ("inbox", self.inbox),
            ("tranproc", self.tranproc),
            ("sender", self.sender),
        ):
            values = getattr(component, "counters", None)
            if values is None and hasattr(component, "stats"):
                values = {k: v for k, v in asdict(component.stats).items() if isinstance(v, int)}
            for key, value in (values or {}).items():
                counters[f"{name}.{key}"] = value
        return counters

    def _rates(self, now: float, counters: dict[str, int]) -> dict[str, float]:
        rates = {}
        for key, value in counters.items():
            then, before = self._rate_marks.get(key, (self.started_at, 0))
            if now > then:
                rates[key] = (value - before) / (now - then)
            self._rate_marks[key] = (now, value)
        return rates


def build_binds(config: Config, reactor: Any, inbox: InboxWriter) -> BindPool:
    binds = []
    for settings in config.binds:
        address = SMSCAddress(
            settings.host,
            settings.port,
            settings.tls,
            str(settings.tls_ca_file) if settings.tls_ca_file else None,
        )
        binds.append(
            PersistentBind(
                reactor,
                settings.name,
                client_endpoint(reactor, address),
                esme_config(settings),
                inbox.handler_for(settings.name, settings.default_alphabet),
                ReconnectPolicy(settings.reconnect_initial_delay_s, settings.reconnect_max_delay_s),
            )
        )
    return BindPool(binds)


def expire_parts_job(config: Config) -> Any:
    timeout_ns = int(config.inbox.concat_timeout_s * NS_PER_S)
    window_ns = int(config.inbox.dedupe_window_s * NS_PER_S)
    return lambda conn, now: expire_parts_txn(conn, now, timeout_ns, window_ns)


def build_daemon(config: Config, reactor: Any) -> Daemon:
    """Everything wired, nothing started. Raises StartupError for what the operator must fix."""
    from daemon import components

    db = open_database(config, reactor)
    daemon = Daemon(config, reactor, db)

    def replies_queued(result: Any) -> None:
        # In the `tranproc` role the sender lives in another process and finds the rows by polling.
        if daemon.sender is None:
            return
        if result.replies_claimed:
            daemon.sender.take_claimed(result.replies_claimed)
        if result.done or result.failed or result.rejected:
            daemon.sender.wake()  # for replies the claim had no room for

    def sender_room() -> int:
        return daemon.sender.claim_limit() if daemon.sender is not None else 0

    if config.service.role in ("all", "tranproc"):
        daemon.tranproc = components.make_tranproc(config, reactor, db, replies_queued, sender_room)
    if config.service.role in ("all", "lis"):
        wake_tranproc = daemon.tranproc.wake if daemon.tranproc is not None else (lambda: None)
        daemon.inbox = components.make_inbox(config, reactor, db, wake_tranproc)
        daemon.pool = build_binds(config, reactor, daemon.inbox)
        daemon.sender = components.make_sender(config, reactor, db, daemon.pool)
        daemon.sweeper = components.make_sweeper(
            config, reactor, db, {"expire_mo_parts": expire_parts_job(config)}
        )
    log.info(
        "smscore built: role={role}, {binds} bind(s)",
        role=config.service.role,
        binds=len(config.binds),
    )
    return daemon
