"""The long-running components of the daemon, each behind one interface (`Component`), and the
factories that build them from the config (the service decides which ones a role runs).

The pipeline classes keep their own shapes (the TranProc has a `stats` dataclass, the inbox and the
sender a `counters` dict, the inbox has no loop to start); the adapters here give the service one way
to start, stop and read every one of them.
"""

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from daemon.config import Config
from daemon.db import Database
from daemon.lis import InboxWriter
from daemon.money.airtime_gateway import HttpGateway, read_password
from daemon.money.airtime_worker import AirtimeWorker
from daemon.money.commands import service_registry
from daemon.outbox.leases import LeaseKeeper
from daemon.periodic import Periodic
from daemon.receipts import apply_receipts_txn, is_receipt, receipt_from_pdu
from daemon.sender import Sender
from daemon.subscribers import PinHasher, load_or_create_pepper, pepper_path
from daemon.sweeper import Sweeper, SweepJob
from daemon.tranproc import BatchResult
from daemon.tranproc_service import TranProc
from smscore.client import BindPool


@dataclass(frozen=True)
class ComponentStatus:
    """What a component shows on the status endpoint: its counters and its last error ("" if none)."""

    counters: Mapping[str, int] = field(default_factory=dict)
    last_error: str = ""


class Component(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> Deferred:
        """Fires when the component has finished what it was doing."""
        ...

    def status(self) -> ComponentStatus: ...


@dataclass(frozen=True)
class Adapted:
    """A Component made of a pipeline object's own start/stop/status callables."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], Deferred]
    status: Callable[[], ComponentStatus]


def tranproc_component(tranproc: TranProc) -> Component:
    def status() -> ComponentStatus:
        stats = asdict(tranproc.stats)
        counters = {key: value for key, value in stats.items() if type(value) is int}
        return ComponentStatus(counters, tranproc.stats.last_error or "")

    return Adapted("tranproc", tranproc.start, tranproc.stop, status)


def sender_component(sender: Sender) -> Component:
    return Adapted("sender", sender.start, sender.stop, lambda: ComponentStatus(sender.counters))


def inbox_component(inbox: InboxWriter) -> Component:
    def flush() -> Deferred:
        return inbox.flush() or succeed(None)

    return Adapted("inbox", lambda: None, flush, lambda: ComponentStatus(inbox.counters))


def sweeper_component(sweeper: Sweeper) -> Component:
    return Adapted("sweeper", sweeper.start, sweeper.stop, ComponentStatus)


def periodic_component(job: Periodic) -> Component:
    def status() -> ComponentStatus:
        return ComponentStatus(job.counters, job.last_error)

    return Adapted(job.name, job.start, job.stop, status)


def airtime_component(worker: AirtimeWorker) -> Component:
    def status() -> ComponentStatus:
        return ComponentStatus(worker.counters, worker.last_error)

    return Adapted(worker.name, worker.start, worker.stop, status)


def make_airtime_worker(config: Config, reactor: IReactorTime, db: Database) -> AirtimeWorker:
    """The airtime worker and its HTTP gateway; GatewayConfigError if the password is unreadable."""
    password = read_password(config.airtime)  # read once, here: never logged
    gateway = HttpGateway(reactor, config.airtime, password)
    return AirtimeWorker(reactor, db, gateway, config)


def lease_component(keeper: LeaseKeeper) -> Component:
    def status() -> ComponentStatus:
        return ComponentStatus(keeper.counters, keeper.last_error)

    return Adapted("lease", keeper.start, keeper.stop, status)


def binds_component(pool: BindPool) -> Component:
    # Per-bind detail is on the status endpoint's `binds` list, not in the counters.
    return Adapted("binds", pool.start, pool.stop, ComponentStatus)


def pin_hasher(config: Config) -> PinHasher:
    return PinHasher(load_or_create_pepper(pepper_path(config)))


def dedupe_secret(pepper: bytes) -> bytes:
    """The inbox's dedupe key, derived from the PIN pepper (the same in every LIS process)."""
    return hmac.new(pepper, b"smscore inbox dedupe", hashlib.sha256).digest()


def make_tranproc(
    config: Config,
    reactor: IReactorTime,
    db: Database,
    hasher: PinHasher,
    on_batch: Callable[[BatchResult], None],
    claim_limit: Callable[[], int] | None = None,
) -> TranProc:
    return TranProc(
        reactor,
        db,
        service_registry(),
        config,
        hasher,
        on_batch=on_batch,
        claim_limit=claim_limit,
    )


def make_inbox(
    config: Config,
    reactor: IReactorTime,
    db: Database,
    pepper: bytes,
    wake_tranproc: Callable[[], None],
) -> InboxWriter:
    return InboxWriter(
        reactor,
        db,
        config.inbox,
        on_committed=wake_tranproc,
        is_receipt=is_receipt,
        receipt_from_pdu=receipt_from_pdu,
        receipt_sink=apply_receipts_txn,
        dedupe_secret=dedupe_secret(pepper),
        max_waiting=config.inbox.max_waiting,
    )


def make_sender(config: Config, reactor: IReactorTime, db: Database, pool: BindPool) -> Sender:
    settings = {bind.name: bind for bind in config.binds}
    return Sender(reactor, db, pool, settings, config.sender, owner=config.lease_owner)


def make_sweeper(
    config: Config, reactor: IReactorTime, db: Database, jobs: Mapping[str, SweepJob]
) -> Sweeper:
    sweeper = Sweeper(
        reactor, db, config.sweeper, sender_config=config.sender, owner=config.lease_owner
    )
    for name, job in jobs.items():
        sweeper.add_job(name, job)
    return sweeper
