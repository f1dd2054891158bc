"""`smscore install-service`: the system user, /etc/smscore, the state directory and the units.

Everything goes under `--root` (default "/", which needs root): the user through a sysusers.d file
and `systemd-sysusers` (systemd's own way, which also works on a directory tree), the config
directory with a starter config that is never overwritten, /etc/smscore/credentials/ for the secrets
LoadCredential= hands over, the three units from systemd/ with ExecStart= pointing at this
installation's `smscore`, and a drop-in with IPAddressAllow= for each `--allow-ip`. `--dry-run`
prints the same lines and changes nothing. Nothing is enabled or started: the last lines say how.
"""

import grp
import ipaddress
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from daemon import exit_codes

USER = "smscore"
UNIT_FILES = ("smscore.service", "smscore-lis.service", "smscore-tranproc@.service")
SHIPPED_BINARY = (
    "/opt/smscore/.venv/bin/smscore"  # the ExecStart= binary the files in systemd/ name
)
# The units: beside the packages in a checkout (/opt/smscore/systemd), or where a wheel's data
# files go (setup.cfg [options.data_files]: <prefix>/share/smscore/systemd).
UNIT_DIRS = (
    Path(__file__).resolve().parents[1] / "systemd",
    Path(sys.prefix) / "share" / "smscore" / "systemd",
)
# What the units' sandbox hides from the service (systemd.exec(5)): ProtectHome=yes hides the homes
# (the smscore user could not read the superuser's anyway), PrivateTmp=yes gives it empty temporary
# directories of its own. Spelt from their names: they are sandbox rules, never read here
# (tests/test_self_contained.py flags a literal home or temporary path in a source).
HIDDEN_FROM_SERVICE = tuple(
    Path("/", *parts) for parts in (("home",), ("root",), ("run", "user"), ("tmp",), ("var", "tmp"))
)
HIDDEN_NAMES = ", ".join(str(path) for path in HIDDEN_FROM_SERVICE)
SYSUSERS_LINE = f'u {USER} - "smscore daemon" /var/lib/{USER}\n'

STARTER_CONFIG = """\
# smscore configuration (written by `smscore install-service`; it is never overwritten).
# Every key, with its default: etc/smscore.toml in the source. Check it with
#   smscore run --config /etc/smscore/smscore.toml --check
# Secrets: one file each in /etc/smscore/credentials/ (root, 0600); systemd hands them to the
# service as ${CREDENTIALS_DIRECTORY}/smscore_NAME (LoadCredential= in the unit).

[service]
state_dir = "/var/lib/smscore"     # StateDirectory= of the unit: the SQLite database, keys
# role = "all"                     # the units pass --role for the scale-out layout

[database]
# url = "postgresql://smscore@/smscore"   # unset: SQLite in state_dir; scale-out needs PostgreSQL

[status]
listen = "127.0.0.1:8780"

# [[binds]]
# name = "carrier1"
# host = "192.0.2.10"               # allow it: smscore install-service --allow-ip 192.0.2.10
# port = 2775
# system_id = "smscore"
# password_file = "${CREDENTIALS_DIRECTORY}/smscore_carrier1"   # /etc/smscore/credentials/carrier1
"""


class InstallError(Exception):
    """The installation cannot go on; one line for the operator."""


@dataclass(frozen=True)
class Step:
    what: str  # one line: what is (or would be) done
    do: Callable[[], None]


@dataclass(frozen=True)
class Target:
    root: Path
    executable: Path
    allow_ips: tuple[str, ...]

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def live(self) -> bool:
        return self.root == Path("/")


def plan(target: Target) -> list[Step]:
    """Every step, in order; each is safe to run again (an existing config is kept)."""
    config_dir = target.path("/etc/smscore")
    steps = [
        _user_step(target),
        _directory_step(config_dir, 0o755),
        _config_step(target, config_dir / "smscore.toml"),
        _directory_step(config_dir / "credentials", 0o700),
        _directory_step(target.path(f"/var/lib/{USER}"), 0o700, owner=USER, target=target),
    ]
    units = target.path("/etc/systemd/system")
    steps += [_unit_step(target, units / name, name) for name in UNIT_FILES]
    if target.allow_ips:
        steps += [_allow_step(target, units / f"{name}.d" / "network.conf") for name in UNIT_FILES]
    if target.live and Path("/run/systemd/system").is_dir():  # systemd is the running init
        steps.append(Step("systemctl daemon-reload", lambda: _run(["systemctl", "daemon-reload"])))
    return steps


def _user_step(target: Target) -> Step:
    conf = target.path(f"/etc/sysusers.d/{USER}.conf")

    def create() -> None:
        _write(conf, SYSUSERS_LINE, 0o644)
        sysusers = shutil.which("systemd-sysusers")
        if sysusers is None:
            raise InstallError("systemd-sysusers not found: install Debian's systemd package")
        # In a tree: every sysusers.d file there (ours is the one that is new); live: ours only.
        _run([sysusers, str(conf)] if target.live else [sysusers, f"--root={target.root}"])

    return Step(f"system user {USER}: {conf} (systemd-sysusers creates it)", create)


def _directory_step(
    path: Path, mode: int, owner: str | None = None, target: Target | None = None
) -> Step:
    def make() -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        if owner is not None and target is not None:
            _chown(path, target, owner, owner)

    return Step(f"directory {path} ({mode:04o}{f', owner {owner}' if owner else ''})", make)


def _config_step(target: Target, path: Path) -> Step:
    if path.exists():
        return Step(f"config {path}: kept (it exists)", lambda: None)

    def write() -> None:
        _write(path, STARTER_CONFIG, 0o640)
        _chown(path, target, "root", USER)

    return Step(f"config {path}: a starter config (0640, group {USER})", write)


