"""Daemon.reload: what a new config changes in a running daemon, and what it refuses."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock

from daemon import reload as reload_module
from daemon.catalogues import LOCALE_DIR, default_catalogues, install_catalogues
from daemon.config import Config, build_config
from daemon.db import InlineDatabase
from daemon.migrate import upgrade_all
from daemon.money.common import money_env
from daemon.reload import ReloadRefused, apply_reload, changed_keys, prepare_reload
from daemon.service import Daemon, assemble_daemon
from daemon.ussd.menu_store import current_version_txn
from daemon.ussd.menu_watch import MenuWatcher, load_config_menu
from ledger import make_engine
from smscore import client as client_module

DEFAULT_TARIFF = Path(__file__).parents[2] / "daemon" / "money" / "default_tariff.toml"
SHIPPED_MENU = Path(__file__).parents[2] / "daemon" / "ussd" / "default_menu.toml"
SIX = "{ min = 101, max = 500, fee = 6 }"
KES = 100


def bind(name: str, **settings) -> dict:
    return {"name": name, "host": "127.0.0.1", "port": 2775, "system_id": "x", "password": "pw"} | (
        settings
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def tariff_file(tmp_path: Path) -> Path:
    path = tmp_path / "tariff.toml"
    path.write_text(DEFAULT_TARIFF.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def settings(tmp_path: Path, tariff_file: Path, binds: list[dict], **sections) -> dict:
    data = {
        "service": {"state_dir": str(tmp_path / "state")},
        "money": {"tariff_file": str(tariff_file)},
        "binds": binds,
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return data


def daemon_for(tmp_path: Path, engine: Engine, config: Config) -> Daemon:
    return assemble_daemon(config, MemoryReactorClock(), InlineDatabase(engine))


def test_binds_added_removed_changed_and_kept(tmp_path, engine, tariff_file):
    old = settings(tmp_path, tariff_file, [bind("keep"), bind("gone"), bind("edit")])
    daemon = daemon_for(tmp_path, engine, build_config(old))
    assert daemon.pool is not None and daemon.sender is not None
    kept, edited = daemon.pool.binds["keep"], daemon.pool.binds["edit"]
    new = settings(tmp_path, tariff_file, [bind("keep"), bind("edit", window=3), bind("fresh")])
    report = daemon.reload(build_config(new))
    assert (report.added, report.removed, report.restarted, report.kept) == (
        ["fresh"],
        ["gone"],
        ["edit"],
        ["keep"],
    )
    assert sorted(daemon.pool.binds) == ["edit", "fresh", "keep"]
    assert daemon.pool.binds["keep"] is kept  # its session untouched
    assert daemon.pool.binds["edit"] is not edited
    assert daemon.pool.binds["edit"].config.timers.window == 3
    assert daemon.sender.bind_settings["edit"].window == 3
    assert [b.name for b in daemon.config.binds] == ["keep", "edit", "fresh"]
    assert daemon.tranproc is not None and daemon.tranproc.env.config is daemon.config


def test_a_changed_password_file_restarts_its_bind(tmp_path, engine, tariff_file):
    secret = tmp_path / "password"
    secret.write_text("first\n", encoding="utf-8")
    data = settings(tmp_path, tariff_file, [bind("sim", password="", password_file=str(secret))])
    daemon = daemon_for(tmp_path, engine, build_config(data))
    assert daemon.reload(build_config(data)).kept == ["sim"]
    secret.write_text("second\n", encoding="utf-8")
    assert daemon.reload(build_config(data)).restarted == ["sim"]
    assert daemon.pool is not None and daemon.pool.binds["sim"].config.password == "second"


def test_keys_that_need_a_restart_keep_their_running_value(tmp_path, engine, tariff_file):
    data = settings(tmp_path, tariff_file, [bind("sim")])
    daemon = daemon_for(tmp_path, engine, build_config(data))
    other = settings(
        tmp_path,
        tariff_file,
        [bind("sim")],
        status={"listen": "127.0.0.1:9999"},
        database={"threads": 2},
    )
    assert changed_keys(daemon.config, build_config(other)) == [
        "database.threads",
        "status.listen",
    ]
    report = daemon.reload(build_config(other))
    assert report.needs_restart == ["database.threads", "status.listen"]
    assert (daemon.config.status.listen, daemon.config.database.threads) == ("127.0.0.1:8780", 1)
    assert "needs a restart: database.threads, status.listen" in report.describe()


def test_a_tariff_edit_applies_to_the_next_command(tmp_path, engine, tariff_file):
    data = settings(tmp_path, tariff_file, [bind("sim")])
    daemon = daemon_for(tmp_path, engine, build_config(data))
    assert money_env(daemon.config).tariff.fee_minor("SEND", 200 * KES) == 6 * KES
    text = tariff_file.read_text(encoding="utf-8")
    tariff_file.write_text(text.replace(SIX, "{ min = 101, max = 500, fee = 9 }"), "utf-8")
    assert money_env(daemon.config).tariff.fee_minor("SEND", 200 * KES) == 6 * KES  # read once
    report = daemon.reload(build_config(data))
    assert report.tariff_changed and daemon.reload(build_config(data)).tariff_changed is False
    assert money_env(daemon.config).tariff.fee_minor("SEND", 200 * KES) == 9 * KES


def test_a_broken_tariff_is_refused_and_nothing_changes(tmp_path, engine, tariff_file):
    data = settings(tmp_path, tariff_file, [bind("sim")])
    daemon = daemon_for(tmp_path, engine, build_config(data))
    assert daemon.pool is not None
    running = daemon.pool.binds["sim"]
    tariff_file.write_text("[fees]\nsend_registered = 3\n", encoding="utf-8")
    new = settings(tmp_path, tariff_file, [bind("sim"), bind("more")])
    with pytest.raises(ReloadRefused, match=r"tariff\.toml"):
        daemon.reload(build_config(new))
    assert list(daemon.pool.binds) == ["sim"] and daemon.pool.binds["sim"] is running
    assert [b.name for b in daemon.config.binds] == ["sim"]


def test_an_unreadable_bind_password_is_refused(tmp_path, engine, tariff_file):
    data = settings(tmp_path, tariff_file, [bind("sim")])
    daemon = daemon_for(tmp_path, engine, build_config(data))
    new = settings(tmp_path, tariff_file, [bind("sim", password="", password_env="NO_SUCH_VAR_X")])
    with pytest.raises(ReloadRefused, match=r"binds\.0\.password_env: .*NO_SUCH_VAR_X"):
        daemon.reload(build_config(new))


def test_a_broken_menu_file_is_refused(tmp_path, engine, tariff_file):
    menu = tmp_path / "menu.toml"
    shutil.copy(SHIPPED_MENU, menu)
    data = settings(tmp_path, tariff_file, [bind("sim")], ussd={"menu_file": str(menu)})
    daemon = daemon_for(tmp_path, engine, build_config(data))
    assert daemon.reload(build_config(data)).menu == ""  # unchanged
    menu.write_text("[menu]\nversion = \n", encoding="utf-8")
    with pytest.raises(ReloadRefused, match=r"menu\.toml"):
        daemon.reload(build_config(data))


def test_reply_texts_are_reloaded_and_broken_ones_refused(
    tmp_path, engine, tariff_file, monkeypatch
):
    locale = Path(shutil.copytree(LOCALE_DIR, tmp_path / "locale"))
    monkeypatch.setattr(reload_module, "LOCALE_DIR", locale)
    shipped = default_catalogues()
    data = settings(tmp_path, tariff_file, [bind("sim")])
    daemon = daemon_for(tmp_path, engine, build_config(data))
    try:
        core = locale / "en" / "core.po"
        text = core.read_text(encoding="utf-8")
        english = shipped.tables["en"]["language_name"]
        core.write_text(text.replace(f'msgstr "{english}"', 'msgstr "British"', 1), "utf-8")
        assert daemon.reload(build_config(data)).templates_changed
        assert default_catalogues().tables["en"]["language_name"] == "British"
        (locale / "sw" / "core.po").write_text('msgid "x"\n', encoding="utf-8")
        with pytest.raises(ReloadRefused, match=r"core\.po"):
            daemon.reload(build_config(data))
        assert default_catalogues().tables["en"]["language_name"] == "British"
    finally:
        install_catalogues(shipped)


# --- what a reload stores, and how it lets a bind go


def menu_copy(path: Path, version: str) -> Path:
    text = SHIPPED_MENU.read_text(encoding="utf-8")
    path.write_text(text.replace('version = "2026.12.1"', f'version = "{version}"'), "utf-8")
    return path


def current_menu(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_version_txn(conn)


def test_the_reload_stores_the_menu_it_checked_not_the_file_read_again(
    tmp_path, engine, tariff_file
):
    menu = menu_copy(tmp_path / "menu.toml", "v1")
    data = settings(tmp_path, tariff_file, [bind("sim")], ussd={"menu_file": str(menu)})
    daemon = daemon_for(tmp_path, engine, build_config(data))
    assert daemon.menus is not None
    daemon.menus.run_now()
    assert current_menu(engine) == "v1"
    menu_copy(menu, "v2")
    plan = prepare_reload(daemon.config, build_config(data), daemon.reactor)
    menu_copy(menu, "v3")  # changed again between the check and the apply
    report = apply_reload(daemon, plan)
    assert report.menu == "v2" and current_menu(engine) == "v2"
    assert daemon.menus.current is plan.menu


class HeldDatabase(InlineDatabase):
    """Runs each interaction only when the test releases it, in order."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.held: list[tuple[Deferred, str, object, tuple]] = []

    def run_interaction(self, desc: str, fn, *args) -> Deferred:  # type: ignore[no-untyped-def]
        answer: Deferred = Deferred()
        self.held.append((answer, desc, fn, args))
        return answer

    def release(self) -> str:
        answer, desc, fn, args = self.held.pop(0)
        InlineDatabase.run_interaction(self, desc, fn, *args).chainDeferred(answer)
        return desc


