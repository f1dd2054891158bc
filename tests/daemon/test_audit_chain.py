"""The audit log's hash chain: every edit, deletion or reordering is found at its first entry; the
CLI says OK or names it; `ledger check` reports it; a PIN lockout is an entry by "system"."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from daemon.admin.cli import admin
from daemon.audit import (
    SYSTEM_ACTOR,
    SecurityEvent,
    list_txn,
    record_security_event_txn,
    record_txn,
)
from daemon.audit_chain import AuditBreak, head_txn, verify_audit_chain_txn
from daemon.cli import main
from daemon.schema import audit_log
from daemon.subscribers import (
    PEPPER_BYTES,
    PinHasher,
    PinOutcome,
    PinPolicy,
    check_pin_txn,
    create_subscriber_txn,
)
from tests.daemon.money_world import World

NS = 1_000_000_000
NOW = 1_700_000_000 * NS
ENTRIES = 6
HASHER = PinHasher(b"p" * PEPPER_BYTES)
ALICE = "254712000200"


def fill(engine, count: int = ENTRIES) -> list[int]:
    with engine.begin() as conn:
        return [
            record_txn(conn, f"op{i}", f"act.{i}", f"2547120000{i:02d}", f"detail {i}", NOW + i)
            for i in range(count)
        ]


def rows_by_seq(conn) -> list:
    return conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()


def test_appended_entries_form_one_whole_chain(engine):
    ids = fill(engine)
    with engine.begin() as conn:
        rows = rows_by_seq(conn)
        head = head_txn(conn)
        assert verify_audit_chain_txn(conn) is None
    assert [row.id for row in rows] == ids and [row.seq for row in rows] == list(range(1, 7))
    assert (head.entry_count, head.last_id, head.head_hash) == (ENTRIES, ids[-1], rows[-1].hash)


@pytest.fixture
def filled(engine) -> list[int]:
    return fill(engine)  # once for all of a test's hypothesis examples


EDITS = {
    "actor": "intruder",
    "action": "act.other",
    "target": "254700000000",
    "detail": "nothing happened",
    "at_ns": NOW - 1,
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tamper=st.sampled_from(["edit", "delete", "reorder", "swap"]),
    field=st.sampled_from(sorted(EDITS)),
    first=st.integers(1, ENTRIES),
    second=st.integers(1, ENTRIES),
)
def test_any_edit_deletion_or_reordering_is_found_at_its_first_entry(
    engine, filled, tamper, field, first, second
):
    ids = filled
    first, second = min(first, second), max(first, second)
    with engine.connect() as conn:
        transaction = conn.begin()
        expected = _tamper(conn, ids, tamper, field, first, second)
        found = verify_audit_chain_txn(conn)
        transaction.rollback()  # the next example starts from the whole chain
    assert found == expected


def _tamper(conn, ids, tamper, field, first, second) -> AuditBreak | None:
    """Change the log; the break verify should report (None: nothing was changed)."""
    at = audit_log.c.seq
    if tamper == "edit":
        conn.execute(update(audit_log).where(at == first).values({field: EDITS[field]}))
        return AuditBreak(
            first, ids[first - 1], "its content or place differs from what was chained"
        )
    if tamper == "delete":
        conn.execute(delete(audit_log).where(at == first))
        if first == ENTRIES:
            return AuditBreak(ENTRIES, None, f"missing: the head counts {ENTRIES} entries")
        return AuditBreak(first, ids[first], f"seq {first} is missing")
    if first == second:
        return None
    if tamper == "reorder":  # the two entries trade places in the chain
        conn.execute(update(audit_log).where(at == first).values(seq=-1))
        conn.execute(update(audit_log).where(at == second).values(seq=first))
        conn.execute(update(audit_log).where(at == -1).values(seq=second))
        return AuditBreak(
            first, ids[second - 1], "its content or place differs from what was chained"
        )
    # swap: the two entries trade what they say (actor, action, target, detail), keeping places
    texts = ("actor", "action", "target", "detail")
    one, two = (conn.execute(select(*(audit_log.c[n] for n in texts)).where(at == s)).one()
                for s in (first, second))  # fmt: skip
    conn.execute(update(audit_log).where(at == first).values(dict(zip(texts, two, strict=True))))
    conn.execute(update(audit_log).where(at == second).values(dict(zip(texts, one, strict=True))))
    return AuditBreak(first, ids[first - 1], "its content or place differs from what was chained")


def test_an_entry_added_behind_the_heads_back_is_found(engine):
    ids = fill(engine, 2)
    with engine.begin() as conn:
        forged = conn.execute(select(audit_log).where(audit_log.c.id == ids[-1])).one()._asdict()
        conn.execute(audit_log.insert().values({**forged, "id": ids[-1] + 1, "seq": 3}))
        found = verify_audit_chain_txn(conn)
    assert found is not None and (found.seq, found.entry_id) == (3, ids[-1] + 1)


def test_an_empty_log_verifies(engine):
    with engine.begin() as conn:
        assert verify_audit_chain_txn(conn) is None
        assert head_txn(conn).entry_count == 0


def test_a_security_event_names_a_known_decision_only(engine):
    with engine.begin() as conn:
        record_security_event_txn(
            conn, SYSTEM_ACTOR, SecurityEvent.SIM_SWAP, ALICE, "SIM changed", NOW
        )
        with pytest.raises(ValueError, match="SecurityEvent"):
            record_security_event_txn(conn, SYSTEM_ACTOR, "pin.guess", ALICE, "", NOW)
        [entry] = list_txn(conn)
    assert (entry.actor, entry.action, entry.target) == ("system", "simswap", ALICE)


# --- a PIN lockout is audited


def test_a_pin_lockout_is_an_entry_by_system_without_the_pin(engine):
    policy = PinPolicy(max_failures=3, lockout_ns=900 * NS)
    with engine.begin() as conn:
        alice = create_subscriber_txn(
            conn, ALICE, pin="4821", hasher=HASHER, currency="KES", now_ns=NOW
        )
        outcomes = []
        for attempt in range(3):
            check, alice = check_pin_txn(conn, alice, "9173", HASHER, policy, NOW + attempt)
            outcomes.append(check.outcome)
            if attempt < 2:
                assert list_txn(conn) == []  # a wrong PIN short of the limit is no decision
        [entry] = list_txn(conn)
        assert verify_audit_chain_txn(conn) is None
    assert outcomes == [PinOutcome.WRONG, PinOutcome.WRONG, PinOutcome.LOCKED]
    assert (entry.actor, entry.action, entry.target, entry.at_ns) == (
        "system", "pin.lockout", ALICE, NOW + 2,
    )  # fmt: skip
    assert "locked for 900 s" in entry.detail
    assert "9173" not in entry.detail and "4821" not in entry.detail


def test_a_lockout_over_sms_is_audited(engine):
    world = World(engine)
    world.add(ALICE, pin="4821", balance_minor=10_000)
    world.add("254712000300")
    for _ in range(3):
        world.sms(ALICE, "SEND 0712000300 50 9173")
    with engine.begin() as conn:
        [entry] = list_txn(conn)
        assert verify_audit_chain_txn(conn) is None
    assert (entry.actor, entry.action, entry.target) == ("system", "pin.lockout", ALICE)
    assert "9173" not in entry.detail
    world.check()


# --- the CLI


@pytest.fixture
def where(engine, tmp_path) -> list[str]:
    config = tmp_path / "smscore.toml"
    config.write_text(f'[security]\npin_pepper_file = "{tmp_path / "pepper"}"\n')
    return ["--db", engine.url.render_as_string(hide_password=False), "--config", str(config)]


def test_admin_audit_verify_says_ok_then_names_the_edited_entry(engine, where):
    ids = fill(engine, 3)
    ok = CliRunner().invoke(admin, ["audit", "verify", *where])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("audit log OK: 3 entries, head ")
    with engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == ids[1]).values(detail="edited"))
    broken = CliRunner().invoke(admin, ["audit", "verify", *where])
    assert broken.exit_code == 1
    assert broken.output == (
        f"audit log BROKEN at entry {ids[1]} (seq 2): its content or place differs from what was "
        "chained\n"
    )
    listed = CliRunner().invoke(admin, ["audit", "list", *where])  # `audit` alone lists too
    assert listed.exit_code == 0 and "act.2" in listed.output


def test_ledger_check_reports_the_audit_chain(engine, where):
    ids = fill(engine, 2)
    url = where[1]
    ok = CliRunner().invoke(main, ["ledger", "check", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert "audit log OK: 2 entries" in ok.output and "ledger ok" in ok.output
    with engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == ids[0]))
    broken = CliRunner().invoke(main, ["ledger", "check", "--db", url])
    assert broken.exit_code == 1
    assert f"audit log BROKEN at entry {ids[1]} (seq 1): seq 1 is missing" in broken.output
    assert "ledger BROKEN: the audit log's chain does not hold" in broken.output
