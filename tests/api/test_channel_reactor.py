"""A channel request does no file-system work on the reactor (review 15, finding 21): the channel
secrets are read once per API environment, not resolved on every request."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.api.channels import ALICE, ChannelWorld


def test_channel_requests_resolve_no_paths(engine: Engine, tmp_path: Path, monkeypatch) -> None:
    world = ChannelWorld(engine, tmp_path)
    try:
        world.add(ALICE)
        device = world.enrol(ALICE)
        token = world.token(device)["token"]
        resolved: list[Path] = []
        real = Path.resolve
        monkeypatch.setattr(
            Path, "resolve", lambda self, *a: resolved.append(self) or real(self, *a)
        )
        assert world.get("/channels/me/balance", token).status == 200
        assert (
            world.http(
                "POST", "/channels/me/token", headers={"Authorization": f"Bearer {token}"}
            ).status
            == 200
        )
        assert world.ask_token(device).status == 200
        assert resolved == []
    finally:
        world.close()