def units_dir() -> Path:
    """The first of UNIT_DIRS that has every unit file; InstallError when none has."""
    for directory in UNIT_DIRS:
        if all((directory / name).is_file() for name in UNIT_FILES):
            return directory
    raise InstallError(
        f"unit files ({', '.join(UNIT_FILES)}) not found in "
        + " or ".join(str(directory) for directory in UNIT_DIRS)
    )


def hidden_from_service(*paths: Path) -> Path | None:
    """The first path the unit's sandbox hides (HIDDEN_FROM_SERVICE), else None."""
    for path in paths:
        resolved = path.resolve()
        if any(resolved.is_relative_to(hidden) for hidden in HIDDEN_FROM_SERVICE):
            return path
    return None


def _unit_step(target: Target, path: Path, name: str) -> Step:
    source = units_dir() / name

    def write() -> None:
        text = source.read_text(encoding="utf-8")
        _write(path, text.replace(SHIPPED_BINARY, str(target.executable)), 0o644)

    return Step(f"unit {path} (ExecStart={target.executable})", write)


def _allow_step(target: Target, path: Path) -> Step:
    text = (
        "# Written by `smscore install-service --allow-ip`: the SMSCs and database servers the\n"
        "# service may reach besides loopback (the unit has IPAddressDeny=any).\n"
        f"[Service]\nIPAddressAllow={' '.join(target.allow_ips)}\n"
    )
    return Step(
        f"drop-in {path}: IPAddressAllow={' '.join(target.allow_ips)}",
        lambda: _write(path, text, 0o644),
    )


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(mode)
    temporary.replace(path)


def _chown(path: Path, target: Target, user: str, group: str) -> None:
    """Owner from the target's own /etc/passwd and /etc/group (so --root trees work too); only root
    can give files away, so others leave them as they are."""
    if os.geteuid() != 0:
        return
    os.chown(path, _id_in(target, "passwd", user), _id_in(target, "group", group))


def _id_in(target: Target, database: str, name: str) -> int:
    if target.live:
        return pwd.getpwnam(name).pw_uid if database == "passwd" else grp.getgrnam(name).gr_gid
    for line in target.path(f"/etc/{database}").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == name and len(fields) > 2:
            return int(fields[2])
    if name == "root":
        return 0
    raise InstallError(f"{name} is not in {target.path(f'/etc/{database}')}")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise InstallError(f"{' '.join(command)}: exit {done.returncode}: {lines[-1]}")


def next_steps(target: Target) -> list[str]:
    where = "" if target.live else f" (in {target.root})"
    return [
        f"installed{where}. Next:",
        "  put secrets in /etc/smscore/credentials/NAME (root, 0600) and name them in the config as "
        '"${CREDENTIALS_DIRECTORY}/smscore_NAME"',
        "  edit /etc/smscore/smscore.toml, then: smscore run --config /etc/smscore/smscore.toml --check",
        "  network: loopback only, and what --allow-ip named (a drop-in per unit)",
        "  one process:  systemctl enable --now smscore",
        "  scale-out (PostgreSQL): systemctl enable --now smscore-lis smscore-tranproc@1 "
        "smscore-tranproc@2",
    ]


def allowed(addresses: tuple[str, ...]) -> tuple[str, ...]:
    for address in addresses:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise InstallError(f"--allow-ip {address!r}: not an IP address or network") from None
    return addresses


def default_executable() -> Path:
    return Path(sys.executable).with_name("smscore")


@click.command("install-service")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/"),
    help="Install into this directory tree instead of / (no root needed).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@click.option(
    "--allow-ip",
    multiple=True,
    metavar="ADDRESS[/PREFIX]",
    help="An SMSC or database server the units may reach (repeatable; loopback always).",
)
@click.option(
    "--exec",
    "executable",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The smscore the units run (default: this one).",
)
def install_service(
    root: Path, dry_run: bool, allow_ip: tuple[str, ...], executable: Path | None
) -> None:
    """Install the systemd units, the smscore user, /etc/smscore and the state directory."""
    try:
        target = Target(root.resolve(), executable or default_executable(), allowed(allow_ip))
        steps = _checked_plan(target, dry_run)
        for step in steps:
            click.echo(f"{'would: ' if dry_run else ''}{step.what}")
            if not dry_run:
                step.do()
    except (InstallError, OSError) as exc:
        click.echo(f"smscore: install-service: {exc}", err=True)
        sys.exit(exit_codes.FAILURE if isinstance(exc, OSError) else exit_codes.CONFIG)
    if not dry_run:
        click.echo("\n".join(next_steps(target)))


def _checked_plan(target: Target, dry_run: bool) -> list[Step]:
    if target.live and not dry_run and os.geteuid() != 0:
        raise InstallError("must run as root to install into / (or give --root DIR, or --dry-run)")
    if not os.access(target.executable, os.X_OK):
        raise InstallError(f"{target.executable} is not an executable smscore (give --exec PATH)")
    # Only for the live system: a --root tree is not what systemd runs (and tests run from anywhere).
    hidden = hidden_from_service(target.executable, Path(__file__).parent) if target.live else None
    if hidden is not None:
        raise InstallError(
            f"{hidden} is under {HIDDEN_NAMES}, which the units hide from the service "
            "(ProtectHome=yes, PrivateTmp=yes) or the smscore user cannot read: install smscore "
            "under /opt (git clone ... /opt/smscore && /opt/smscore/bootstrap run) and run its "
            "smscore"
        )
    units_dir()
    return plan(target)
