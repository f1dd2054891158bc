"""`smscore ledger seal` and `smscore ledger check --seal FILE`."""

from __future__ import annotations

import stat

from click.testing import CliRunner
from sqlalchemy import Engine

from daemon.cli import main
from ledger.seal_file import read_seal
from tests.ledger.test_seal import post, rewind


def run(*args: str):
    return CliRunner().invoke(main, ["ledger", *args])


def test_seal_writes_a_private_file_and_check_compares_with_it(tmp_path, engine: Engine) -> None:
    with engine.begin() as conn:
        post(conn, 1, 5)
    url = engine.url.render_as_string(hide_password=False)
    path = tmp_path / "kept.seal"
    sealed = run("seal", "--db", url, "--file", str(path))
    assert sealed.exit_code == 0, sealed.output
    assert sealed.output.startswith("sealed at ") and "ledger 5 / " in sealed.output
    assert sealed.output.rstrip().endswith(f"-> {path}")
    assert read_seal(path).ledger.count == 5 and stat.S_IMODE(path.stat().st_mode) == 0o600
    ok = run("check", "--db", url, "--seal", str(path))
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[-2].startswith("ledger ok: 5 transfers")
    assert ok.output.splitlines()[-1].startswith("seal OK: the database continues the seal")
    assert run("check", "--db", url, "--expect-head", str(path)).exit_code == 0  # same head format

    with engine.begin() as conn:
        rewind(conn, 3)
    older = run("check", "--db", url, "--seal", str(path))
    assert older.exit_code == 1
    assert "ledger: 3 transfers, fewer than the 5 sealed at " in older.output
    assert older.output.splitlines()[-1] == "ledger BROKEN: the database does not continue its seal"
    refused = run("seal", "--db", url, "--file", str(path))
    assert refused.exit_code == 1 and "not sealed: " in refused.output
    assert read_seal(path).ledger.count == 5  # the evidence stays


def test_operating_errors_are_one_line_and_exit_2(tmp_path, engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    missing = run("check", "--db", url, "--seal", str(tmp_path / "none.seal"))
    assert missing.exit_code == 2 and "none.seal: no such file" in missing.output
    (tmp_path / "bad.seal").write_text("[]")
    bad = run("seal", "--db", url, "--file", str(tmp_path / "bad.seal"))
    assert bad.exit_code == 2 and "bad.seal: damaged" in bad.output
    assert "Traceback" not in missing.output + bad.output
