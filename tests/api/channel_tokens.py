"""Who reads a channel in the live tests. TEMPORARY until channels-core's tokens are on main: a
stand-in "channel" authenticator reading `Bearer test:<channel id>:<device id>`."""

from __future__ import annotations

import pytest

from daemon.api.errors import ApiError, ErrorCategory
from daemon.api.routing import ROUTER
from daemon.channels.principal import ChannelPrincipal


def _stand_in(call):
    value = call.header("Authorization") or ""
    kind, _, rest = value.partition(" ")
    parts = rest.split(":")
    if kind != "Bearer" or len(parts) != 3 or parts[0] != "test":
        raise ApiError(ErrorCategory.AUTHORISATION, "clientAuthorisationError", "no token")
    return ChannelPrincipal(int(parts[1]), f"R{parts[1]}", "", parts[2], 1, 2**62)


@pytest.fixture
def channel_auth(monkeypatch):
    monkeypatch.setitem(ROUTER.authenticators, "channel", _stand_in)


def bearer(world, channel_id: int, device_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer test:{channel_id}:{device_id}"}
