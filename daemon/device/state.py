"""The device's keys and counters, kept in a JSON file (mode 0600, like any secret of ours).

Keys: an X25519 key for the channel and an Ed25519 key for offline transfers, both made by
`DeviceState.new()`; the server's public key and the device id come from the enrolment reply.
The file also keeps the queue of offline transfers signed but not yet settled (no secret in it:
each is a signed public statement), the receipt public keys it was given, by serial, the serials
it was told are revoked, the signed receipts it received (daemon.device.receipts), and its copy of
the subscriber's event channel (daemon.device.channel_copy: the channel token, so the file stays a
secret). A file written before revocations were reported has neither list: both start empty; one
written before the channels has no channel copy: it starts empty.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from daemon.device.channel_copy import ChannelCopy
from daemon.secret_files import replace_secret_file
from daemon.security import channel
from daemon.security.channel import CounterState, Direction, Kind, Malformed, SessionKeys

_ENROLLED = re.compile(r"#E1:([0-9a-f]{16}):([A-Za-z0-9+/=]{44})")
REPLY_WINDOW = 62  # replies may arrive out of order too


class DeviceFileError(Exception):
    """The device file is missing, unreadable, malformed or readable by others (one line)."""


class NotEnrolled(Exception):
    """The device has no enrolment yet (`smscore device enrol` first)."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass
class DeviceState:
    channel_key: X25519PrivateKey
    signing_key: Ed25519PrivateKey
    msisdn: str = ""
    device_id: str | None = None
    server_public: bytes | None = None
    counter_out: int = 0
    replies: CounterState = field(default_factory=CounterState)
    offline_counter: int = 0
    # Signed offline transfers (daemon.device.offline): counter, base64 body, the server's outcome.
    offline_queue: list[dict[str, object]] = field(default_factory=list)
    receipt_keys: dict[str, bytes] = field(default_factory=dict)  # serial -> Ed25519 public key
    revoked_keys: set[str] = field(default_factory=set)  # serials the server reported revoked
    # The signed receipts of confirmations received (daemon.device.receipts.kept), newest last.
    receipts: list[dict[str, object]] = field(default_factory=list)
    # The event channel: token, wrapped keys, position, balance (daemon.device.channel_copy).
    channel: ChannelCopy = field(default_factory=ChannelCopy)

    def __repr__(self) -> str:  # never the private keys
        return f"DeviceState(msisdn={self.msisdn!r}, device_id={self.device_id!r})"

    @classmethod
    def new(cls, msisdn: str = "") -> DeviceState:
        return cls(X25519PrivateKey.generate(), Ed25519PrivateKey.generate(), msisdn)

    # --- enrolment

    def public_keys_b64(self) -> str:
        raw = self.channel_key.public_key().public_bytes_raw()
        return _b64(raw + self.signing_key.public_key().public_bytes_raw())

    def enrol_text(self, pin: str, code: str | None = None) -> str:
        return " ".join(["ENROL", self.public_keys_b64(), pin, *([code] if code else [])])

    def accept_enrolment(self, reply: str) -> bool:
        """Read the device id and the server's key from an enrolment reply; False if it has none."""
        found = _ENROLLED.search(reply)
        if found is None:
            return False
        self.device_id, self.server_public = found[1], base64.b64decode(found[2])
        self.counter_out, self.replies = 0, CounterState()
        return True

    # --- messages

    def keys(self) -> SessionKeys:
        if self.device_id is None or self.server_public is None:
            raise NotEnrolled("not enrolled: run `smscore device enrol` first")
        return SessionKeys.agree(
            self.channel_key, self.server_public, channel.device_id_bytes(self.device_id)
        )

    def seal(self, kind: Kind, body: bytes) -> bytes:
        """A frame to the server with the next counter (save the state after sending it)."""
        keys = self.keys()
        self.counter_out += 1
        return keys.seal(Direction.UP, self.counter_out, kind, body)

    def command_text(self, command: str) -> str:
        """The command as a text-framed app message (for a text-only path: the simulator's API)."""
        return channel.to_text(self.seal(Kind.TEXT, command.encode("utf-8")))

    def command_parts(self, command: str) -> list[bytes]:
        """The command as 8-bit SMS (UDH with the app port): short_message octets of each part."""
        frame = self.seal(Kind.TEXT, command.encode("utf-8"))
        return channel.binary_parts(frame, reference=secrets.randbelow(256))

    def open_reply(self, text: str) -> channel.Opened:
        """A reply from the server, checked (tag, counter once); ChannelError if it is not one."""
        opened = self.keys().open(Direction.DOWN, channel.from_text(text))
        self.replies = self.replies.accept(opened.header.counter, REPLY_WINDOW, 1 << 32)
        return opened

    # --- the file

    def to_json(self) -> dict[str, object]:
        return {
            "msisdn": self.msisdn,
            "channel_key": _b64(self.channel_key.private_bytes_raw()),
            "signing_key": _b64(self.signing_key.private_bytes_raw()),
            "device_id": self.device_id,
            "server_public": _b64(self.server_public) if self.server_public else None,
            "counter_out": self.counter_out,
            "replies": [self.replies.highest, self.replies.seen],
            "offline_counter": self.offline_counter,
            "offline_queue": self.offline_queue,
            "receipt_keys": {serial: _b64(key) for serial, key in self.receipt_keys.items()},
            "revoked_keys": sorted(self.revoked_keys),
            "receipts": self.receipts,
            "channel": self.channel.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DeviceState:
        server = data.get("server_public")
        highest, seen = data.get("replies") or (0, 0)  # type: ignore[misc]
        return cls(
            X25519PrivateKey.from_private_bytes(base64.b64decode(str(data["channel_key"]))),
            Ed25519PrivateKey.from_private_bytes(base64.b64decode(str(data["signing_key"]))),
            str(data.get("msisdn") or ""),
            data.get("device_id"),  # type: ignore[arg-type]
            base64.b64decode(str(server)) if server else None,
            int(data.get("counter_out") or 0),  # type: ignore[call-overload]
            CounterState(int(highest), int(seen)),
            int(data.get("offline_counter") or 0),  # type: ignore[call-overload]
            list(data.get("offline_queue") or []),  # type: ignore[call-overload]
            {
                str(serial): base64.b64decode(str(key))
                for serial, key in dict(data.get("receipt_keys") or {}).items()  # type: ignore[call-overload]
            },
            {str(serial) for serial in list(data.get("revoked_keys") or [])},  # type: ignore[call-overload]
            list(data.get("receipts") or []),  # type: ignore[call-overload]
            ChannelCopy.from_json(dict(data.get("channel") or {})),  # type: ignore[call-overload]
        )


def save(state: DeviceState, path: Path) -> None:
    """Write atomically, owner-only: a crash leaves the old file or the new one."""
    replace_secret_file(path, json.dumps(state.to_json(), indent=2))


def load(path: Path) -> DeviceState:
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeviceFileError(f"{path}: no device file (run `smscore device init`)") from None
    except (OSError, ValueError) as exc:
        raise DeviceFileError(f"{path}: cannot read the device file: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DeviceFileError(f"{path}: the device file must be readable by its owner only")
    try:
        return DeviceState.from_json(data)
    except (KeyError, TypeError, ValueError, Malformed) as exc:
        raise DeviceFileError(f"{path}: the device file is malformed: {exc}") from None
