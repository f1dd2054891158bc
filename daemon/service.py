"""Wiring: builds every component of the daemon from a Config and runs them under one reactor.

Roles: `lis` holds the SMPP binds, the inbox writer, the sender and the sweeper; `tranproc` runs the
TranProc only (several may share one PostgreSQL database); `all` runs everything in one process.
Start-up is a list of named steps, each logged; one that fails stops the daemon with a one-line
message (database unreachable, PIN pepper unreadable...). An unreachable SMSC does not stop it (binds
retry with backoff).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorFromThreads,
    IReactorTCP,
    IReactorTime,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

import ledger
from daemon import components, exit_codes
from daemon.api.components import api_components
from daemon.api.env import ApiEnv
from daemon.api.server import api_factory, api_site, load_routes
from daemon.backpressure import attach_backlog
from daemon.binds import bind_endpoint, bind_handler, esme_settings, make_bind
from daemon.channels.events import activate_channels
from daemon.channels.grant import env_channel_secrets
from daemon.channels.keys import ChannelKeyError
from daemon.chart import ensure_chart_txn
from daemon.clock import NS_PER_S, now_ns
from daemon.components import Component
from daemon.config import BindConfig, BindPasswordError, Config
from daemon.db import Database, first_line
from daemon.deferreds import when_done
from daemon.drain import Drain, DrainReport, MoGate, log_stopped
from daemon.lis import InboxWriter, expire_parts_txn
from daemon.metrics.health import readiness
from daemon.metrics.registry import DaemonMetrics
from daemon.metrics.wiring import attach_metrics, status_site
from daemon.migrate import UpgradeFailed, upgrade_database
from daemon.money import airtime_screen  # noqa: F401  (its settle step and sweeper hook)
from daemon.money.airtime_gateway import GatewayConfigError
from daemon.money.common import money_env
from daemon.money.settle import SettleEnv, failure_hooks, settle_work
from daemon.money.tariff import TariffError
from daemon.outbox.leases import LeaseHeld, LeaseKeeper
from daemon.periodic import Periodic
from daemon.reload import ReloadOutcome, ReloadReport, apply_reload, prepare_reload
from daemon.schema import inbox, outbox
from daemon.seal_guard import LedgerStateError, SealKeeper, guard_ledger, seal_path
from daemon.security.app_key import AppKeyError, server_key
from daemon.security.receipt_keys import ReceiptKeyError
from daemon.security.signing import activate as activate_receipt_keys
from daemon.sender import Sender
from daemon.status import Snapshot, bind_status
from daemon.status_security import SecurityCounts
from daemon.subscribers import PepperError, PinHasher, load_pepper_txn, pepper_path
from daemon.sweeper import Sweeper, SweepJob
from daemon.tranproc import BatchResult
from daemon.tranproc_service import TranProc
from daemon.ussd.menu import MenuError
from daemon.ussd.menu_watch import MenuWatcher
from daemon.wal_checkpoint import make_checkpointer
from smscore.client import BindPool, PersistentBind
from smscore.esme import ESMEConfig
from smscore.tls import TLSFileError

log = Logger()
T = TypeVar("T")


class StartupError(Exception):
    """The daemon cannot start; the message is one line for the operator."""

    exit_code = exit_codes.FAILURE  # the process's (systemd restarts it)


class LedgerRefused(StartupError):
    """The ledger is not as sealed, or damaged (daemon.seal_guard): a person must look."""

    exit_code = exit_codes.LEDGER


class ListenFailed(StartupError):
    """An address in the config could not be listened on (taken, or not this host's)."""


API_ROLES = ("all", "lis")  # the roles that serve the HTTP API (the front door, like the binds)
LEASE_ROLES = ("all", "lis")  # the roles whose sender claims outbox rows under a lease


def _refuse(lease_step: Callable[[], Any]) -> None:
    """A lease check or take; a live holder of the name refuses start-up in one line."""
    try:
        lease_step()
    except LeaseHeld as exc:
        raise StartupError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise StartupError(f"outbox lease: {first_line(exc)}") from None


def _listen_failed(failure: Failure, key: str = "", address: str = "") -> Failure:
    if failure.check(ListenFailed):
        return failure
    raise ListenFailed(f"{key} {address}: {failure.getErrorMessage()}")


def startup_step(name: str, fn: Callable[..., T], *args: Any) -> T:
    """One named start-up step: logged when done, a one-line StartupError when it fails."""
    try:
        result = fn(*args)
    except (
        SQLAlchemyError,
        OSError,
        PepperError,
        TariffError,
        TLSFileError,
        AppKeyError,
        ReceiptKeyError,
        MenuError,
        ChannelKeyError,
    ) as exc:
        raise StartupError(f"{name}: {first_line(exc)}") from None
    log.info("start-up: {step}: done", step=name)
    return result


def esme_config(bind: BindConfig, index: int = 0) -> ESMEConfig:
    """The ESME side of a [[binds]] table, its password read from where the config says."""
    try:
        return esme_settings(bind)
    except BindPasswordError as exc:  # `smscore run` checked it; the file may have gone since
        raise StartupError(f"binds.{index}.{exc}") from None


def open_database(config: Config, reactor: IReactorFromThreads | None) -> Database:
    """Create/upgrade the schema as `smscore db upgrade` does, then return the runner (blocking:
    start-up only; reactor None: run_sync only)."""
    try:
        report = upgrade_database(config.database_url)
    except UpgradeFailed as exc:
        raise StartupError(str(exc)) from None
    log.info("start-up: {report}", report=report.describe())
    engine = ledger.make_engine(config.database_url)
    return Database(reactor, engine, config.database.threads, config.database.max_retries)


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
    reactor: IReactorTime
    db: Database
    inbox: InboxWriter | None = None
    pool: BindPool | None = None
    tranproc: TranProc | None = None
    sender: Sender | None = None
    sweeper: Sweeper | None = None
    metrics: DaemonMetrics | None = None  # daemon.metrics: set once everything is built
    components: list[Component] = field(default_factory=list)  # in start order
    started_at_s: float = 0.0
    status_address: str = ""  # HOST:PORT the status endpoint got (the port may have been 0)
    api: ApiEnv | None = None  # the business API and app channels (daemon.api), when enabled
    api_address: str = ""  # HOST:PORT the API server got
    _started: bool = False
    _listening: list[IListeningPort] = field(default_factory=list)
    _rates: dict[str, tuple[float, int]] = field(default_factory=dict)
    security_counts: SecurityCounts = field(default_factory=SecurityCounts)
    gate: MoGate = field(default_factory=MoGate)  # closed by the drain: MOs refused, retried later
    menus: MenuWatcher | None = None  # the USSD menu's watcher (roles all and tranproc)
    lease: LeaseKeeper | None = None  # the outbox lease (roles all and lis), taken by start()
    last_reload: ReloadOutcome | None = None  # set by daemon.signals.HupReload
    _drainer: Drain | None = None
    _drain: Deferred | None = None

    @property
    def role(self) -> str:
        return self.config.service.role

    def start(self) -> None:
        """Take the outbox lease (StartupError if a live process holds it: nothing has started),
        then start every component. Called once the ports are open, so a start-up that fails on
        a taken port has not touched the running process's lease."""
        if self.lease is not None:
            _refuse(self.lease.take)
        self._started = True
        self.started_at_s = self.reactor.seconds()
        self.db.start()
        for component in self.components:
            component.start()

    def drain(self) -> Deferred:
        """The SIGTERM drain (daemon.drain): MOs refused, the batch in hand finished, the
        outstanding submit_sm_resp awaited; fires with a DrainReport. Once per daemon."""
        if self._drainer is None:
            self._drainer = Drain(self)
            self._drain = self._drainer.run() if self._started else None
        report = self._drainer.report
        return when_done(self._drain).addCallback(lambda _: report)

    @property
    def draining(self) -> bool:
        """SIGTERM's drain has begun: not ready for traffic any more (GET /health/ready is 503)."""
        return self._drainer is not None

    def hurry(self) -> None:
        """Cut the drain's wait for submit_sm_resp short (a second SIGINT)."""
        if self.sender is not None:
            self.sender.hurry()

    def reload(self, new_config: Config) -> ReloadReport:
        """SIGHUP (daemon.reload): prepare (reads files; ReloadRefused) and apply on the spot."""
        return apply_reload(self, prepare_reload(self.config, new_config, self.reactor))

    def stop(self) -> Deferred:
        """Drain, then unbind politely, flush the inbox, stop the loops, then the database thread."""
        started_s = self.reactor.seconds()
        stopped = self.drain().addCallback(self._stop_after_drain, started_s)
        return stopped

    def _stop_after_drain(self, report: DrainReport, started_s: float) -> Deferred:
        stopped = self._stop_components()
        if self._started:
            stopped.addCallback(lambda _: log_stopped(report, self.reactor.seconds(), started_s))
        return stopped

    def _stop_components(self) -> Deferred:
        waits = [succeed(port.stopListening()) for port in self._listening]
        if self._started:
            # One component's stop raising must not keep the others (and the database thread,
            # which would keep the process alive after the reactor stopped) from stopping.
            waits += [maybeDeferred(component.stop) for component in reversed(self.components)]
        done = DeferredList(waits, consumeErrors=True)  # all of them, failed or not
        done.addCallback(self._log_stop_failures)
        done.addBoth(lambda _: self.db.stop())
        return done

    def _log_stop_failures(self, results: list[tuple[bool, Any]]) -> None:
        for ok, result in results:
            if not ok:
                log.failure("stopping: a component failed to stop", result)

    def listen_status(self) -> Deferred:
        """Open the status endpoint; fires with the HOST:PORT it got (also kept in status_address)."""
        host, port = self.config.status.listen.rsplit(":", 1)
        site = status_site(self)
        endpoint = serverFromString(IReactorTCP(self.reactor), f"tcp:{port}:interface={host}")
        return endpoint.listen(site).addCallback(self._listening_on)

    def listen(self) -> Deferred:
        """The status endpoint, then the API server (roles all and lis, when enabled); fails with a
        ListenFailed naming the config key whose address could not be taken."""
        opened = self.listen_status()
        opened.addErrback(_listen_failed, "status.listen", self.config.status.listen)
        return opened.addCallback(lambda _: self._listen_api())

    def _listen_api(self) -> Deferred:
        if self.api is None or self.role not in API_ROLES:
            return succeed("")
        host, port = self.config.api.listen.rsplit(":", 1)
        endpoint = serverFromString(IReactorTCP(self.reactor), f"tcp:{port}:interface={host}")
        listening = endpoint.listen(api_factory(api_site(self.api), self.config.api))
        listening.addCallback(self._api_listening_on)
        listening.addErrback(_listen_failed, "api.listen", self.config.api.listen)
        return listening

    def _api_listening_on(self, port: IListeningPort) -> str:
        self._listening.append(port)
        address = port.getHost()
        self.api_address = f"{address.host}:{address.port}"
        assert self.api is not None
        self.api.services["listening"] = self.api_address
        log.info("business API on http://{address}/openapi.json", address=self.api_address)
        return self.api_address

    def _listening_on(self, port: IListeningPort) -> str:
        self._listening.append(port)
        address = port.getHost()
        self.status_address = f"{address.host}:{address.port}"
        log.info("status endpoint on http://{address}/status", address=self.status_address)
        return self.status_address

    def binds(self) -> list[PersistentBind]:
        return list(self.pool.binds.values()) if self.pool is not None else []

    def health(self) -> Deferred:
        """Readiness (GET /health and /health/ready): daemon.metrics.health."""
        return readiness(self)

    def snapshot(self) -> Deferred:
        figures = self.db.run_interaction("status.figures", self._figures_txn)
        return figures.addCallback(self._snapshot_with)

    def _figures_txn(self, conn: Connection) -> tuple[dict[str, int], dict[str, int]]:
        return queue_depths_txn(conn), self.security_counts.read_txn(conn)

    def _snapshot_with(self, figures: tuple[dict[str, int], dict[str, int]]) -> dict:
        depths, security = figures
        snapshot = Snapshot(
            role=self.role,
            status_listen=self.status_address,
            started_at_s=self.started_at_s,
            now_s=self.reactor.seconds(),
            binds=[bind_status(bind, self._settings(bind.name)) for bind in self.binds()],
            queues=depths,
            security=security,
            reload=self.last_reload.as_json() if self.last_reload is not None else None,
        )
        for component in self.components:
            snapshot.add_component(component.name, component.status())
        return snapshot.as_json(self._rates)

    def _settings(self, name: str) -> BindConfig:
        return next(bind for bind in self.config.binds if bind.name == name)


def build_binds(
    config: Config, reactor: IReactorTime, inbox: InboxWriter, gate: MoGate
) -> BindPool:
    binds = []
    for index, settings in enumerate(config.binds):
        endpoint = startup_step(f"binds.{settings.name}", bind_endpoint, reactor, settings)
        handler = bind_handler(inbox, gate, settings)
        esme = esme_config(settings, index)
        binds.append(make_bind(reactor, settings, esme, endpoint, handler))
    return BindPool(binds)


def expire_parts_job(config: Config) -> SweepJob:
    timeout_ns = int(config.inbox.concat_timeout_s * NS_PER_S)
    window_ns = int(config.inbox.dedupe_window_s * NS_PER_S)
    return lambda conn, now_ns: expire_parts_txn(conn, now_ns, timeout_ns, window_ns)


def build_daemon(config: Config, reactor: IReactorTime, accept: bool = False) -> Daemon:
    """Everything wired, nothing started. Raises StartupError for what the operator must fix.
    `accept`: run on a ledger the seal check refuses (`smscore run --accept-ledger-state`)."""
    db = open_database(config, reactor)
    if config.service.role in LEASE_ROLES:  # refused before anything: start() checks as it takes
        _refuse(LeaseKeeper(reactor, db, config.lease_owner, config.sender).check)
    # Before anything reads or writes: a restored, truncated or damaged ledger is refused here.
    try:
        guarded = startup_step("ledger seal", guard_ledger, config, db, now_ns(reactor), accept)
    except LedgerStateError as exc:
        raise LedgerRefused(f"ledger seal: {exc}") from None
    daemon = assemble_daemon(config, reactor, db)
    keeper = SealKeeper(reactor, db, seal_path(config), guarded.seal, config.seal.interval_s)
    daemon.components.insert(0, components.periodic_component(keeper))  # stopped last
    return daemon


def assemble_daemon(config: Config, reactor: IReactorTime, db: Database) -> Daemon:
    """The start-up steps after the database is open, then the components of the role."""
    daemon = Daemon(config, reactor, db)
    db.run_sync("status.security_start", daemon.security_counts.start_txn)  # counted from here
    # Checked against the fingerprint the database keeps: PINs set with another pepper would all be
    # "wrong", and a missing pepper file beside a database that has PINs is not made afresh.
    pepper = startup_step(
        "PIN pepper", db.run_sync, "pepper", load_pepper_txn, pepper_path(config), now_ns(reactor)
    )
    # Made at the first start (0600 files, a 0700 directory) like the pepper; every role signs:
    # the TranProc its confirmations, the LIS's settler the notices of moves posted on delivery.
    startup_step("receipt keys", activate_receipt_keys, config, now_ns(reactor))
    # Every role moves money (the LIS posts on delivery): each seals its moves' channel events.
    startup_step("channel keys", activate_channels, config)
    if config.service.role in ("all", "tranproc"):
        currency = config.service.currency
        startup_step(
            f"chart of accounts ({currency})",
            db.run_sync,
            "chart.ensure",
            ensure_chart_txn,
            currency,
            now_ns(reactor),
        )
        startup_step("tariff", money_env, config)  # read once here: a bad file stops start-up
        startup_step("app channel key", server_key, config)  # made at first start, like the pepper
        _add_tranproc(daemon, PinHasher(pepper))
        # The USSD menu: checked and stored now (a broken file stops start-up), then watched.
        menus = daemon.menus = MenuWatcher(reactor, db, config)
        startup_step("ussd menu", db.run_sync, "menu.load", menus.load_txn, now_ns(reactor))
        daemon.components.append(components.periodic_component(menus))
    if config.service.role in LEASE_ROLES:
        _add_lis(daemon, pepper)
    if (checkpointer := make_checkpointer(config, reactor, db)) is not None:
        daemon.components.append(components.periodic_component(checkpointer))
    _add_api(daemon)
    daemon.metrics = attach_metrics(daemon)  # last: it hooks into the parts built above
    log.info(
        "smscore built: role={role}, {binds} bind(s)",
        role=config.service.role,
        binds=len(config.binds),
    )
    return daemon


def _add_api(daemon: Daemon) -> None:
    """The API's environment and the components of this role (the worker, callbacks, streams);
    the server itself opens in Daemon.listen. Last in the start order: stopped first."""
    config = daemon.config
    if not (config.api.enabled or config.channels.enabled):
        return
    daemon.api = ApiEnv(config, daemon.reactor, daemon.db)
    if config.channels.enabled and config.service.role in API_ROLES:
        # read now (a bad file stops start-up), not on the reactor at the first request
        startup_step("channel key files", env_channel_secrets, daemon.api)
    load_routes()  # the route modules also register the components
    daemon.components += api_components(daemon.api, config.service.role)


def _add_tranproc(daemon: Daemon, hasher: PinHasher) -> None:
    def replies_queued(result: BatchResult) -> None:
        # In the `tranproc` role the sender lives in another process and finds the rows by polling.
        if daemon.sender is None:
            return
        if result.replies_claimed:
            daemon.sender.take_claimed(result.replies_claimed)
        if result.done or result.failed or result.rejected:
            daemon.sender.wake()  # for replies the claim had no room for

    def sender_room() -> int:
        return daemon.sender.claim_limit() if daemon.sender is not None else 0

    config, reactor, db = daemon.config, daemon.reactor, daemon.db
    tranproc = components.make_tranproc(config, reactor, db, hasher, replies_queued, sender_room)
    daemon.tranproc = tranproc
    daemon.components.append(components.tranproc_component(tranproc))


def _airtime(config: Config, reactor: IReactorTime, db: Database) -> list[Component]:
    """BUY's worker (airtime.enabled), beside the settler: the provider posts or voids its moves."""
    if not config.airtime.enabled:
        return []
    try:
        worker = components.make_airtime_worker(config, reactor, db)
    except GatewayConfigError as exc:
        raise StartupError(f"airtime gateway: airtime.password_file: {exc}") from None
    log.info("start-up: airtime gateway {url}: ready", url=config.airtime.url)
    return [components.airtime_component(worker)]


def _add_lis(daemon: Daemon, pepper: bytes) -> None:
    config, reactor, db = daemon.config, daemon.reactor, daemon.db
    lease = daemon.lease = LeaseKeeper(reactor, db, config.lease_owner, config.sender)
    # First in the list: it renews the lease while the TranProc's hand-off and the sender claim.
    daemon.components.insert(0, components.lease_component(lease))
    wake_tranproc = daemon.tranproc.wake if daemon.tranproc is not None else (lambda: None)
    daemon.inbox = components.make_inbox(config, reactor, db, pepper, wake_tranproc)
    daemon.pool = build_binds(config, reactor, daemon.inbox, daemon.gate)
    daemon.sender = components.make_sender(config, reactor, db, daemon.pool)
    lease.on_lost(daemon.sender.stop_claiming)  # another process sends this name's rows now
    sweeper = components.make_sweeper(
        config, reactor, db, {"expire_mo_parts": expire_parts_job(config)}
    )
    # The M-Pesa rollback: the sweeper voids moves whose confirmation was not delivered in time,
    # the settler posts those whose confirmation was (both beside the outbox they watch).
    settle_env = SettleEnv(config, PinHasher(pepper))
    for name, hook in failure_hooks(settle_env).items():
        sweeper.register_hook(name, hook)
    settler = Periodic(
        reactor, db, "settler", settle_work(settle_env), config.money.settle_interval_s
    )
    # Start order: the loops first, the binds last (nothing arrives before the inbox can take it);
    # stop runs it backwards: unbind first, then flush the inbox, then stop the loops.
    daemon.sweeper = sweeper
    daemon.components += [
        components.sender_component(daemon.sender),
        components.sweeper_component(sweeper),
        components.periodic_component(settler),
        *_airtime(config, reactor, db),
        *attach_backlog(daemon.inbox, config.inbox, reactor, db),
        components.inbox_component(daemon.inbox),
        components.binds_component(daemon.pool),
    ]
