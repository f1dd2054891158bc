"""The device's local copy of its subscriber's channel (kept in the device file, daemon.device.state):
the channel token, the wrapped event key of each key epoch it was given, its own position (the
last seq applied) and what the events say: the wallet's balance after the latest posting and the
latest events.

Events are applied in order, exactly once: one at or below the position was applied already and is
skipped; one above position + 1 means a gap (`EventGap`: the device pulls again from its position);
one that does not open under its key, reference and seq (the AAD binds them) is refused
(`EventRefused`) and nothing after it is applied. The wrapped keys are kept as given: each opens
only with this device's X25519 key (daemon.channels.crypto.unwrap_event_key).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from daemon.channels.crypto import EventCryptoError, open_event, parse_plaintext

RECENT_EVENTS = 50  # events kept for showing, newest last


class EventGap(Exception):
    """A page skipped numbers: the device pulls again from its position."""


class EventRefused(Exception):
    """An event that does not open (changed, moved, renumbered, or under a key not this
    device's): refused, and nothing after it applied."""


@dataclass
class ChannelCopy:
    token: str | None = None  # a bearer secret: kept 0600 with the device's keys, never shown
    token_expires_at: str | None = None  # as the server wrote it (ISO-8601 UTC)
    reference: str | None = None
    key_epoch: int | None = None  # the newest epoch given
    wrapped_keys: dict[int, str] = field(default_factory=dict)  # epoch -> base64 wrapped key
    applied_seq: int = 0  # the position: every event up to it applied, once
    balance_minor: int | None = None  # the wallet's posted balance after the latest posting
    available_minor: int | None = None
    currency: str | None = None
    recent: list[dict[str, Any]] = field(default_factory=list)
    skipped_old_epoch: int = 0  # events sealed before this device was given any key

    def __repr__(self) -> str:  # never the token
        return f"ChannelCopy({self.reference} at {self.applied_seq})"

    def learn_token(self, answer: dict[str, Any]) -> None:
        """Keep what POST /channels/token (or /channels/me/token) answered."""
        self.token = str(answer["token"])
        self.token_expires_at = str(answer.get("expiresAt") or "") or None
        self.reference = str(answer["channel"])
        self.key_epoch = int(answer["keyEpoch"])
        for earlier in answer.get("earlierKeys") or []:  # for events sealed before a revocation
            self.wrapped_keys[int(earlier["keyEpoch"])] = str(earlier["wrappedKey"])
        self.wrapped_keys[self.key_epoch] = str(answer["wrappedKey"])

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "token_expires_at": self.token_expires_at,
            "reference": self.reference,
            "key_epoch": self.key_epoch,
            "wrapped_keys": {str(epoch): key for epoch, key in self.wrapped_keys.items()},
            "applied_seq": self.applied_seq,
            "balance_minor": self.balance_minor,
            "available_minor": self.available_minor,
            "currency": self.currency,
            "recent": self.recent,
            "skipped_old_epoch": self.skipped_old_epoch,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChannelCopy:
        return cls(
            data.get("token"),
            data.get("token_expires_at"),
            data.get("reference"),
            data.get("key_epoch"),
            {int(epoch): str(key) for epoch, key in dict(data.get("wrapped_keys") or {}).items()},
            int(data.get("applied_seq") or 0),
            data.get("balance_minor"),
            data.get("available_minor"),
            data.get("currency"),
            list(data.get("recent") or []),
            int(data.get("skipped_old_epoch") or 0),
        )


EventKey = Callable[[int], bytes | None]  # epoch -> the unwrapped event key (None: not given)


@dataclass
class Applied:
    applied: list[int] = field(default_factory=list)  # seqs applied now, in order
    repeated: int = 0  # at or below the position: applied before, skipped


def apply_page(copy: ChannelCopy, events: list[dict[str, Any]], key_for: EventKey) -> Applied:
    """Apply a page of events (event_json objects) after the position. EventGap, EventRefused;
    what was applied before the error stays applied (the caller saves the copy)."""
    done = Applied()
    for event in events:
        seq = int(event["seq"])
        if seq <= copy.applied_seq:
            done.repeated += 1
            continue
        if seq != copy.applied_seq + 1:
            raise EventGap(f"expected event {copy.applied_seq + 1}, got {seq}")
        epoch = int(event["keyEpoch"])
        key = key_for(epoch)
        if key is None and copy.wrapped_keys and epoch < min(copy.wrapped_keys):
            copy.skipped_old_epoch += 1  # sealed before this device had any key: not for it
        else:
            _apply(copy, _open(copy, event, seq, key))
        copy.applied_seq = seq
        done.applied.append(seq)
    return done


def _open(copy: ChannelCopy, event: dict[str, Any], seq: int, key: bytes | None) -> dict:
    if key is None:
        raise EventRefused(f"event {seq}: no key for epoch {event['keyEpoch']}")
    try:
        ciphertext = base64.b64decode(str(event["ciphertext"]), validate=True)
        plain = parse_plaintext(open_event(key, str(copy.reference), seq, ciphertext))
    except (EventCryptoError, binascii.Error, ValueError) as exc:
        raise EventRefused(f"event {seq} does not verify: {exc}") from None
    if plain.get("seq") != seq:
        raise EventRefused(f"event {seq} says it is event {plain.get('seq')}")
    return plain


def _apply(copy: ChannelCopy, event: dict[str, Any]) -> None:
    if event.get("type") == "posting":
        copy.balance_minor = int(event["balanceMinor"])
        copy.available_minor = int(event["availableMinor"])
        copy.currency = str(event.get("currency") or copy.currency or "")
    copy.recent = [*copy.recent, event][-RECENT_EVENTS:]


def describe(event: dict[str, Any]) -> str:
    """One line for an applied event (no secret is in an event: refs, amounts, parties)."""
    if event.get("type") == "posting":
        sign = "-" if event.get("direction") == "debit" else "+"
        other = event.get("counterparty") or "-"
        return (
            f"#{event['seq']} {event.get('state')} {event.get('kind')} {event.get('ref')} "
            f"{sign}{event.get('amountMinor')} fee {event.get('feeMinor')} ({other})"
        )
    return f"#{event['seq']} notice ({event.get('topic')}): {event.get('text')}"
