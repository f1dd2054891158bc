"""SIGHUP: the config file read again and applied without dropping what did not change.

`prepare_reload` runs off the reactor (it reads files): the new config is checked as `smscore run`
checks one, and so are the files it names (tariff, USSD menu, bind passwords and TLS CA files) and
the reply catalogues (daemon/locale); the first problem refuses the whole reload (ReloadRefused,
one line) and the running config stays. `apply_reload` runs on the reactor:
- [[binds]]: a new name is started; a name gone is retired (smscore.retire: its own MO gate
  closed, the MOs it took answered while its link is up, its submit_sm_resp awaited for at most
  service.drain_timeout_s, then unbound) and dropped; a bind whose settings (or password) changed
  is retired the same way and then started again with them (one session at a time: an SMSC may
  allow one per system_id); the others keep their sessions;
- the tariff and the reply catalogues checked are installed: the next command and the next reply
  use them; the USSD menu checked is stored (MenuWatcher.install, in turn with the watcher's own
  runs) and new sessions start on it;
- every other key "needs a restart" (database, role, listen addresses, timers, ...): logged, and
  its running value stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger

from daemon.binds import bind_endpoint, bind_handler, esme_settings, make_bind
from daemon.catalogues import (
    LOCALE_DIR,
    CatalogueError,
    Catalogues,
    catalogue_problems,
    install_catalogues,
    load_catalogues,
)
from daemon.checks import check_config
from daemon.config import BindConfig, BindPasswordError, Config, ConfigError
from daemon.money.common import install_tariff
from daemon.money.tariff import Tariff, TariffError, load_tariff
from daemon.ussd.menu import Menu, MenuError
from daemon.ussd.menu_watch import load_config_menu
from smscore.esme import ESMEConfig
from smscore.tls import TLSFileError

if TYPE_CHECKING:
    from daemon.service import Daemon

log = Logger()
RELOADED_KEYS = ("binds",)  # keys applied by a reload; every other one needs a restart
MENU_ROLES = ("all", "tranproc")
STATUS_MAX_CHARS = 200  # a STATUS= line `systemctl status` shows on one line


class ReloadRefused(Exception):
    """The new config (or a file it names) is broken; one line, the running config stays."""


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload will apply, everything read and checked."""

    config: Config  # the config to run: the new [[binds]], the running value of every other key
    needs_restart: tuple[str, ...]
    esme: Mapping[str, ESMEConfig]  # per bind name: its ESME side (password read)
    endpoints: Mapping[str, IStreamClientEndpoint]
    tariff: Tariff
    catalogues: Catalogues
    menu: Menu | None  # None: this role runs no USSD menus


