"""The menu download over the app channel (MENU, daemon.ussd.download): the reference device
(daemon.device.menu) gets the current menu, checks its Ed25519 signature with the receipt key
and shows its services; a tampered or unsigned menu is refused; plain SMS are told it is app-only."""

import base64
import zlib
from dataclasses import dataclass

import pytest

from daemon.config import build_config
from daemon.device.menu import download_menu
from daemon.device.state import save
from daemon.money.commands import service_registry
from daemon.money.settle import SettleEnv
from daemon.security import channel
from daemon.security.channel import Direction, Kind
from daemon.security.signing import activate, current_keyring, deactivate
from daemon.tranproc import TranProcEnv
from daemon.ussd.download import MenuTokenError, menu_token, read_menu_token
from daemon.ussd.menu_file import SHIPPED_MENU
from daemon.ussd.menu_store import store_menu_txn
from daemon.ussd.menu_tree import services
from tests.daemon.app_world import enrol, send_frame_text
from tests.daemon.money_world import HASHER, SHORT_CODE, World
from tests.daemon.ussd_menus import BASE, load, write_menu

ALICE = "254712000001"


@pytest.fixture
def world(engine, tmp_path):
    world = World(engine)
    world.config = build_config(
        {"sender": {"source_addr": SHORT_CODE}, "app": {"key_file": str(tmp_path / "app_key")},
         "receipts": {"key_dir": str(tmp_path / "receipt-keys")}}
    )  # fmt: skip
    world.env = TranProcEnv.build(service_registry(), world.config, HASHER)
    world.settle_env = SettleEnv(world.config, HASHER)
    activate(world.config, world.now_ns)
    world.add(ALICE)
    yield world
    deactivate(world.config)


@dataclass
class WorldLink:
    """The device's radio, through the World's TranProc; `tamper` changes a reply's text."""

    world: World
    tamper: object = None

    def exchange(self, msisdn: str, text: str) -> str:
        reply = send_frame_text(self.world, msisdn, text)[1]
        return self.tamper(reply) if self.tamper else reply


def device_for(world, tmp_path):
    device = enrol(world, ALICE)
    path = tmp_path / "device.json"
    save(device, path)
    return device, path


def test_the_device_downloads_verifies_and_lists_the_services(world, tmp_path):
    device, path = device_for(world, tmp_path)
    menu, serial = download_menu(device, WorldLink(world), path)
    assert serial == "K1" and set(device.receipt_keys) == {"K1"}  # asked for with RKEY
    assert menu.version == "2026.12.1"  # nothing stored yet: the configured (shipped) file
    assert services(menu)[:2] == ["Send money", "Withdraw cash"]
    assert services(menu, "sw")[0] == "Tuma pesa"
    assert download_menu(device, WorldLink(world), path, have="2026.12.1") == (
        "Your smscore menu 2026.12.1 is up to date."
    )


def test_the_current_stored_version_is_the_one_sent(world, tmp_path):
    with world.engine.begin() as conn:
        store_menu_txn(conn, load(SHIPPED_MENU), 1)
        store_menu_txn(conn, load(write_menu(tmp_path, BASE)), 2)
    device, path = device_for(world, tmp_path)
    menu, _ = download_menu(device, WorldLink(world), path, have="2026.12.1")
    assert menu.version == "t1" and services(menu) == ["Send", "Help"]


def reseal(device, change):
    """A reply opened with the device's keys, its text changed, sealed again as the server would:
    what someone holding the channel keys (or the device's file) could send."""

    def tamper(reply: str) -> str:
        keys = device.keys()
        opened = keys.open(Direction.DOWN, channel.from_text(reply))
        if b"#M1:" not in opened.body:
            return reply
        body = change(opened.body.decode()).encode()
        return channel.to_text(keys.seal(Direction.DOWN, opened.header.counter, Kind.TEXT, body))

    return tamper


def other_payload(text: str) -> str:
    head, payload = text.rsplit(":", 1)
    document = zlib.decompress(base64.b64decode(payload)).replace(b"Send money", b"Send MONEY")
    return f"{head}:{base64.b64encode(zlib.compress(document)).decode()}"


def other_version(text: str) -> str:
    return text.replace("#M1:2026.12.1:", "#M1:2026.12.2:")


@pytest.mark.parametrize("change", [other_payload, other_version], ids=["document", "version"])
def test_a_tampered_menu_is_refused(world, tmp_path, change):
    device, path = device_for(world, tmp_path)
    with pytest.raises(MenuTokenError, match="signature is INVALID"):
        download_menu(device, WorldLink(world, reseal(device, change)), path)


def test_a_menu_signed_by_an_unknown_key_is_refused(world, tmp_path):
    key = current_keyring(world.config).active
    token = menu_token(load(SHIPPED_MENU), key)
    with pytest.raises(MenuTokenError, match="unknown key K1"):
        read_menu_token(token, lambda serial: None)
    wrong = bytes(32)  # another key's public half
    with pytest.raises(MenuTokenError, match="INVALID"):
        read_menu_token(token, lambda serial: wrong)
    menu, serial = read_menu_token(token, lambda serial: key.public_key())
    assert (menu.version, serial) == ("2026.12.1", "K1")


def test_a_bomb_is_refused_not_inflated(world):
    key = current_keyring(world.config).active
    token = menu_token(load(SHIPPED_MENU), key)
    head = token.rsplit(":", 1)[0]
    bomb = base64.b64encode(zlib.compress(b" " * (2 << 20))).decode()
    with pytest.raises(MenuTokenError, match="too large"):
        read_menu_token(f"{head}:{bomb}", lambda serial: key.public_key())


def test_plain_sms_are_told_menu_is_for_the_app(world):
    assert world.sms(ALICE, "MENU") == "MENU works only from the smscore app."


def test_smscore_device_menu_prints_the_services_or_refuses_a_tampered_menu(
    world, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from daemon.cli import main
    from daemon.device.state import load as load_device

    _, path = device_for(world, tmp_path)
    links = [WorldLink(world)]
    monkeypatch.setattr("daemon.device.menu.SimulatorLink", lambda api, to: links[0])
    result = CliRunner().invoke(main, ["device", "menu", "--file", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "menu 2026.12.1 (*334#): signature OK (K1)"
    assert lines[1:3] == ["1. Send money", "2. Withdraw cash"]
    links[0] = WorldLink(world, reseal(load_device(path), other_payload))
    refused = CliRunner().invoke(main, ["device", "menu", "--file", str(path)])
    assert refused.exit_code == 2
    assert refused.output == "Error: menu refused: the menu's signature is INVALID\n"
