"""TLS for SMPP links: the ESME's certificate checks, the SMSC's listener, and one-line refusals.

The checks themselves are OpenSSL's and service_identity's, through Twisted's optionsForClientTLS:
the SMSC's certificate must chain to a trusted CA, be valid now, and name the host we dialled (a
DNS name or an IP address in subjectAltName). This module only loads the files and turns a refused
handshake into a sentence an operator can act on.
"""

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.python.failure import Failure


class TLSFileError(ValueError):
    """A certificate or key file that cannot be used; the message names the file and the problem."""


class TLSRefused(ConnectionError):
    """The TLS handshake with the peer failed: its certificate was not accepted (or ours not)."""


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every PEM certificate in `path` (a CA bundle may hold several)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TLSFileError(f"{path} is not a PEM certificate") from None
    return certificates


def client_options(host: str, ca_file: Path | None) -> IOpenSSLClientConnectionCreator:
    """Verify the peer's chain against `ca_file` (None: the platform's trust store) and its name
    against `host`."""
    if ca_file is None:
        trust = ssl.platformTrust()
    else:
        roots = [
            ssl.Certificate.loadPEM(cert.public_bytes(serialization.Encoding.PEM))
            for cert in load_certificates(ca_file)
        ]
        trust = ssl.trustRootFromCertificates(roots)
    return ssl.optionsForClientTLS(host, trustRoot=trust)


def server_options(cert_file: Path, key_file: Path) -> ssl.CertificateOptions:
    """The listener's certificate (chain: leaf first, then intermediates) and its private key."""
    chain = load_certificates(cert_file)
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except OSError as exc:
        raise TLSFileError(f"cannot read {key_file}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise TLSFileError(f"{key_file} is not an unencrypted PEM private key") from None
    if key.public_key() != chain[0].public_key():
        raise TLSFileError(f"{key_file} is not the key of the certificate in {cert_file}")
    pem = serialization.Encoding.PEM
    private = ssl.PrivateCertificate.loadPEM(
        chain[0].public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    extra = [ssl.Certificate.loadPEM(cert.public_bytes(pem)).original for cert in chain[1:]]
    return ssl.CertificateOptions(
        privateKey=private.privateKey.original,
        certificate=private.original,
        extraCertChain=extra,
    )


def refusal(reason: Failure, peer: str, handle: object = None) -> TLSRefused | None:
    """A refused handshake as one line naming the peer and why; None if `reason` is not TLS.

    `handle` is the OpenSSL connection (TLSMemoryBIOProtocol.getHandle()), to look at the
    certificate the peer sent: OpenSSL says only "certificate verify failed"."""
    if reason.check(VerificationError):
        # `peer` is the address connected to; say which name was checked and which the
        # certificate has, or "127.0.0.1 ... not for that host" reads as a contradiction.
        names = ", ".join(_names_in(handle)) or "no DNS name or IP address"
        dialled = _dialled(reason.value) or "the configured host"
        return TLSRefused(
            f"TLS to {peer} refused: the SMSC's certificate is not for that host: "
            f"we dialled {dialled}, it names {names} (subjectAltName)"
        )
    if not reason.check(SSL.Error):
        return None
    text = reason.getErrorMessage()
    if "certificate verify failed" not in text:
        return TLSRefused(f"TLS to {peer} failed: {_openssl_reasons(reason.value)}")
    why = _certificate_problem(handle) or _UNTRUSTED
    return TLSRefused(f"TLS to {peer} refused: the SMSC's certificate is {why}")


_UNTRUSTED = "not signed by a trusted CA (tls_ca_file; unset: the system's trust store)"


def _dialled(error: BaseException) -> str:
    """The host name or address the certificate was checked against (service_identity's)."""
    for mismatch in getattr(error, "errors", ()):
        wanted = getattr(mismatch, "mismatched_id", None)
        found = getattr(wanted, "hostname", None) or getattr(wanted, "ip", None)
        if found is not None:
            return found.decode() if isinstance(found, bytes) else str(found)
    return ""


def _names_in(handle: object) -> list[str]:
    """The DNS names and IP addresses in the peer certificate's subjectAltName."""
    get_chain = getattr(handle, "get_peer_cert_chain", None)
    chain = get_chain() if get_chain is not None else None
    if not chain:
        return []
    try:
        names = (
            chain[0]
            .to_cryptography()
            .extensions.get_extension_for_class(x509.SubjectAlternativeName)
            .value
        )
    except x509.ExtensionNotFound:
        return []
    return [str(name) for name in names.get_values_for_type(x509.DNSName)] + [
        str(address) for address in names.get_values_for_type(x509.IPAddress)
    ]


def _openssl_reasons(error: BaseException) -> str:
    entries = error.args[0] if error.args and isinstance(error.args[0], list) else []
    reasons = [entry[-1] for entry in entries if isinstance(entry, tuple) and entry]
    return "; ".join(str(reason) for reason in reasons) or str(error) or "handshake failed"


def _certificate_problem(handle: object) -> str | None:
    # The chain the peer sent (leaf first): get_peer_certificate() is None once verification failed.
    get_chain = getattr(handle, "get_peer_cert_chain", None)
    chain = get_chain() if get_chain is not None else None
    if not chain:
        return None
    cert = chain[0].to_cryptography()
    # The wall clock, as OpenSSL's own check used: this only says which check failed.
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc < now:
        return f"expired (not valid after {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
    if cert.not_valid_before_utc > now:
        return f"not valid yet (not before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC)"
    return None
