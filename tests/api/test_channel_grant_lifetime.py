"""A channel token is not refreshed forever (review 15, finding 23): a refresh keeps the time of
the device-signed grant (claim auth_time) and never reaches past [channels] grant_days after it;
then only a new signed request gets a token."""

from __future__ import annotations

from pathlib import Path

import jwt
from sqlalchemy import Engine

from tests.api.channels import ALICE, ChannelWorld

DAY_S = 86_400


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _refresh(world: ChannelWorld, token: str):
    return world.http("POST", "/channels/me/token", headers={"Authorization": f"Bearer {token}"})


def test_refreshes_end_at_the_grants_lifetime(engine: Engine, tmp_path: Path) -> None:
    world = ChannelWorld(engine, tmp_path, channels={"token_days": 30, "grant_days": 45})
    try:
        world.add(ALICE)
        device = world.enrol(ALICE)
        first = world.token(device)["token"]
        granted_s = _claims(first)["auth_time"]
        world.advance(20 * DAY_S)
        second = _refresh(world, first)
        assert second.status == 200
        claims = _claims(second.body["token"])
        assert claims["auth_time"] == granted_s  # the grant's time kept
        assert claims["exp"] == granted_s + 45 * DAY_S  # not 20 + 30 days
        world.advance(24 * DAY_S)
        third = _refresh(world, second.body["token"])
        assert _claims(third.body["token"])["exp"] == granted_s + 45 * DAY_S
        world.advance(1 * DAY_S + 1)
        refused = _refresh(world, third.body["token"])
        assert refused.status == 401
        fresh = world.token(device)["token"]  # a new signed request: a new grant
        assert _claims(fresh)["auth_time"] > granted_s
    finally:
        world.close()
