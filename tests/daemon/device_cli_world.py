"""`smscore device …` (daemon.device.cli) run by click's runner against the World: the device's
radio (daemon.device.client.SimulatorLink) is replaced by one that hands each MO to the TranProc
and gives back the reply, so the CLI's whole path (file, channel, receipts, exit codes) runs
without a simulator. Receipt keys are activated in a directory of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner, Result

from daemon.config import build_config
from daemon.device import cli as device_cli
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.security.signing import activate, deactivate
from daemon.tranproc import TranProcEnv
from tests.daemon.app_world import send_frame_text
from tests.daemon.money_world import HASHER, SHORT_CODE, World

ALICE, BOB = "254712000001", "254712000002"
KES = 100


@dataclass
class WorldLink:
    world: World
    sent: list[str]

    def exchange(self, msisdn: str, text: str, is_reply=None) -> str:
        self.sent.append(text)  # the TranProc's own reply: nothing else arrives meanwhile
        return send_frame_text(self.world, msisdn, text)[1]


@dataclass
class DeviceRunner:
    world: World
    path: Path
    keys: Path  # the receipt key directory the world signs with
    sent: list[str]

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(device_cli.device, [*args, "--file", str(self.path)])

    def enrol(self, phone: str = ALICE) -> None:
        assert self("init", "--phone", phone).exit_code == 0
        enrolled = self("enrol", "--pin", "1234")
        assert enrolled.exit_code == 0 and "enrolled as device" in enrolled.output, enrolled.output


def world_with_keys(engine, tmp_path: Path, receipts: bool = True) -> tuple[World, Path]:
    keys = tmp_path / "receipt-keys"
    world = World(engine)
    world.config = build_config(
        {"sender": {"source_addr": SHORT_CODE}, "money": {"post_on_delivery": []},
         "app": {"key_file": str(tmp_path / "app_key")}, "receipts": {"key_dir": str(keys)}}
    )  # fmt: skip
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    if receipts:
        activate(world.config, world.now_ns)
    world.add(ALICE, balance_minor=1_000 * KES)
    world.add(BOB)
    return world, keys


def device_world_fixture(
    engine, tmp_path: Path, monkeypatch
) -> Iterator[tuple[World, DeviceRunner]]:
    """For a fixture: (World, DeviceRunner), the receipt keys activated, Alice (KES 1,000) and
    Bob; afterwards the ledger check and trust reconciliation."""
    world, keys = world_with_keys(engine, tmp_path)
    sent: list[str] = []
    monkeypatch.setattr(device_cli, "SimulatorLink", lambda *_: WorldLink(world, sent))
    # offline-send signs at the device's clock: the world's
    monkeypatch.setattr(device_cli, "time", SimpleNamespace(time_ns=lambda: world.now_ns))
    yield world, DeviceRunner(world, tmp_path / "alice.json", keys, sent)
    deactivate(world.config)
    world.receipts()
    world.check()
