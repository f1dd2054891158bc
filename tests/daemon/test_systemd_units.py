"""The units in systemd/: `systemd-analyze verify` finds nothing to say, `systemd-analyze security
--offline=true` scores each 2.0 or lower, and they say what the daemon expects (Type=notify, the exit
code that must not restart, the same sandboxing in all three).

`verify` needs each ExecStart= binary to exist: the units are copied into tmp_path with
/opt/smscore/.venv/bin/smscore replaced by an executable stub there."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from daemon import exit_codes

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
UNIT_NAMES = ("smscore.service", "smscore-lis.service", "smscore-tranproc@.service")
INSTALLED_BINARY = "/opt/smscore/.venv/bin/smscore"
MAX_EXPOSURE = 2.0
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+) ")


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: ./bootstrap test installs Debian's systemd package"
    return found


def settings(text: str) -> dict[str, list[str]]:
    """Key -> values of a unit file (a key may repeat, as SystemCallFilter= does)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def unit_text(name: str) -> str:
    return (UNITS / name).read_text(encoding="utf-8")


def copied_units(tmp_path: Path, binary: str | None = None) -> dict[str, Path]:
    """Every unit in tmp_path/units, its ExecStart= binary a stub (or `binary`); the template also
    as an instance (smscore-tranproc@1.service), which is what systemd runs."""
    stub = tmp_path / "bin" / "smscore"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stub.chmod(0o755)
    directory = tmp_path / "units"
    directory.mkdir(exist_ok=True)
    copies = {}
    for name in UNIT_NAMES:
        copy = directory / name
        copy.write_text(unit_text(name).replace(INSTALLED_BINARY, binary or str(stub)), "utf-8")
        copies[name] = copy
    instance = directory / "smscore-tranproc@1.service"
    instance.symlink_to(copies["smscore-tranproc@.service"].name)
    copies["smscore-tranproc@1.service"] = instance
    return copies


def verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [systemd_analyze(), "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=unit.parent,
    )


def exposure(unit: Path) -> float:
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=unit.parent,
    )
    found = EXPOSURE.search(done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    return float(found.group(1))


@pytest.mark.parametrize("name", [*UNIT_NAMES, "smscore-tranproc@1.service"])
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path: Path, name: str) -> None:
    done = verify(copied_units(tmp_path)[name])
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_verify_would_catch_a_missing_binary_and_an_unknown_key(tmp_path: Path) -> None:
    # The two ways a unit goes wrong that the test above must see.
    missing = verify(copied_units(tmp_path, binary=str(tmp_path / "nowhere"))["smscore.service"])
    assert missing.returncode != 0 and "is not executable" in missing.stderr
    unit = copied_units(tmp_path / "again")["smscore.service"]
    unit.write_text(unit.read_text().replace("UMask=", "UMaks="), encoding="utf-8")
    assert "Unknown key 'UMaks'" in verify(unit).stderr


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_security_exposure_is_at_most_two(tmp_path: Path, name: str) -> None:
    assert exposure(copied_units(tmp_path)[name]) <= MAX_EXPOSURE


def test_without_its_sandboxing_a_unit_would_be_exposed(tmp_path: Path) -> None:
    # What the score measures: the same unit with the sandboxing block cut scores far above 2.
    unit = copied_units(tmp_path)["smscore.service"]
    text = unit.read_text(encoding="utf-8")
    start, end = text.index("# Sandboxing"), text.index("[Install]")
    unit.write_text(text[:start] + text[end:], encoding="utf-8")
    assert exposure(unit) > 8.0


def sandboxing(text: str) -> str:
    return text[text.index("# Sandboxing") : text.index("[Install]")]


def test_the_three_units_share_their_sandboxing_user_and_directories() -> None:
    texts = [unit_text(name) for name in UNIT_NAMES]
    assert len({sandboxing(text) for text in texts}) == 1
    kept = ("User", "Group", "StateDirectory", "ConfigurationDirectory", "LoadCredential", "UMask")
    views = [{key: settings(text)[key] for key in kept} for text in texts]
    assert views[0] == views[1] == views[2]


def test_the_units_are_what_the_daemon_expects() -> None:
    for name in UNIT_NAMES:
        unit = settings(unit_text(name))
        assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
        refused = f"{exit_codes.CONFIG} {exit_codes.LEDGER}"  # a config, a ledger to look at
        assert unit["RestartPreventExitStatus"] == [refused]
        assert unit["Restart"] == ["on-failure"]
        assert int(unit["WatchdogSec"][0]) >= 10  # pinged at half of it by the reactor
        assert unit["User"] == ["smscore"] and unit["StateDirectory"] == ["smscore"]
        assert unit["ConfigurationDirectory"] == ["smscore"]
        assert unit["LoadCredential"] == ["smscore:/etc/smscore/credentials"]
        assert unit["MemoryDenyWriteExecute"] == ["yes"] and unit["CapabilityBoundingSet"] == [""]
        assert unit["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
        assert unit["IPAddressDeny"] == ["any"] and unit["IPAddressAllow"] == ["localhost"]
        assert unit["ExecStart"][0].startswith(f"{INSTALLED_BINARY} run --config ")
    roles = {name: settings(unit_text(name))["ExecStart"][0].split()[4:] for name in UNIT_NAMES}
    assert roles == {
        "smscore.service": [],
        "smscore-lis.service": ["--role", "lis"],
        "smscore-tranproc@.service": ["--role", "tranproc", "--instance-name", "tranproc-%i"],
    }


def test_the_tranproc_instance_name_reaches_the_config(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from daemon.cli import main

    config = tmp_path / "smscore.toml"
    config.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    args = ["run", "--config", str(config), "--role", "tranproc", "--instance-name", "tranproc-2"]
    result = CliRunner().invoke(main, [*args, "--check"])
    assert result.exit_code == 0, result.output
    assert "config OK: role tranproc" in result.output

    from daemon.run_cli import config_from_options

    chosen = config_from_options(config, role="tranproc", instance_name="tranproc-2")
    assert (chosen.service.role, chosen.lease_owner) == ("tranproc", "tranproc-2")


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_the_stop_timeout_covers_the_longest_drain_the_config_allows(name: str) -> None:
    from daemon.config import ServiceConfig

    text = (UNITS / name).read_text(encoding="utf-8")
    [stop_s] = [
        int(line.split("=", 1)[1])
        for line in text.splitlines()
        if line.startswith("TimeoutStopSec=")
    ]
    [bound] = [
        m for m in ServiceConfig.model_fields["drain_timeout_s"].metadata if hasattr(m, "le")
    ]
    longest_s = bound.le
    assert longest_s + 15 <= stop_s  # room for the batch in hand, the inbox flush, the unbinds
