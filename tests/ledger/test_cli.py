"""`smscore ledger init / check / export-head`."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import update

from daemon.cli import main
from ledger import Account, Transfer, create_accounts, create_transfers, make_engine
from ledger.schema import transfers


def run(*args: str):
    return CliRunner().invoke(main, ["ledger", *args])


def test_init_check_export_and_detect_tampering(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run("init", "--db", url).exit_code == 0
    engine = make_engine(url)
    with engine.begin() as conn:
        create_accounts(conn, [Account(1, "KES"), Account(2, "KES")], 0)
        create_transfers(conn, [Transfer(i, 1, 2, i, "KES") for i in range(1, 4)], 1)
    ok = run("check", "--db", url)
    assert ok.exit_code == 0 and "ledger ok: 3 transfers" in ok.output
    exported = run("export-head", "--db", url)
    head_file = tmp_path / "head.json"
    head_file.write_text(exported.output)
    assert json.loads(exported.output)["transfer_count"] == 3
    assert run("check", "--db", url, "--expect-head", str(head_file)).exit_code == 0

    with engine.begin() as conn:
        conn.execute(update(transfers).where(transfers.c.id == 2).values(code=9))
    engine.dispose()
    broken = run("check", "--db", url)
    assert broken.exit_code == 1
    assert "hash chain broken from seq 2" in broken.output


def test_operating_errors_are_one_line_and_exit_2(tmp_path) -> None:
    (tmp_path / "empty.db").touch()
    empty = run("check", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert empty.exit_code == 2 and "smscore ledger init" in empty.output
    assert "Traceback" not in empty.output
    bad_url = run("check", "--db", "nonsense")
    assert bad_url.exit_code == 2 and "not a database URL" in bad_url.output
    head = tmp_path / "head.json"
    head.write_text("{not json")
    bad_head = run("check", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--expect-head", str(head))
    assert bad_head.exit_code == 2 and str(head) in bad_head.output


def test_readers_never_create_a_database(tmp_path) -> None:
    missing = tmp_path / "typo.db"
    for command in ("check", "export-head"):
        result = run(command, "--db", f"sqlite:///{missing}")
        assert result.exit_code == 2, result.output
        assert f"no such database: {missing}" in result.output
        assert "schema is at" not in result.output and "Traceback" not in result.output
    assert not missing.exists()


def test_init_says_what_it_did(tmp_path) -> None:
    path = tmp_path / "new.db"
    created = run("init", "--db", f"sqlite:///{path}")
    assert created.exit_code == 0
    assert created.output.strip() == f"created database {path} with the ledger schema at 0002"
    again = run("init", "--db", f"sqlite:///{path}")
    assert again.output.strip() == "ledger schema is current (0002)"
    (tmp_path / "empty.db").touch()
    empty = run("init", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert empty.output.strip() == "created the ledger schema at 0002"


def test_check_finds_the_daemons_database_by_its_config_or_state_dir(tmp_path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    url = f"sqlite:///{state / 'smscore.db'}"
    assert run("init", "--db", url).exit_code == 0
    config = tmp_path / "smscore.toml"
    config.write_text(f'[service]\nstate_dir = "{state}"\n')
    by_config = run("check", "--config", str(config))
    assert by_config.exit_code == 0, by_config.output
    assert "ledger ok: 0 transfers" in by_config.output
    by_state_dir = run("check", "--state-dir", str(state))
    assert by_state_dir.exit_code == 0 and "ledger ok: 0 transfers" in by_state_dir.output
    # --db wins over the config's database, as in the admin commands.
    elsewhere = run("check", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'no.db'}")
    assert (
        elsewhere.exit_code == 2 and f"no such database: {tmp_path / 'no.db'}" in elsewhere.output
    )


def test_check_without_a_database_or_with_a_bad_config_is_one_line(tmp_path) -> None:
    nothing = CliRunner(env={"SMSCORE_LEDGER_DB": None, "SMSCORE_CONFIG": None}).invoke(
        main, ["ledger", "check"]
    )
    assert nothing.exit_code == 2
    assert "give --db URL, or --config FILE or --state-dir DIR" in nothing.output
    config = tmp_path / "smscore.toml"
    config.write_text("[service]\nbogus = 1\n")
    bad = run("check", "--config", str(config))
    assert bad.exit_code == 2 and f"{config}: service.bogus: unknown key" in bad.output
    assert "Traceback" not in bad.output
