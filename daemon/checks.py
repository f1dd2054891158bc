"""What `smscore run` needs from the machine before it starts, checked without starting anything.

`smscore run --check` and `smscore run` both call `check_config`: a problem is one line naming the
config file, the key and what is wrong (`ConfigError`, exit code 2), so `--check` passing means the
daemon will not stop on its config. The database server itself is not contacted here: an unreachable
database is a start-up failure of its own (exit code 1), reported as one line too.
"""

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from daemon.config import BindPasswordError, Config, ConfigError
from daemon.config_env import look_alike_variables
from daemon.money.tariff import TariffError, load_tariff
from daemon.subscribers import PepperEnv, PepperError, pepper_path, read_pepper
from ledger import sqlite_file
from smscore.esme import BindType


@dataclass
class CheckReport:
    """Warnings: things that are allowed but probably not meant (the daemon starts anyway)."""

    warnings: list[str] = field(default_factory=list)


def check_config(
    config: Config, where: str, environ: Mapping[str, str] | None = None
) -> CheckReport:
    """Raise ConfigError for the first problem `smscore run` would stop on; return the warnings
    (`environ`: where the config's overrides came from, default os.environ)."""
    problem = _first_problem(config)
    if problem is not None:
        key, message = problem
        raise ConfigError(f"{where}: {key}: {message}")
    report = CheckReport()
    if config.service.role in ("all", "lis") and not config.binds:
        report.warnings.append(
            f"{where}: binds: none configured; role {config.service.role} will receive no SMS"
        )
    environ = os.environ if environ is None else environ
    report.warnings += look_alike_variables(environ, Config, _named_variables(config))
    return report


def _named_variables(config: BaseModel) -> frozenset[str]:
    """The environment variables the config names in its `*_env` keys (a bind's password_env)."""
    found: set[str] = set()
    for name in type(config).model_fields:
        value = getattr(config, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                found |= _named_variables(item)
            elif name.endswith("_env") and isinstance(item, str):
                found.add(item.upper())
    return frozenset(found)


def _first_problem(config: Config) -> tuple[str, str] | None:
    for index, bind in enumerate(config.binds):
        try:
            bind.read_password()
        except BindPasswordError as exc:
            return f"binds.{index}.{exc.key}", exc.message
        if bind.ussd_dialect is not None and bind.bind_type is BindType.RECEIVER:
            return f"binds.{index}.ussd_dialect", (
                f"bind {bind.name} is a receiver: a USSD screen goes back on the bind its MO came"
                " on, so none could ever be sent; make it a transceiver"
            )
        if bind.ussd_dialect is not None and not config.ussd_sms_source(bind.name):
            return "sender.source_addr", (
                f"bind {bind.name} carries USSD, and the SMS after a dialogue need an address to"
                " come from: set sender.source_addr, or the short codes the bind serves"
            )
        if bind.tls and bind.tls_ca_file is not None:
            problem = _certificate_problem(bind.tls_ca_file)
            if problem:
                return f"binds.{index}.tls_ca_file", problem
    sqlite_path = sqlite_file(config.database_url)
    if sqlite_path is not None:
        key = "database.url" if config.database.url else "service.state_dir"
        problem = _file_problem(sqlite_path)
        if problem:
            return key, problem
    key = "security.pin_pepper_file" if config.security.pin_pepper_file else "service.state_dir"
    key = "security.pin_pepper_env" if config.security.pin_pepper_env else key
    problem = _pepper_problem(pepper_path(config))
    if problem:
        return key, problem
    return (
        _tariff_problem(config)
        or _airtime_problem(config)
        or _app_key_problem(config)
        or _receipt_keys_problem(config)
        or _menu_problem(config)
    )


def _menu_problem(config: Config) -> tuple[str, str] | None:
    from daemon.ussd.menu import MenuError
    from daemon.ussd.menu_watch import load_config_menu

    try:
        load_config_menu(config)
    except MenuError as exc:  # its message names the file, the screen and the problem
        return "ussd.menu_file", str(exc)
    return None


def _app_key_problem(config: Config) -> tuple[str, str] | None:
    """The app channel's key file: readable and well-formed if it is there, else creatable."""
    from daemon.security.app_key import AppKeyError, app_key_path, read_key

    key = "app.key_file" if config.app.key_file else "service.state_dir"
    path = app_key_path(config)
    if not path.exists():
        problem = _file_problem(path)
        return (key, problem) if problem else None
    try:
        read_key(path)
    except AppKeyError as exc:
        return key, str(exc)
    return None


def _receipt_keys_problem(config: Config) -> tuple[str, str] | None:
    """The receipt key directory: a usable keyring if it is there, else creatable."""
    from daemon.security.receipt_keys import ReceiptKeyError, load_keyring
    from daemon.security.signing import key_directory

    if not config.receipts.enabled:
        return None
    key = "receipts.key_dir" if config.receipts.key_dir else "service.state_dir"
    directory = key_directory(config)
    if not directory.exists():
        problem = _directory_problem(directory)
        return (key, problem) if problem else None
    try:
        load_keyring(directory)
    except ReceiptKeyError as exc:
        return key, str(exc)
    return None


def _airtime_problem(config: Config) -> tuple[str, str] | None:
    from daemon.money.airtime_gateway import GatewayConfigError, read_password

    if not config.airtime.enabled:
        return None
    try:
        read_password(config.airtime)
    except GatewayConfigError as exc:
        return "airtime.password_file", str(exc)
    return None


def _tariff_problem(config: Config) -> tuple[str, str] | None:
    try:
        load_tariff(config.money.tariff_file)
    except TariffError as exc:  # its message names the file, the key and the problem
        return "money.tariff_file", str(exc)
    return None


def _certificate_problem(path: Path) -> str | None:
    from smscore.tls import TLSFileError, load_certificates

    try:
        load_certificates(path)
    except TLSFileError as exc:
        return str(exc)
    return None


def _pepper_problem(path: Path | PepperEnv) -> str | None:
    if isinstance(path, PepperEnv):
        try:
            read_pepper(path)
        except PepperError as exc:
            return str(exc)
        return None
    if not path.exists():
        return _file_problem(path)
    try:
        read_pepper(path)
    except PepperError as exc:
        return str(exc)
    return None


def _file_problem(path: Path) -> str | None:
    """Why `path` cannot be a file the daemon creates or opens read-write, or None."""
    if path.is_dir():
        return f"{path} is a directory"
    return _directory_problem(path.parent)


def _directory_problem(directory: Path) -> str | None:
    """Why `directory` cannot be created (if missing) and written, or None. Creates nothing that
    stays: a probe directory is made in the nearest existing ancestor and removed again."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create {directory}: {existing} is not a directory"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".smscore-check-", dir=existing))
    except OSError as exc:
        return f"cannot create files in {directory}: {exc.strerror}"
    return None
