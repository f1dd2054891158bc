"""Who is reading a channel: the device a valid channel token was issued to (daemon.channels puts
one in `call.principal` for every operation declared with auth="channel")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelPrincipal:
    channel_id: int  # channels.id: the only channel this token reads
    reference: str  # channels.reference: the subscriber reference in the token's claims
    msisdn: str
    device_id: str  # 16 hex digits, as in devices.device_id
    key_epoch: int
    expires_at_ns: int
    granted_at_ns: int = 0  # the device-signed token request the token descends from

    def __repr__(self) -> str:  # no number in logs
        return f"ChannelPrincipal({self.reference} device={self.device_id})"
