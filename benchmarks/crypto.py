"""Crypto throughput on one core: what the TranProc spends per app message and offline transfer.

- `frame_open_per_s`: a SEND-sized app frame (`SEND <phone> <amount> <PIN>`, text-framed as the
  simulator's API carries it) base64-decoded, its ChaCha20-Poly1305 tag checked and decrypted and its
  counter accepted (daemon.security.channel: what open_app_txn does besides the database).
- `offline_verify_per_s`: a signed offline transfer decoded (canonical form) and its Ed25519
  signature verified with the device's public key (daemon.security.offline), key loaded each time as
  the server loads it from devices.signing_public_key.
- `offline_sign_per_s`: the device's side, for scale.
- `device_keys_per_s`: the server finding a known device's session keys as open_app_txn does for
  every app message (daemon.security.app_inbox.device_keys: the X25519 agreement and HKDF, or a
  cache hit once they are cached), the server key read from a file in a temporary state dir.
Signed receipts (daemon.security.receipts) are not measured: not on main when this was written.

Prints one JSON object. Run: smscore bench crypto [--seconds 2] (or python benchmarks/crypto.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from daemon.config import build_config
from daemon.security import app_inbox, channel
from daemon.security.channel import CounterState, Direction, Kind, SessionKeys
from daemon.security.devices import Device
from daemon.security.offline import OfflineTransfer, decode, sign

DEVICE_ID = bytes.fromhex("00112233aabbccdd")
SEND_TEXT = b"SEND 254712000002 1500 1234"
TRANSFER = OfflineTransfer("00112233aabbccdd", 1, 1_764_590_400 * 10**9, 86_400, 150_000, "KES",
                           "254712000002")  # fmt: skip


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of `work`, timed in batches until `seconds` have passed."""
    calls, batch = 0, 256
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            work()
        calls += batch
    return calls / elapsed


def _channel_keys() -> tuple[SessionKeys, SessionKeys]:
    device, server = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    device_side = SessionKeys.agree(device, server.public_key().public_bytes_raw(), DEVICE_ID)
    server_side = SessionKeys.agree(server, device.public_key().public_bytes_raw(), DEVICE_ID)
    return device_side, server_side


def measure(seconds: float) -> dict[str, object]:
    device_side, server_side = _channel_keys()
    text = channel.to_text(device_side.seal(Direction.UP, 5, Kind.TEXT, SEND_TEXT))
    counters = CounterState(4, 1)

    def frame_open() -> None:
        opened = server_side.open(Direction.UP, channel.from_text(text))
        counters.accept(opened.header.counter, 32, 10_000)

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    body = sign(TRANSFER, key).encode()

    def offline_verify() -> None:
        decode(body).verify(public)

    return {
        **_device_keys(seconds),
        "frame_octets": len(channel.from_text(text)),
        "offline_body_octets": len(body),
        "frame_open_per_s": round(rate(frame_open, seconds)),
        "offline_verify_per_s": round(rate(offline_verify, seconds)),
        "offline_sign_per_s": round(rate(lambda: sign(TRANSFER, key), seconds)),
    }


def _device_keys(seconds: float) -> dict[str, object]:
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    device = Device(
        DEVICE_ID.hex(), "254712000001", "", public, None, "active", 0, 0, 0, 0, 0, None
    )
    with tempfile.TemporaryDirectory() as state_dir:
        config = build_config({"service": {"state_dir": state_dir}})
        per_s = rate(lambda: app_inbox.device_keys(config, device), seconds)
    return {"device_keys_per_s": round(per_s)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smscore bench crypto", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per figure (default 2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result: dict[str, object] = {
        "benchmark": "crypto",
        "cores": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
        **measure(args.seconds),
    }
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
