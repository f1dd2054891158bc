"""Menu reload without a restart: every `ussd.reload_check_s` the menu file is looked at (a stat)
on the database thread, never on the reactor; when it changed, it is read and checked, and a valid
new version is stored (daemon.ussd.menu_store) and becomes the menu of new sessions. Sessions
running keep the version they started on. A broken file is logged once, as one line, and the
running menu stays until the file is fixed.

A SIGHUP reload checks the file itself (daemon.reload) and hands the menu it checked to `install`,
which stores exactly that one (not the file read again, which may have changed since). Installs and
the watcher's own runs take one lock: never two `store_menu_txn` at once (with database.threads > 1
two could race on `menus.version`).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Connection
from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from daemon import clock
from daemon.commands.registry import Registry
from daemon.commands.types import ParseEnv
from daemon.config import Config
from daemon.db import Database
from daemon.money.notices import numbering
from daemon.periodic import Periodic
from daemon.ussd.menu import Menu, MenuError
from daemon.ussd.menu_file import load_menu_file, menu_path
from daemon.ussd.menu_store import store_menu_txn

log = Logger()
_Stat = tuple[int, int, int] | None


def _stat(path: Path) -> _Stat:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


def load_config_menu(config: Config, registry: Registry | None = None) -> Menu:
    """The configured (or shipped) menu, checked as the daemon checks it; MenuError if broken."""
    if registry is None:
        from daemon.money.commands import service_registry

        registry = service_registry()
    env = ParseEnv(numbering(config.service.region))
    path = menu_path(config.ussd.menu_file)
    return load_menu_file(path, registry, config.ussd.screen_max_chars, env)


class MenuWatcher(Periodic):
    """The menu file's watcher; `current` is the menu loaded last (None until the first load)."""

    def __init__(self, reactor: IReactorTime, db: Database, config: Config) -> None:
        super().__init__(reactor, db, "menu", self._work, config.ussd.reload_check_s)
        from daemon.money.commands import service_registry

        self.config = config
        self.path = menu_path(config.ussd.menu_file)
        self.registry = service_registry()
        self.current: Menu | None = None
        self._seen: _Stat = None  # the file as last read (only once its run committed)
        self._reading: _Stat = None
        self._logged = ""
        self._lock = DeferredLock()  # one store at a time: the watcher's runs and installs

    def run_now(self) -> Deferred:
        return self._lock.run(super().run_now)

    def install(self, menu: Menu) -> Deferred:
        """Store `menu` (checked already: a reload's) and make it the menu of new sessions, after
        any run under way; fires with True if it was stored (False: it already was the current
        one), fails with MenuError if its version is stored with other content."""
        return self._lock.run(self._install, menu)

    def _install(self, menu: Menu) -> Deferred:
        stored = self.db.run_interaction(
            "menu.install", store_menu_txn, menu, clock.now_ns(self.reactor)
        )
        return stored.addCallback(self._installed, menu)

    def _installed(self, stored: bool, menu: Menu) -> bool:
        self.current = menu
        self._logged = self.last_error = ""
        if stored:
            log.info(
                "menu {version} stored by the reload from {path}: new sessions start on it",
                version=menu.version,
                path=self.path,
            )
        return stored

    def load_txn(self, conn: Connection, now_ns: int) -> Menu:
        """The start-up load: MenuError stops the daemon (one line)."""
        self._reading = _stat(self.path)
        menu = load_config_menu(self.config, self.registry)
        if store_menu_txn(conn, menu, now_ns):
            log.info("menu {version} stored from {path}", version=menu.version, path=self.path)
        self.current, self._seen = menu, self._reading
        return menu

    def _work(self, conn: Connection, now_ns: int) -> tuple[dict[str, int], bool]:
        self._reading = _stat(self.path)
        if self._reading == self._seen and self.current is not None:
            return {}, False
        try:
            menu = load_config_menu(self.config, self.registry)
            stored = store_menu_txn(conn, menu, now_ns)
        except MenuError as exc:
            self._broken(str(exc))
            return {"broken": 1}, False
        self._logged = self.last_error = ""
        if stored:
            log.info(
                "menu {version} loaded from {path}: new sessions start on it",
                version=menu.version,
                path=self.path,
            )
        self.current = menu
        return {"loaded": int(stored)}, False

    def _broken(self, error: str) -> None:
        if error != self._logged:
            running = self.current.version if self.current else "none"
            log.error("{error} (the running menu {running} stays)", error=error, running=running)
            self._logged = error
        self.last_error = error[:200]

    def _done(self, result: tuple[dict[str, int], bool]) -> dict[str, int]:
        self._seen = self._reading  # committed: this state of the file needs no second look
        return super()._done(result)

    def stop(self) -> Deferred:
        stopped = super().stop()  # the run under way, then any install under way
        return stopped.addCallback(lambda _: self._lock.run(lambda: None))