@dataclass
class ReloadReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)
    tariff_changed: bool = False
    templates_changed: bool = False
    menu: str = ""  # the new menu version, "" if the menu did not change
    # Fires once the leaving binds are retired and the menu stored, with the problems met (one
    # line each: a menu whose version is stored with other content); [] when all went well.
    finished: Deferred | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        def names(items: list[str]) -> str:
            return ", ".join(items) or "none"

        parts = [
            f"binds added: {names(self.added)}",
            f"removed: {names(self.removed)}",
            f"restarted: {names(self.restarted)}",
            f"kept: {names(self.kept)}",
            f"tariff {'reloaded' if self.tariff_changed else 'unchanged'}",
            f"menu {self.menu or 'unchanged'}",
            f"reply texts {'reloaded' if self.templates_changed else 'unchanged'}",
        ]
        if self.needs_restart:
            parts.append(f"needs a restart: {', '.join(self.needs_restart)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class ReloadOutcome:
    """The last reload's result, for GET /status ("reload") and systemd's STATUS= line."""

    result: str  # "ok"; "refused" (the running config stays, or a part could not be applied)
    at_s: float  # reactor time
    detail: str  # ok: the summary; refused: why, one line

    @property
    def status_text(self) -> str:
        """The STATUS= line's part about it (`systemctl status` shows it)."""
        if self.result == "ok":
            return f"reloaded: {self.detail}"[:STATUS_MAX_CHARS]
        return f"reload refused: {self.detail}"[:STATUS_MAX_CHARS]

    def as_json(self) -> dict[str, Any]:
        return {"result": self.result, "at_s": self.at_s, "detail": self.detail}


def changed_keys(old: Config, new: Config) -> list[str]:
    """The dotted keys whose values differ (a list, such as [[binds]], is one key)."""
    return sorted(_diff(old.model_dump(), new.model_dump(), ""))


def _diff(old: Any, new: Any, prefix: str) -> set[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found: set[str] = set()
        for key in old.keys() | new.keys():
            found |= _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return set() if old == new else {prefix.rstrip(".")}


def prepare_reload(
    running: Config, new: Config, reactor: IReactorTime, where: str = "<config>"
) -> ReloadPlan:
    """Check `new` and read what it names (blocking: off the reactor); ReloadRefused if broken."""
    changed = changed_keys(running, new)
    needs_restart = tuple(key for key in changed if key.split(".")[0] not in RELOADED_KEYS)
    config = running.model_copy(update={"binds": new.binds})
    try:
        check_config(config, where)
        esme, endpoints = _read_binds(config.binds, reactor)
        tariff = load_tariff(config.money.tariff_file)
        catalogues = _read_catalogues()
        menu = load_config_menu(config) if config.service.role in MENU_ROLES else None
    except (ConfigError, TariffError, CatalogueError, MenuError) as exc:
        raise ReloadRefused(str(exc)) from None
    return ReloadPlan(config, needs_restart, esme, endpoints, tariff, catalogues, menu)


def _read_binds(
    binds: list[BindConfig], reactor: IReactorTime
) -> tuple[dict[str, ESMEConfig], dict[str, IStreamClientEndpoint]]:
    esme, endpoints = {}, {}
    for index, bind in enumerate(binds):
        try:
            esme[bind.name] = esme_settings(bind)
            endpoints[bind.name] = bind_endpoint(reactor, bind)
        except BindPasswordError as exc:
            raise ConfigError(f"binds.{index}.{exc}") from None
        except (TLSFileError, ValueError) as exc:
            raise ConfigError(f"binds.{index}: {exc}") from None
    return esme, endpoints


def _read_catalogues() -> Catalogues:
    catalogues = load_catalogues(LOCALE_DIR)
    problems = catalogue_problems(catalogues)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CatalogueError(f"{LOCALE_DIR}: {problems[0]}{more}")
    return catalogues


def apply_reload(daemon: Daemon, plan: ReloadPlan) -> ReloadReport:
    """Put a prepared reload in force (on the reactor); returns what changed."""
    report = ReloadReport(needs_restart=list(plan.needs_restart))
    for key in plan.needs_restart:
        log.warn("reload: {key} changed: needs a restart; the running value stays", key=key)
    if daemon.pool is not None:
        _apply_binds(daemon, plan, report)
    daemon.config = plan.config
    if daemon.tranproc is not None:
        daemon.tranproc.env = replace(daemon.tranproc.env, config=plan.config)
    if daemon.sender is not None:
        daemon.sender.bind_settings = {bind.name: bind for bind in plan.config.binds}
    report.tariff_changed = install_tariff(plan.config.money.tariff_file, plan.tariff)
    report.templates_changed = install_catalogues(plan.catalogues)
    waits = [daemon.pool.settled()] if daemon.pool is not None else []
    if daemon.menus is not None and plan.menu is not None:
        running = daemon.menus.current
        if running is None or running.digest != plan.menu.digest:
            report.menu = plan.menu.version
        waits.append(daemon.menus.install(plan.menu))  # the menu checked, not the file again
    log.info("reload: {summary}", summary=report.describe())
    report.finished = DeferredList(waits, consumeErrors=True).addCallback(_problems)
    return report


def _problems(results: list[tuple[bool, Any]]) -> list[str]:
    problems = []
    for ok, result in results:
        if not ok:
            problems.append(str(result.value).splitlines()[0] if str(result.value) else "")
            log.error("reload: {problem}", problem=problems[-1] or result.type.__name__)
    return problems


def _apply_binds(daemon: Daemon, plan: ReloadPlan, report: ReloadReport) -> None:
    pool = daemon.pool
    assert pool is not None and daemon.inbox is not None
    running = {bind.name: bind for bind in daemon.config.binds}
    wanted = {bind.name: bind for bind in plan.config.binds}
    wait_s, flush = daemon.config.service.drain_timeout_s, daemon.inbox.flush
    for name in [name for name in pool.binds if name not in wanted]:
        pool.remove(name, wait_s, flush)
        report.removed.append(name)
    for name, settings in wanted.items():
        handler = bind_handler(daemon.inbox, daemon.gate, settings)
        fresh = make_bind(daemon.reactor, settings, plan.esme[name], plan.endpoints[name], handler)
        current = pool.binds.get(name)
        if current is None:
            pool.add(fresh)
            report.added.append(name)
        elif settings != running.get(name) or plan.esme[name] != current.config:
            pool.replace(fresh, wait_s, flush)
            report.restarted.append(name)
        else:
            report.kept.append(name)
