"""Menu versions (daemon.ussd.menu_store) and reload (daemon.ussd.menu_watch): a new version is
stored and becomes the one new sessions start on; the same version with other content is refused;
a broken file is logged once and the running menu stays; sessions read their own version back."""

import pytest
from twisted.logger import capturedLogs

from daemon.config import build_config
from daemon.ussd.menu import MenuError
from daemon.ussd.menu_store import (
    current_menu_txn,
    menu_of_version_txn,
    store_menu_txn,
    stored_versions_txn,
)
from daemon.ussd.menu_watch import MenuWatcher
from tests.daemon.ussd_menus import BASE, broken, load, write_menu

V2 = broken('version = "t1"', 'version = "t2"', broken('"Help"', '"Help desk"'))


def test_a_new_version_is_stored_and_becomes_current(engine, tmp_path):
    one = load(write_menu(tmp_path, BASE, "one.toml"))
    two = load(write_menu(tmp_path, V2, "two.toml"))
    with engine.begin() as conn:
        assert current_menu_txn(conn) is None
        assert store_menu_txn(conn, one, 10) is True
        assert store_menu_txn(conn, one, 11) is False  # the same again: nothing new
        assert store_menu_txn(conn, two, 12) is True
        assert current_menu_txn(conn).version == "t2"
        old = menu_of_version_txn(conn, "t1")  # a session that started on t1 finishes on it
        assert old.version == "t1" and old.document == BASE and old.digest == one.digest
        assert menu_of_version_txn(conn, "t9") is None
        assert [v for v, _ in stored_versions_txn(conn)] == ["t2", "t1"]


def test_the_same_version_with_other_content_is_refused(engine, tmp_path):
    one = load(write_menu(tmp_path, BASE, "one.toml"))
    changed = load(write_menu(tmp_path, broken('"Help"', '"Help desk"'), "changed.toml"))
    with engine.begin() as conn:
        store_menu_txn(conn, one, 10)
        with pytest.raises(MenuError) as caught:
            store_menu_txn(conn, changed, 11)
        assert str(caught.value) == (
            f"{changed.source}: version t1 is already loaded with other content: "
            "give the new file a new version"
        )
        assert current_menu_txn(conn).document == BASE


def test_an_earlier_version_put_back_is_current_again(engine, tmp_path):
    one = load(write_menu(tmp_path, BASE, "one.toml"))
    two = load(write_menu(tmp_path, V2, "two.toml"))
    with engine.begin() as conn:
        store_menu_txn(conn, one, 10)
        store_menu_txn(conn, two, 11)
        assert store_menu_txn(conn, one, 12) is True
        assert current_menu_txn(conn).version == "t1"


def watcher_for(db, clock, path):
    config = build_config({"ussd": {"menu_file": str(path), "reload_check_s": 5}})
    return MenuWatcher(clock, db, config)


def errors(events):
    return [e for e in events if e.get("log_level") is not None and e["log_level"].name == "error"]


def test_the_watcher_loads_a_new_version_and_keeps_the_running_one_on_a_broken_file(
    engine, db, clock, tmp_path
):
    path = write_menu(tmp_path, BASE)
    watcher = watcher_for(db, clock, path)
    with engine.begin() as conn:
        assert watcher.load_txn(conn, 1).version == "t1"
    watcher.start()
    path.write_text(V2, encoding="utf-8")
    clock.advance(5)
    assert watcher.current.version == "t2"
    with engine.begin() as conn:
        assert current_menu_txn(conn).version == "t2"
    with capturedLogs() as events:
        path.write_text(broken('next = "amount"', 'next = "nowhere"', V2), encoding="utf-8")
        for _ in range(3):
            clock.advance(5)
    [logged] = errors(events)
    line = logged["log_format"].format(**logged)
    assert "\n" not in line and f"{path}: screen phone: next: no screen nowhere" in line
    assert "(the running menu t2 stays)" in line
    assert watcher.current.version == "t2" and watcher.last_error.startswith(str(path))
    with engine.begin() as conn:
        assert current_menu_txn(conn).version == "t2"
    watcher.stop()


def test_a_changed_file_under_an_old_version_is_refused_and_logged_once(
    engine, db, clock, tmp_path
):
    path = write_menu(tmp_path, BASE)
    watcher = watcher_for(db, clock, path)
    with engine.begin() as conn:
        watcher.load_txn(conn, 1)
    watcher.start()
    with capturedLogs() as events:
        path.write_text(broken('"Help"', '"Help desk"'), encoding="utf-8")
        clock.advance(5)
        clock.advance(5)
    [logged] = errors(events)
    assert "version t1 is already loaded with other content" in logged["error"]
    with engine.begin() as conn:
        assert current_menu_txn(conn).document == BASE
    watcher.stop()


def test_a_broken_file_at_start_up_is_a_menu_error(engine, db, clock, tmp_path):
    path = write_menu(tmp_path, broken('arg = "phone"', 'arg = "telephone"'))
    watcher = watcher_for(db, clock, path)
    with engine.begin() as conn, pytest.raises(MenuError, match="screen phone: arg: unknown type"):
        watcher.load_txn(conn, 1)


def test_a_version_another_process_stored_first_is_taken_not_a_crash(engine, tmp_path, monkeypatch):
    from daemon.ussd import menu_store

    one = load(write_menu(tmp_path, BASE, "one.toml"))
    with engine.begin() as conn:  # the other TranProc, a moment earlier
        assert store_menu_txn(conn, one, 10) is True
    real, calls = menu_store._stored_digest, []

    def raced(conn, version):  # this process looked before the other's commit
        calls.append(version)
        return None if len(calls) == 1 else real(conn, version)

    monkeypatch.setattr(menu_store, "_stored_digest", raced)
    with engine.begin() as conn:
        assert store_menu_txn(conn, one, 11) is False  # already the current one
        assert current_menu_txn(conn).version == "t1"  # and the transaction is still usable
    assert len(calls) == 2
