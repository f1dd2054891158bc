"""`smscore menu check FILE` (exit 0 and a summary, exit 2 and the one-line error), `smscore menu
show` (the screens as a tree, from a file or a stored version), and `smscore run --check` checking
the configured menu."""

import pytest
from click.testing import CliRunner

from daemon.cli import main
from daemon.ussd.menu_file import SHIPPED_MENU
from daemon.ussd.menu_store import store_menu_txn
from ledger import make_engine
from tests.daemon.test_config_checks import write_config
from tests.daemon.ussd_menus import BASE, broken, load, write_menu


def test_check_of_the_shipped_menu_lists_every_path_and_its_command():
    result = CliRunner().invoke(main, ["menu", "check", str(SHIPPED_MENU)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"menu OK: {SHIPPED_MENU}: version 2026.12.1, codes *334#, ")
    assert "  Send money > phone > amount > pin: SEND {phone} {amount} {pin}" in lines
    assert (
        "  Deposit for a customer > customer > amount > pin: DEPOSIT {customer} {amount} {pin}"
        in lines
    )
    assert len(lines) == 1 + 9


def test_check_of_a_broken_menu_is_one_line_and_exit_2(tmp_path):
    path = write_menu(tmp_path, broken('next = "amount"', 'next = "amont"'))
    result = CliRunner().invoke(main, ["menu", "check", str(path)])
    assert result.exit_code == 2
    assert result.output == f"Error: {path}: screen phone: next: no screen amont\n"


def test_check_measures_screens_for_the_configured_size(tmp_path):
    path = write_menu(tmp_path, broken('"Help"', f'"{"h" * 60}"'))
    config = write_config(tmp_path, ussd={"screen_max_chars": 60})
    assert CliRunner().invoke(main, ["menu", "check", str(path)]).exit_code == 0
    result = CliRunner().invoke(main, ["menu", "check", str(path), "--config", str(config)])
    assert result.exit_code == 2 and "does not fit 60 characters" in result.output


@pytest.mark.parametrize("extra", [["--check"], []], ids=["check", "run"])
def test_run_stops_on_a_broken_menu_in_one_line(tmp_path, monkeypatch, extra):
    monkeypatch.setattr("daemon.runner.run_forever", lambda *a: pytest.fail("the daemon ran"))
    menu = write_menu(tmp_path, broken('arg = "amount"', 'arg = "money"'))
    path = write_config(tmp_path, ussd={"menu_file": str(menu)})
    result = CliRunner().invoke(main, ["run", "--config", str(path), *extra])
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(
        f"smscore: {path}: ussd.menu_file: {menu}: screen amount: arg: unknown type money"
    )


def test_run_check_passes_with_the_shipped_menu(tmp_path):
    path = write_config(tmp_path)
    assert CliRunner().invoke(main, ["run", "--config", str(path), "--check"]).exit_code == 0


def test_show_prints_the_screens_as_a_tree(tmp_path):
    result = CliRunner().invoke(main, ["menu", "show", str(SHIPPED_MENU), "--language", "sw",
                                       "--state-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("menu 2026.12.1 (*334#), sw\n")
    assert "1. Tuma pesa (customer)" in result.output
    assert "runs PAY {biller} {account} {amount} {pin}" in result.output
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_show_a_stored_version(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    engine = make_engine(f"sqlite:///{state / 'smscore.db'}")
    from daemon.migrate import upgrade_all

    with engine.begin() as conn:
        upgrade_all(conn)
        store_menu_txn(conn, load(write_menu(tmp_path, BASE)), 1)
    engine.dispose()
    result = CliRunner().invoke(
        main, ["menu", "show", "--version", "t1", "--state-dir", str(state)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("menu t1 (*334#), en\n") and "runs SEND" in result.output
    missing = CliRunner().invoke(
        main, ["menu", "show", "--version", "t7", "--state-dir", str(state)]
    )
    assert missing.exit_code == 2 and "--version t7: not stored (stored: t1)" in missing.output
