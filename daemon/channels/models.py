"""The bodies of the channel operations (daemon.channels.routes), as the OpenAPI document shows
them. Amounts here are integer minor units: the app keeps its copy of the ledger in them."""

from __future__ import annotations

from pydantic import Field

from daemon.api.models import Model

DEVICE_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_PAGE = 1000


class TokenRequest(Model):
    """A device asks for a token: `signature` is base64 Ed25519 (the device's enrolled signing key)
    over b"smscore channel token v1|" + deviceId + b"|" + timestamp (decimal ASCII)."""

    deviceId: str = Field(pattern=DEVICE_ID_PATTERN)
    timestamp: int = Field(gt=0, lt=1 << 53, description="milliseconds since the epoch")
    signature: str = Field(min_length=1, max_length=200)


class WrappedKey(Model):
    keyEpoch: int
    wrappedKey: str  # base64: nonce || ChaCha20-Poly1305 of the epoch's event key


class TokenAnswer(Model):
    token: str
    expiresAt: str
    channel: str  # the channel reference (the token's chn claim)
    keyEpoch: int  # the epoch new events are sealed under
    wrappedKey: str  # base64: the current epoch's event key, wrapped for this device
    earlierKeys: list[WrappedKey] = Field(
        default_factory=list, description="the keys of earlier epochs, for older events"
    )


class EventsQuery(Model):
    after: int = Field(default=0, ge=0, description="the last seq the device has")
    limit: int | None = Field(default=None, ge=1, le=MAX_PAGE)
    wait_s: float | None = Field(
        default=None, ge=0, le=3600, description="long poll: wait this long for an event"
    )


class ChannelEvent(Model):
    seq: int
    keyEpoch: int
    ciphertext: str  # base64: nonce || ChaCha20-Poly1305 (daemon.channels.crypto)
    createdAt: str


class EventsPage(Model):
    events: list[ChannelEvent]
    next: int = Field(description="pass as ?after= for the next page")
    head: int = Field(description="the channel's last seq")


class ChannelBalance(Model):
    balanceMinor: int
    availableMinor: int
    currency: str
    headSeq: int = Field(description="the last event the balance includes")


class StatementQuery(Model):
    limit: int = Field(default=20, ge=1, le=100)


class StatementEntry(Model):
    ref: str
    kind: str
    state: str
    direction: str  # debit | credit
    amountMinor: int
    feeMinor: int
    counterparty: str | None = None
    createdAt: str
    decidedAt: str | None = None


class ChannelStatement(Model):
    currency: str
    entries: list[StatementEntry]
