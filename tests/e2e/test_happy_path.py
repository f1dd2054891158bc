"""One MO in, exactly one reply out, its delivery receipt matched; unparseable text answered helpfully.
Each test runs on SQLite and on PostgreSQL (the `db_url` fixture)."""

import json
from pathlib import Path

from tests.e2e.harness import (
    DaemonProcess,
    SimulatorProcess,
    Subscriber,
    Tables,
    daemon_settings,
    seed_subscribers,
    smscore_status,
    wait_for,
)

ALICE = Subscriber("254712000001", "1234", 100_050)


def _start_daemon(tmp_path: Path, simulator: SimulatorProcess, url: str) -> DaemonProcess:
    daemon = DaemonProcess(tmp_path, daemon_settings(tmp_path / "state", url, simulator.port))
    seed_subscribers(daemon.config, [ALICE])
    daemon.start().wait_ready()
    wait_for(lambda: simulator.stats()["binds"] >= 1, 15, "the daemon to bind")
    return daemon


def _status_json(daemon: DaemonProcess) -> dict:
    return json.loads(smscore_status(daemon.status_url, "--json"))


def test_mo_gets_one_reply_and_its_receipt_is_matched(tmp_path, simulator, db_url) -> None:
    daemon = _start_daemon(tmp_path, simulator, db_url)
    tables = Tables.open(daemon.config.database_url)
    try:
        simulator.send_mo(ALICE.msisdn, f"BAL {ALICE.pin}")
        replies = wait_for(lambda: simulator.inbox(ALICE.msisdn), 15, "the reply")
        wait_for(
            lambda: tables.outbox_counts() == {"delivered": 1}, 15, "the receipt to be matched"
        )
        queues = _status_json(daemon)["queues"]
        [mo] = tables.inbox_rows()
        [reply] = tables.outbox_rows()
        # Nothing more arrives once the receipt is in: exactly one reply went out.
        assert [message["text"] for message in simulator.inbox(ALICE.msisdn)] == [
            "Your smscore balance is KES 1,000.50."
        ]
    finally:
        tables.close()
        assert daemon.stop() == 0, daemon.log()
    assert len(replies) == 1
    assert (queues["inbox_done"], queues["outbox_delivered"]) == (1, 1)
    assert (mo.status, mo.command, mo.source_addr) == ("done", "BAL", ALICE.msisdn)
    assert mo.text == "BAL ****"  # the PIN is not kept
    assert (reply.inbox_id, reply.status, reply.attempts) == (mo.id, "delivered", 1)
    assert simulator.stats()["submitted"] == 1


def test_unparseable_text_gets_a_helpful_reply(tmp_path, simulator, db_url) -> None:
    daemon = _start_daemon(tmp_path, simulator, db_url)
    # Unknown words are echoed with a pointer to HELP; a known command with bad arguments gets its
    # usage line, which says more than "send HELP" would.
    cases = {
        "254712000001": ("SNED 0712 500", ['did not understand "SNED"', "Send HELP"]),
        "254712000002": ("BAL abc", ["PIN is not valid", "Use: BAL PIN"]),
        "254712000003": (
            "\u00bfqu\u00e9 tal? \U0001f600",
            ['not understand "\u00bfqu\u00e9"', "HELP"],
        ),
        "254712000004": ("BAL", ["PIN is missing", "Use: BAL PIN"]),
        "254712000005": ("   ", ["empty", "Send HELP"]),
    }
    try:
        for msisdn, (text, _) in cases.items():
            simulator.send_mo(msisdn, text)
        inboxes = wait_for(
            lambda: (
                all(simulator.inbox(m) for m in cases) and {m: simulator.inbox(m) for m in cases}
            ),
            15,
            "a reply to every unparseable MO",
        )
    finally:
        assert daemon.stop() == 0, daemon.log()
    for msisdn, (text, expected) in cases.items():
        [reply] = inboxes[msisdn]
        assert all(phrase in reply["text"] for phrase in expected), (text, reply["text"])
        assert "Traceback" not in reply["text"] and "Error" not in reply["text"]
