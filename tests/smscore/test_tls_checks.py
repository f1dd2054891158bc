"""The daemon's bind (PersistentBind via client_endpoint) against the simulator's TLS listener
(`smscore sim --tls-cert --tls-key`), both real processes on 127.0.0.1, certificates made here.

A certificate signed by the trusted CA for 127.0.0.1 binds; one from an unknown CA, an expired one
and one for another host name are refused, each with one clear line, retried with backoff."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509

from tests.smscore.certs import make_ca, server_cert
from tests.smscore.test_tls import run_bind

SMSCORE = Path(sys.executable).with_name("smscore")


@contextmanager
def tls_simulator(cert: Path, key: Path) -> Iterator[int]:
    """`smscore sim` listening with TLS on 127.0.0.1 (bounded: it exits by itself); its port."""
    command = [str(SMSCORE), "sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--esme", "test:secret", "--tls-cert", str(cert), "--tls-key", str(key),
               "--exit-after", "30"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("SMPP listening on"), (line, process.stderr.read())  # type: ignore[union-attr]
        yield int(line.rsplit(":", 1)[1])
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_certificate_from_the_trusted_ca_for_the_host_binds_and_submits(tmp_path):
    ca = make_ca(tmp_path)
    with tls_simulator(*server_cert(tmp_path, ca, "smsc")) as port:
        report = run_bind(port, ca=ca.cert_file)
    assert report["bound"] is True and report["state"] == "up", report
    assert report["message_id"]  # a submit_sm answered over the TLS link
    assert report["bind_failures"] == 0 and report["log"] == []


def unknown_ca(tmp_path: Path):  # type: ignore[no-untyped-def]
    return server_cert(tmp_path, make_ca(tmp_path, "stranger CA"), "smsc")


def expired(tmp_path: Path):  # type: ignore[no-untyped-def]
    return server_cert(tmp_path, TRUSTED[tmp_path], "smsc", valid_from_h=-48, valid_to_h=-24)


def other_host(tmp_path: Path):  # type: ignore[no-untyped-def]
    return server_cert(tmp_path, TRUSTED[tmp_path], "smsc", san=x509.DNSName("smsc.example.net"))


TRUSTED: dict[Path, object] = {}
REFUSALS = {
    "unknown CA": (
        unknown_ca,
        "the SMSC's certificate is not signed by a trusted CA (tls_ca_file; unset: the system's",
    ),
    "expired": (expired, "the SMSC's certificate is expired"),
    "wrong host name": (
        other_host,
        "the SMSC's certificate is not for that host: we dialled 127.0.0.1, "
        "it names smsc.example.net",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_certificate_it_must_not_trust_is_refused_in_one_clear_line(tmp_path, case):
    make_server, expected = REFUSALS[case]
    TRUSTED[tmp_path] = ca = make_ca(tmp_path)
    with tls_simulator(*make_server(tmp_path)) as port:
        report = run_bind(port, ca=ca.cert_file, lifetime_s=6)
    del TRUSTED[tmp_path]
    assert report["bound"] is False and report["message_id"] is None, report
    assert report["state"] == "refused-tls"
    assert report["bind_failures"] >= 2 and report["connects"] >= 2  # retried, after a backoff
    assert report["error"].startswith(f"TLS to 127.0.0.1:{port} refused: {expected}"), report
    refusals = [line for line in report["log"] if "TLS to" in line]
    assert len(refusals) == report["bind_failures"], report["log"]  # one line per attempt
