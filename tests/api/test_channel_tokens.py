"""POST /channels/token and the "channel" authenticator: signed requests, replays, tampered,
expired and foreign tokens, revoked devices and the key epoch."""

from __future__ import annotations

import pytest

from tests.api.channels import ALICE, BOB, KES, ChannelWorld, opened


@pytest.fixture
def world(engine, tmp_path):
    world = ChannelWorld(engine, tmp_path)
    world.add(ALICE, balance_minor=1000 * KES, name="Alice Atieno")
    world.add(BOB, name="Jane Wanjiku")
    yield world
    world.close()


def test_an_enrolled_device_gets_a_token_and_reads_its_channel(world):
    device = world.enrol(ALICE)
    grant = world.token(device)
    assert grant["keyEpoch"] == 1 and grant["channel"].startswith("ch")
    page = world.events(grant["token"])
    [notice] = opened(device, grant, page)
    assert notice["type"] == "notice" and notice["topic"] == "security"
    assert page["next"] == page["head"] == 1
