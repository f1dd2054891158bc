"""`smscore install-service --root DIR`: the user, /etc/smscore with a starter config, the
credentials and state directories and the units, in a tree under tmp_path (no /etc touched)."""

import os
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import main
from daemon.config import load_config
from daemon.install_service import UNIT_FILES, default_executable
from tests.daemon.test_systemd_units import exposure, systemd_analyze


def install(root: Path, *options: str):
    return CliRunner().invoke(main, ["install-service", "--root", str(root), *options])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installs_the_user_directories_config_and_units(tmp_path: Path) -> None:
    result = install(tmp_path)
    assert result.exit_code == 0, result.output
    passwd = (tmp_path / "etc/passwd").read_text()
    assert passwd.startswith("smscore:x:") and ":/var/lib/smscore:" in passwd
    assert mode(tmp_path / "etc/smscore") == 0o755
    assert mode(tmp_path / "etc/smscore/credentials") == 0o700
    assert mode(tmp_path / "etc/smscore/smscore.toml") == 0o640
    assert mode(tmp_path / "var/lib/smscore") == 0o700
    config = load_config(tmp_path / "etc/smscore/smscore.toml")
    assert str(config.service.state_dir) == "/var/lib/smscore" and config.binds == []
    for name in UNIT_FILES:
        text = (tmp_path / "etc/systemd/system" / name).read_text()
        assert f"ExecStart={default_executable()} run --config /etc/smscore/smscore.toml" in text
        assert "/opt/smscore" not in text
    assert "systemctl enable --now smscore" in result.output


def test_the_installed_units_verify_with_this_installations_smscore(tmp_path: Path) -> None:
    assert install(tmp_path).exit_code == 0
    units = tmp_path / "etc/systemd/system"
    os.symlink("smscore-tranproc@.service", units / "smscore-tranproc@7.service")
    for name in ("smscore.service", "smscore-lis.service", "smscore-tranproc@7.service"):
        done = subprocess.run(
            [systemd_analyze(), "verify", str(units / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), name
        assert exposure(units / name) <= 2.0


def test_a_second_install_keeps_the_operators_config(tmp_path: Path) -> None:
    assert install(tmp_path).exit_code == 0
    config = tmp_path / "etc/smscore/smscore.toml"
    config.write_text('[service]\nstate_dir = "/var/lib/smscore-b"\n')
    again = install(tmp_path)
    assert again.exit_code == 0, again.output
    assert "smscore.toml: kept (it exists)" in again.output
    assert config.read_text() == '[service]\nstate_dir = "/var/lib/smscore-b"\n'
    assert (tmp_path / "etc/passwd").read_text().count("smscore:x:") == 1


def test_allow_ip_writes_a_drop_in_per_unit(tmp_path: Path) -> None:
    result = install(tmp_path, "--allow-ip", "192.0.2.10", "--allow-ip", "198.51.100.0/24")
    assert result.exit_code == 0, result.output
    for name in UNIT_FILES:
        drop_in = (tmp_path / "etc/systemd/system" / f"{name}.d" / "network.conf").read_text()
        assert "[Service]\nIPAddressAllow=192.0.2.10 198.51.100.0/24\n" in drop_in


def test_a_bad_allow_ip_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    result = install(tmp_path, "--allow-ip", "smsc.example")
    assert result.exit_code == 2
    assert (
        result.output
        == "smscore: install-service: --allow-ip 'smsc.example': not an IP address or network\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_dry_run_says_every_step_and_writes_nothing(tmp_path: Path) -> None:
    result = install(tmp_path, "--dry-run", "--allow-ip", "192.0.2.10")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(line.startswith("would: ") for line in lines)
    assert any("system user smscore" in line for line in lines)
    assert sum("unit " in line for line in lines) == 3
    assert sum("drop-in " in line for line in lines) == 3
    assert list(tmp_path.iterdir()) == []


def test_refuses_without_root_when_installing_into_slash(monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(main, ["install-service"])
    assert result.exit_code == 2
    assert result.output == (
        "smscore: install-service: must run as root to install into / "
        "(or give --root DIR, or --dry-run)\n"
    )


def test_an_executable_that_is_not_there_is_refused(tmp_path: Path) -> None:
    result = install(tmp_path / "tree", "--exec", str(tmp_path / "nowhere/smscore"))
    assert result.exit_code == 2 and "is not an executable smscore" in result.output
    assert not (tmp_path / "tree").exists()


@pytest.mark.parametrize("name", UNIT_FILES)
def test_the_exec_option_names_the_binary_in_every_unit(tmp_path: Path, name: str) -> None:
    binary = tmp_path / "opt/venv/bin/smscore"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert install(tmp_path / "tree", "--exec", str(binary)).exit_code == 0
    text = (tmp_path / "tree/etc/systemd/system" / name).read_text()
    assert f"ExecStart={binary} run " in text


def test_an_installation_the_sandbox_would_hide_is_refused(tmp_path: Path, monkeypatch) -> None:
    from daemon import install_service

    binary = tmp_path / "home/ops/smscore/.venv/bin/smscore"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(install_service, "HIDDEN_FROM_SERVICE", (tmp_path / "home",))
    result = CliRunner().invoke(main, ["install-service", "--dry-run", "--exec", str(binary)])
    assert result.exit_code == 2, result.output
    assert f"{binary} is under {install_service.HIDDEN_NAMES}" in result.output
    assert "ProtectHome=yes" in result.output and "would:" not in result.output


@pytest.mark.parametrize("top", [("tmp",), ("var", "tmp"), ("home", "ops"), ("root",)])
def test_temporary_and_home_directories_are_hidden_from_the_service(top: tuple[str, ...]) -> None:
    from daemon import install_service

    # Built from parts: tests/test_self_contained.py flags a literal machine path.
    binary = Path("/", *top, "smscore/.venv/bin/smscore")
    assert install_service.hidden_from_service(Path("/", "opt", "smscore"), binary) == binary
    assert install_service.hidden_from_service(Path("/", "opt", "smscore", "bin")) is None


def test_the_units_are_found_where_a_wheel_puts_them(tmp_path: Path, monkeypatch) -> None:
    from daemon import install_service

    shipped = install_service.UNIT_DIRS[0]
    data = tmp_path / "share/smscore/systemd"
    data.mkdir(parents=True)
    for name in UNIT_FILES:
        (data / name).write_text((shipped / name).read_text())
    monkeypatch.setattr(install_service, "UNIT_DIRS", (tmp_path / "site-packages", data))
    assert install_service.units_dir() == data
    monkeypatch.setattr(install_service, "UNIT_DIRS", (tmp_path / "site-packages",))
    result = install(tmp_path / "tree")
    assert result.exit_code == 2 and "unit files (smscore.service" in result.output
