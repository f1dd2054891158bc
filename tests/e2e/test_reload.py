"""SIGHUP: the daemon reads its config file again; binds added start, binds removed go, binds that
did not change keep their session, a broken file changes nothing, and the tariff file is re-read.
"""

import os
import re
import signal
from pathlib import Path

from daemon.money.tariff import load_tariff
from tests.e2e.harness import (
    PASSWORD,
    SYSTEM_ID,
    DaemonProcess,
    SimulatorProcess,
    Subscriber,
    daemon_settings,
    seed_subscribers,
    to_toml,
    wait_for,
)
from tests.e2e.money import national
from tests.e2e.test_metrics import scrape, value

ALICE = Subscriber("254716000001", "1234", 100_000)
BOB = Subscriber("254716000002", "4321", 100)
DEFAULT_TARIFF = Path(__file__).parents[2] / "daemon" / "money" / "default_tariff.toml"
SIX_SHILLINGS = "{ min = 101, max = 500, fee = 6 }"  # the SEND fee band of KES 101..500
NINE_SHILLINGS = "{ min = 101, max = 500, fee = 9 }"


def _bind(name: str, port: int) -> dict:
    return {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "response_timeout_s": 1.0,
        "reconnect_initial_delay_s": 0.1,
        "reconnect_max_delay_s": 0.5,
    }


def _daemon_pid(daemon: DaemonProcess) -> int:
    """The daemon itself, not its `timeout` wrapper (which would signal it a second time)."""
    assert daemon.process is not None
    wrapper = daemon.process.pid
    children = Path(f"/proc/{wrapper}/task/{wrapper}/children").read_text().split()
    [child] = children
    return int(child)


def _binds(daemon: DaemonProcess) -> dict[str, dict]:
    return {bind["name"]: bind for bind in daemon.status()["binds"]}


def _up(daemon: DaemonProcess, *names: str) -> dict[str, dict] | None:
    binds = _binds(daemon)
    return (
        binds
        if sorted(binds) == sorted(names) and all(b["bound"] for b in binds.values())
        else None
    )


def _log_lines(daemon: DaemonProcess, pattern: str) -> list[str]:
    text = (daemon.workdir / f"{daemon.name}.{daemon.starts}.log").read_text(errors="replace")
    return [line for line in text.splitlines() if re.search(pattern, line)]


def _send_fee(simulator: SimulatorProcess, amount: int) -> str:
    """The fee the reply to a SEND of `amount` shillings (in the KES 101..500 band) names."""
    seen = len(simulator.inbox(ALICE.msisdn))
    simulator.send_mo(ALICE.msisdn, f"SEND {national(BOB.msisdn)} {amount} {ALICE.pin}")

    def replied() -> str | None:
        inbox = simulator.inbox(ALICE.msisdn)
        return inbox[seen]["text"] if len(inbox) > seen else None

    reply = wait_for(replied, 20, "the reply to SEND")
    found = re.search(r"Fee (KES [0-9.,]+)\.", reply)
    assert found, reply
    return found.group(1)


def test_sighup_reloads_binds_and_tariff_and_refuses_a_broken_file(tmp_path: Path) -> None:
    tariff_file = tmp_path / "tariff.toml"
    text = DEFAULT_TARIFF.read_text(encoding="utf-8")
    assert SIX_SHILLINGS in text
    tariff_file.write_text(text, encoding="utf-8")
    simulator = SimulatorProcess(tmp_path)
    settings = daemon_settings(
        tmp_path / "state",
        f"sqlite:///{tmp_path / 'reload.db'}",
        None,
        logging={"level": "info"},
        money={"tariff_file": str(tariff_file)},
    )
    settings["binds"] = [_bind("keep", simulator.port), _bind("gone", simulator.port)]
    daemon = DaemonProcess(tmp_path, settings)
    seed_subscribers(daemon.config, [ALICE, BOB])
    try:
        daemon.start().wait_ready()
        before = wait_for(lambda: _up(daemon, "keep", "gone"), 20, "binds keep and gone up")
        assert _send_fee(simulator, 200) == "KES 6.00"

        settings["binds"] = [_bind("keep", simulator.port), _bind("fresh", simulator.port)]
        settings["sender"]["poll_interval_s"] = 0.3  # not reloadable: logged, the old value stays
        daemon.config_path.write_text(to_toml(settings), encoding="utf-8")
        tariff_file.write_text(text.replace(SIX_SHILLINGS, NINE_SHILLINGS), encoding="utf-8")
        load_tariff(tariff_file)  # the edited file is a good tariff
        pid = _daemon_pid(daemon)
        os.kill(pid, signal.SIGHUP)
        after = wait_for(lambda: _up(daemon, "keep", "fresh"), 20, "binds keep and fresh up")
        # The unchanged bind kept its session: no new connection, no new bind.
        assert (after["keep"]["connects"], after["keep"]["binds"]) == (
            before["keep"]["connects"],
            before["keep"]["binds"],
        )
        wait_for(lambda: simulator.stats()["binds"] == 2, 10, "the simulator to see 2 binds")
        [summary] = wait_for(lambda: _log_lines(daemon, r"reload: binds added"), 10, "summary")
        assert "binds added: fresh; removed: gone; restarted: none; kept: keep" in summary
        assert "tariff reloaded" in summary
        assert _log_lines(daemon, r"reload: sender.poll_interval_s changed: needs a restart")
        assert _send_fee(simulator, 300) == "KES 9.00"  # the SEND after the reload

        daemon.config_path.write_text("[binds\nname = ", encoding="utf-8")
        os.kill(pid, signal.SIGHUP)
        [refused] = wait_for(lambda: _log_lines(daemon, r"reload refused"), 10, "the refusal")
        assert "not valid TOML" in refused and "the running config stays" in refused
        still = _up(daemon, "keep", "fresh")
        assert still is not None and still["keep"]["connects"] == before["keep"]["connects"]
        assert simulator.stats()["binds"] == 2
        reloads = scrape(daemon)  # both reloads counted, by result
        assert (
            value(reloads, "smscore_reloads_total", result="ok"),
            value(reloads, "smscore_reloads_total", result="refused"),
        ) == (1, 1)
    finally:
        code = daemon.stop()
        simulator.stop()
    assert code == 0, daemon.log()
