"""The database knows its PIN pepper by a fingerprint: a process holding another pepper is refused
(one line naming the file, exit 2, nothing written) instead of setting PINs nobody can enter."""

import os
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from daemon.admin_cli import subscriber as subscriber_cli
from daemon.chart import ensure_chart_txn
from daemon.migrate import upgrade_all
from daemon.schema import settings, subscribers
from daemon.subscribers import (
    PEPPER_BYTES,
    PEPPER_FILE_NAME,
    PEPPER_SETTING,
    PepperMismatch,
    PinHasher,
    check_pepper_fingerprint,
    create_subscriber_txn,
    load_pepper_txn,
    pepper_fingerprint,
    read_pepper,
    set_pin_txn,
)
from ledger import make_engine

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
ALICE = "254712000001"
BOB = "254712000002"
MISMATCH = "does not match the database's pepper"


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def add(url: str, msisdn: str, *options: str):
    return CliRunner().invoke(
        subscriber_cli, ["add", msisdn, "--pin", "4826", "--db", url, *options]
    )


def fingerprints(engine) -> list[tuple[str, int]]:
    with engine.begin() as conn:
        query = select(settings.c.value, settings.c.set_at_ns).where(
            settings.c.name == PEPPER_SETTING
        )
        return [tuple(row) for row in conn.execute(query)]


def subscriber_count(engine) -> int:
    with engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(subscribers)).scalar_one()


def test_the_same_pepper_works_and_the_fingerprint_is_stored_once(engine, tmp_path):
    state = tmp_path / "state"
    first = add(url_of(engine), "0712000001", "--state-dir", str(state))
    assert first.exit_code == 0, first.output
    [(stored, set_at_ns)] = fingerprints(engine)
    pepper = read_pepper(state / PEPPER_FILE_NAME)
    assert stored == pepper_fingerprint(pepper)
    assert pepper.hex() not in stored and len(stored) == 32  # names the pepper, never holds it
    second = add(url_of(engine), "0712000002", "--state-dir", str(state))
    assert second.exit_code == 0, second.output
    assert fingerprints(engine) == [(stored, set_at_ns)]
    assert subscriber_count(engine) == 2


def test_another_pepper_is_refused_naming_its_file_and_writes_nothing(engine, tmp_path):
    assert add(url_of(engine), "0712000001", "--state-dir", str(tmp_path / "a")).exit_code == 0
    other = tmp_path / "b"
    other.mkdir()
    (other / PEPPER_FILE_NAME).write_text("ab" * PEPPER_BYTES + "\n")
    os.chmod(other / PEPPER_FILE_NAME, 0o600)
    refused = add(url_of(engine), "0712000002", "--state-dir", str(other))
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1
    assert f"{other / PEPPER_FILE_NAME}: this PIN pepper {MISMATCH}" in refused.output
    assert subscriber_count(engine) == 1
    assert len(fingerprints(engine)) == 1


def test_no_pepper_file_is_made_beside_a_database_that_has_one(engine, tmp_path, monkeypatch):
    """The issue: `subscriber add --db URL` from another directory made a new pepper there."""
    assert add(url_of(engine), "0712000001", "--state-dir", str(tmp_path / "demo")).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    refused = add(url_of(engine), "0712000002")
    assert refused.exit_code == 2
    assert "no PIN pepper file" in refused.output
    assert "var/smscore/pin_pepper" in refused.output
    assert os.listdir(elsewhere) == []
    assert subscriber_count(engine) == 1


def test_list_takes_the_state_dir_to_find_the_default_database(tmp_path):
    state = tmp_path / "state"
    assert add_default_db(state).exit_code == 0
    listed = CliRunner().invoke(subscriber_cli, ["list", "--state-dir", str(state)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("254712000001\tcustomer")


def add_default_db(state):
    return CliRunner().invoke(
        subscriber_cli, ["add", "0712000001", "--pin", "4826", "--state-dir", str(state)]
    )


# --- the functions the daemon and the admin commands share


def test_check_records_the_first_pepper_then_refuses_others(engine, tmp_path):
    with engine.begin() as conn:
        check_pepper_fingerprint(conn, b"p" * PEPPER_BYTES, tmp_path / "p", NOW)
        check_pepper_fingerprint(conn, b"p" * PEPPER_BYTES, tmp_path / "p", NOW + NS)
    assert fingerprints(engine) == [(pepper_fingerprint(b"p" * PEPPER_BYTES), NOW)]
    with (
        engine.begin() as conn,
        pytest.raises(PepperMismatch, match=f"^{re.escape(str(tmp_path / 'q'))}: "),
    ):
        check_pepper_fingerprint(conn, b"q" * PEPPER_BYTES, tmp_path / "q")


def test_setting_pins_with_another_pepper_is_refused(engine):
    mine, theirs = PinHasher(b"p" * PEPPER_BYTES), PinHasher(b"q" * PEPPER_BYTES, "/etc/q")
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        create_subscriber_txn(conn, ALICE, pin="1234", hasher=mine, currency="KES", now_ns=NOW)
    with engine.begin() as conn, pytest.raises(PepperMismatch, match=r"^/etc/q: "):
        create_subscriber_txn(conn, BOB, pin="1234", hasher=theirs, currency="KES", now_ns=NOW)
    with engine.begin() as conn, pytest.raises(PepperMismatch):
        set_pin_txn(conn, ALICE, "9999", theirs)
    assert subscriber_count(engine) == 1


def test_load_creates_a_pepper_only_for_a_database_without_one(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
        pepper = load_pepper_txn(conn, tmp_path / "a" / PEPPER_FILE_NAME, NOW)
    with engine.begin() as conn:
        assert load_pepper_txn(conn, tmp_path / "a" / PEPPER_FILE_NAME) == pepper
        with pytest.raises(PepperMismatch, match="no PIN pepper file"):
            load_pepper_txn(conn, tmp_path / "b" / PEPPER_FILE_NAME)
    assert not (tmp_path / "b").exists()
    engine.dispose()


def test_a_database_older_than_the_fingerprint_gets_no_new_pepper_beside_its_pins(engine, tmp_path):
    with engine.begin() as conn:
        ensure_chart_txn(conn, "KES", NOW)
        hasher = PinHasher(b"p" * PEPPER_BYTES)
        create_subscriber_txn(conn, ALICE, pin="1234", hasher=hasher, currency="KES", now_ns=NOW)
        conn.execute(delete(settings))  # as a database from before migration d0002 is
    with engine.begin() as conn, pytest.raises(PepperMismatch, match="no PIN pepper file"):
        load_pepper_txn(conn, tmp_path / "state" / PEPPER_FILE_NAME)
    assert not (tmp_path / "state").exists()