def test_an_install_waits_for_the_watcher_run_under_way(tmp_path, engine, tariff_file):
    menu = menu_copy(tmp_path / "menu.toml", "v1")
    data = settings(tmp_path, tariff_file, [bind("sim")], ussd={"menu_file": str(menu)})
    config = build_config(data)
    db = HeldDatabase(engine)
    watcher = MenuWatcher(MemoryReactorClock(), db, config)
    watcher.run_now()  # reads v1, its transaction not run yet
    installed = watcher.install(load_config_menu(config))
    assert [desc for _, desc, _, _ in db.held] == ["menu"]  # the install waits its turn
    assert db.release() == "menu"
    assert [desc for _, desc, _, _ in db.held] == ["menu.install"]
    stored: list = []
    installed.addCallback(stored.append)
    db.release()
    assert stored == [False]  # the watcher's run had stored v1: nothing raced on menus.version
    assert current_menu(engine) == "v1"


class RecordedRetirement:
    made: list["RecordedRetirement"] = []

    def __init__(self, bind, wait_s, flush) -> None:  # type: ignore[no-untyped-def]
        self.bind, self.wait_s, self.flush = bind, wait_s, flush
        RecordedRetirement.made.append(self)

    def run(self) -> Deferred:
        return self.bind.stop()

    def hurry(self) -> None:
        pass


def test_removed_and_restarted_binds_are_retired_with_the_drain_timeout(
    tmp_path, engine, tariff_file, monkeypatch
):
    monkeypatch.setattr(client_module, "Retirement", RecordedRetirement)
    RecordedRetirement.made.clear()
    old = settings(tmp_path, tariff_file, [bind("keep"), bind("gone"), bind("edit")])
    old["service"]["drain_timeout_s"] = 7.0
    daemon = daemon_for(tmp_path, engine, build_config(old))
    assert daemon.pool is not None and daemon.inbox is not None
    gone, edited = daemon.pool.binds["gone"], daemon.pool.binds["edit"]
    new = settings(tmp_path, tariff_file, [bind("keep"), bind("edit", window=3)])
    new["service"]["drain_timeout_s"] = 7.0
    daemon.reload(build_config(new))
    assert [(r.bind, r.wait_s, r.flush) for r in RecordedRetirement.made] == [
        (gone, 7.0, daemon.inbox.flush),
        (edited, 7.0, daemon.inbox.flush),
    ]
