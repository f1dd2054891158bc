"""Daemon.reload: what a new config changes in a running daemon, and what it refuses."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from twisted.internet.testing import MemoryReactorClock

from daemon import reload as reload_module
from daemon.catalogues import LOCALE_DIR, default_catalogues, install_catalogues
from daemon.config import Config, build_config
from daemon.db import InlineDatabase
from daemon.migrate import upgrade_all
from daemon.money.common import money_env
from daemon.reload import ReloadRefused, changed_keys
from daemon.service import Daemon, assemble_daemon
from ledger import make_engine

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
