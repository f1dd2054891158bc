"""A bind refused for its credentials waits the longest delay every time, says so once per refusal,
and shows as refused-credentials; the password is in no repr."""

import itertools

import pytest
from twisted.logger import capturedLogs

from smscore.esme import ESMEConfig
from smscore.pdu import BindTransceiver
from smscore.status import CommandStatus as S
from tests.smscore.test_client import POLICY, Harness


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.parametrize("status", [S.ESME_RINVPASWD, S.ESME_RINVSYSID])
def test_a_credentials_refusal_backs_off_to_the_max_delay_at_once(status):
    harness = Harness()
    harness.auth_status = status
    with capturedLogs() as events:
        harness.start()
        harness.run(4 * POLICY.max_delay_s + 1)
    assert gaps(harness.connect_times) == pytest.approx([POLICY.max_delay_s] * 4)
    assert harness.bind.state == "refused-credentials"
    refusals = [e for e in events if "refused for its credentials" in e["log_format"]]
    assert len(refusals) == harness.bind.counters.bind_failures == 5  # one line per refusal
    assert refusals[0]["system_id"] == "esme1"
    assert S.describe(status).split(" (")[0] in refusals[0]["error"]


def test_after_the_credentials_are_fixed_it_binds_and_the_state_is_up():
    harness = Harness()
    harness.auth_status = S.ESME_RINVPASWD
    harness.start()
    harness.auth_status = S.ESME_ROK
    harness.advance(POLICY.max_delay_s - 0.01)
    assert harness.bind.state == "refused-credentials"
    harness.advance(0.01)
    assert harness.bind.state == "up"
    harness.endpoint.current.drop()  # back to the usual backoff from the bottom
    attempts = len(harness.connect_times)
    harness.advance(POLICY.initial_delay_s)
    assert len(harness.connect_times) == attempts + 1 and harness.bind.is_bound


def test_the_password_is_in_no_repr():
    config = ESMEConfig("esme1", "s3cr3tpw")
    assert "s3cr3tpw" not in repr(config)
    assert "s3cr3tpw" not in repr(config.bind_pdu())
    assert "s3cr3tpw" not in str(config.bind_pdu())
    assert config.bind_pdu().password == "s3cr3tpw"  # still sent
    assert "system_id='esme1'" in repr(BindTransceiver(system_id="esme1", password="x"))


def test_status_shows_refused_credentials_and_no_password():
    from daemon.config import build_config
    from daemon.status import bind_status
    from daemon.status_table import format_status

    harness = Harness()
    harness.auth_status = S.ESME_RINVPASWD
    harness.start()
    settings = build_config(
        {"binds": [{"name": "smsc-a", "host": "127.0.0.1", "system_id": "esme1", "password": "pw"}]}
    ).binds[0]
    status = bind_status(harness.bind, settings)
    assert status["state"] == "refused-credentials" and status["bound"] is False
    text = format_status({"binds": [status]}, width=200)
    [row] = [line.split() for line in text.splitlines() if line.split()[:1] == ["smsc-a"]]
    assert row[:3] == ["smsc-a", "REFUSED-CREDENTIALS", "127.0.0.1:2775"]
    assert "Invalid Password" in text and "'pw'" not in repr(settings)


def test_a_lockout_after_credential_refusals_is_named_and_still_waits_the_max_delay():
    # Found by hand against `smscore sim`: after max_bind_failures wrong passwords the SMSC
    # answers ESME_RBINDFAIL; the log said only "Bind Failed" and the bind showed DOWN.
    harness = Harness()
    harness.auth_status = S.ESME_RINVPASWD
    with capturedLogs() as events:
        harness.start()
        harness.auth_status = S.ESME_RBINDFAIL  # locked out from now on
        harness.run(3 * POLICY.max_delay_s + 1)
    assert gaps(harness.connect_times) == pytest.approx([POLICY.max_delay_s] * 3)
    assert harness.bind.state == "refused-credentials"
    lockouts = [e for e in events if "locked this address out" in e["log_format"]]
    assert len(lockouts) == 3 and "ESME_RBINDFAIL" in lockouts[0]["error"]


def test_a_bind_failure_with_no_credential_refusal_before_is_the_usual_backoff():
    harness = Harness()
    harness.auth_status = S.ESME_RBINDFAIL
    harness.start()
    harness.run(POLICY.max_delay_s)
    assert harness.bind.state == "down" and len(harness.connect_times) > 2
