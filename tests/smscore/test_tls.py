"""PersistentBind over TLS to our SMSC, both on a real reactor in subprocesses on 127.0.0.1.

The certificates are made here with `cryptography`: one self-signed server certificate for
127.0.0.1 that the client trusts, and an unrelated one the client must refuse.
"""

import datetime
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.smscore.test_smpplib_live import ROOT, start_peer, stop_peer

BIND_LIFETIME_S = 8


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def run_bind(port: int, ca: Path, lifetime_s: float = BIND_LIFETIME_S) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.smscore.live_peer",
            "bind",
            "--port",
            str(port),
            "--ca",
            str(ca),
            "--lifetime-s",
            str(lifetime_s),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=lifetime_s + 10,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from the bind process: {done.stderr[-2000:]}"
    return json.loads(lines[-1])


def test_persistent_bind_over_tls_binds_and_submits(tmp_path):
    cert, key = self_signed(tmp_path, "smsc")
    proc, port = start_peer("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        report = run_bind(port, ca=cert)
    finally:
        stop_peer(proc)
    assert report["bound"] is True
    assert report["message_id"] == "msg-1"
    assert report["bind_failures"] == 0


def test_persistent_bind_refuses_a_server_it_does_not_trust(tmp_path):
    cert, key = self_signed(tmp_path, "smsc")
    stranger, _ = self_signed(tmp_path, "stranger")
    proc, port = start_peer("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        report = run_bind(port, ca=stranger, lifetime_s=3)
    finally:
        stop_peer(proc)
    assert report["bound"] is False
    assert report["connects"] >= 2  # it kept retrying with backoff
    assert report["bind_failures"] >= 1
    assert "certificate" in report["error"].lower() or "ssl" in report["error"].lower(), report
