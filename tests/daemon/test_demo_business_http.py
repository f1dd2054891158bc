"""The demo's business side of HTTP: its callback receiver keeps each PUT as it came, and a callback is
genuine only with the business's secret over the exact body it received."""

import hashlib
import hmac
from io import BytesIO

from twisted.web.test.requesthelper import DummyRequest

from daemon.demo.business_http import Callback, CallbackReceiver

SECRET = "ab" * 32  # as `smscore admin business secret` prints one: 64 hex digits
BODY = b'{"transactionReference":"YSXB83NMPJ","transactionStatus":"completed"}'


DATE = "Tue, 01 Dec 2026 12:00:00 GMT"


def _signed(body: bytes, secret_hex: str = SECRET, date: str = DATE) -> str:
    signed = date.encode() + b"\n" + body
    return "sha256=" + hmac.new(bytes.fromhex(secret_hex), signed, hashlib.sha256).hexdigest()


def test_a_callback_is_genuine_only_with_the_secret_over_the_exact_body() -> None:
    assert Callback(
        "/callbacks/acme", {"x-signature": _signed(BODY), "x-date": DATE}, BODY
    ).genuine(SECRET)
    other_secret = "cd" * 32
    assert not Callback(
        "/c", {"x-signature": _signed(BODY, other_secret), "x-date": DATE}, BODY
    ).genuine(SECRET)
    assert not Callback(
        "/c", {"x-signature": _signed(BODY), "x-date": "Wed, 02 Dec 2026"}, BODY
    ).genuine(SECRET)
    changed = BODY.replace(b"completed", b"failed")
    assert not Callback("/c", {"x-signature": _signed(BODY)}, changed).genuine(SECRET)
    assert not Callback("/c", {}, BODY).genuine(SECRET)  # unsigned
    bare_hex = _signed(BODY).removeprefix("sha256=")
    assert not Callback("/c", {"x-signature": bare_hex}, BODY).genuine(SECRET)


def _put(receiver: CallbackReceiver, correlation_id: str, body: bytes) -> DummyRequest:
    request = DummyRequest([b"callbacks", b"acme"])
    request.method, request.path = b"PUT", b"/callbacks/acme"
    request.requestHeaders.setRawHeaders(b"X-CorrelationID", [correlation_id.encode()])
    request.requestHeaders.setRawHeaders(b"X-Signature", [_signed(body).encode()])
    request.requestHeaders.setRawHeaders(b"X-Date", [DATE.encode()])
    request.content = BytesIO(body)
    written = receiver.render(request)
    assert written == b"{}"
    return request


def test_the_receiver_keeps_each_put_and_finds_it_by_its_correlation_id() -> None:
    receiver = CallbackReceiver()
    _put(receiver, "acme-payroll-1", BODY)
    _put(receiver, "acme-order-77", b"{}")
    _put(receiver, "acme-payroll-1", b'{"again":true}')  # at least once: a repeat is kept too
    assert [c.headers["x-correlationid"] for c in receiver.received] == [
        "acme-payroll-1", "acme-order-77", "acme-payroll-1",
    ]  # fmt: skip
    first = receiver.find("acme-payroll-1")
    assert first is not None and first.body == BODY and first.path == "/callbacks/acme"
    assert first.genuine(SECRET)
    assert receiver.find("acme-unknown") is None
