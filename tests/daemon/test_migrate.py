"""`smscore db upgrade` says what it did: created the database, created or upgraded the schema."""

from click.testing import CliRunner
from sqlalchemy import text

import ledger
from daemon.cli import main
from daemon.migrate import UpgradeFailed, upgrade_database
from daemon.schema import SCHEMA_VERSION
from ledger.schema import SCHEMA_VERSION as LEDGER_VERSION

HEAD = f"ledger {LEDGER_VERSION}, smscore {SCHEMA_VERSION}"


def upgrade(url: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["db", "upgrade", "--db", url])


def test_a_new_file_is_created_with_the_schema(tmp_path):
    path = tmp_path / "state" / "smscore.db"
    result = upgrade(f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"created database sqlite:///{path} with the schema at {HEAD}"
    assert path.exists()


def test_a_current_database_is_left_as_it_is(tmp_path):
    url = f"sqlite:///{tmp_path / 'smscore.db'}"
    upgrade(url)
    result = upgrade(url)
    assert result.exit_code == 0
    assert result.output.strip() == f"schema is current in {url}: {HEAD}"


def test_an_empty_database_gets_the_schema(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    report = upgrade_database(f"sqlite:///{path}")
    assert not report.created_file
    assert report.describe() == f"created the schema in sqlite:///{path}: {HEAD}"


def test_an_older_schema_is_upgraded_from_its_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = ledger.make_engine(url)
    with engine.begin() as conn:
        ledger.upgrade(conn)  # only the ledger's history: the daemon's tables are missing
    engine.dispose()
    result = upgrade(url)
    assert result.exit_code == 0
    assert result.output.strip() == (
        f"upgraded the schema in {url} from ledger {LEDGER_VERSION}, smscore none to {HEAD}"
    )


def test_a_broken_database_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    result = upgrade(f"sqlite:///{path}")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"database sqlite:///{path}:" in result.output


def test_the_password_is_not_shown():
    try:
        upgrade_database("postgresql://smscore:s3cret@127.0.0.1:1/nothing")
    except UpgradeFailed as exc:
        assert "s3cret" not in str(exc) and "***" in str(exc)
    else:
        raise AssertionError("no server listens on port 1")


def test_in_memory_is_not_a_file():
    assert ledger.sqlite_file("sqlite://") is None
    assert ledger.sqlite_file("sqlite:///:memory:") is None
    engine = ledger.make_engine("sqlite://", create=False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
