"""Channel test helpers: an ApiWorld whose app key and channel keys are files in the test's own
directory, channels activated (the move observer on) for the test and off after; devices enrolled
by SMS as tests/daemon/app_world.py does; tokens asked for with signed requests; events opened
with the wrapped key the token answer carried (the device side of daemon.channels.crypto)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from daemon.channels.crypto import open_event, parse_plaintext, unwrap_event_key
from daemon.channels.events import activate_channels, use_event_master
from daemon.channels.grant import sign_token_request
from daemon.channels.observer import unregister_observer
from daemon.device.state import DeviceState
from tests.api.world import Answer, ApiWorld

ALICE, BOB, CAROL = "254712000001", "254712000002", "254712000003"
KES = 100


class ChannelWorld(ApiWorld):
    def __init__(self, engine, tmp_path: Path, **sections: dict) -> None:
        channels = {
            "token_key_file": str(tmp_path / "channel_token_key"),
            "event_key_file": str(tmp_path / "channel_event_key"),
            **sections.pop("channels", {}),
        }
        app = {"key_file": str(tmp_path / "app_key"), **sections.pop("app", {})}
        super().__init__(engine, app=app, channels=channels, **sections)
        activate_channels(self.config)
        self._sent_ms = 0

    def close(self) -> None:
        use_event_master(None)
        unregister_observer()

    # --- devices and tokens

    def enrol(self, msisdn: str) -> DeviceState:
        """The number's first device (PIN), or a further one (PIN and the code sent by SMS)."""
        device = DeviceState.new(msisdn)
        reply = self.sms(msisdn, device.enrol_text("1234"))
        if device.accept_enrolment(reply):
            return device
        code = re.search(r"code (\d+)", reply)
        assert code, reply
        assert device.accept_enrolment(self.sms(msisdn, device.enrol_text("1234", code[1])))
        return device

    def token_body(self, device: DeviceState, timestamp_ms: int | None = None) -> dict:
        if timestamp_ms is None:  # strictly above the last one, as a device's clock moves on
            timestamp_ms = max(self.now_ns // 1_000_000, self._sent_ms + 1)
        self._sent_ms = max(self._sent_ms, timestamp_ms)
        assert device.device_id is not None
        return sign_token_request(device.signing_key, device.device_id, timestamp_ms)

    def ask_token(self, device: DeviceState, body: dict | None = None) -> Answer:
        return self.http("POST", "/channels/token", body or self.token_body(device))

    def token(self, device: DeviceState) -> dict:
        answer = self.ask_token(device)
        assert answer.status == 200, answer.body
        return answer.body

    def get(self, path: str, token: str) -> Answer:
        return self.http("GET", path, headers={"Authorization": f"Bearer {token}"})

    def events(self, token: str, after: int = 0, limit: int | None = None) -> dict:
        path = f"/channels/me/events?after={after}" + (f"&limit={limit}" if limit else "")
        answer = self.get(path, token)
        assert answer.status == 200, answer.body
        return answer.body


def event_keys(device: DeviceState, grant: dict) -> dict[int, bytes]:
    """Every epoch's event key the token answer carried, unwrapped with the device's own key."""
    assert device.device_id is not None and device.server_public is not None
    wrapped = [(grant["keyEpoch"], grant["wrappedKey"])]
    wrapped += [(k["keyEpoch"], k["wrappedKey"]) for k in grant.get("earlierKeys", [])]
    return {
        epoch: unwrap_event_key(
            device.channel_key, device.server_public, device.device_id, grant["channel"], epoch,
            base64.b64decode(text),
        )
        for epoch, text in wrapped
    }  # fmt: skip


def opened(device: DeviceState, grant: dict, page: dict) -> list[dict]:
    """The plaintexts of a page's events, in order."""
    keys = event_keys(device, grant)
    return [
        parse_plaintext(
            open_event(
                keys[event["keyEpoch"]], grant["channel"], event["seq"],
                base64.b64decode(event["ciphertext"]),
            )
        )
        for event in page["events"]
    ]  # fmt: skip
