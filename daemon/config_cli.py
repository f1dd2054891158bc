"""`smscore config check FILE`: the checks of `smscore run --check`, then the effective config
(every default filled in, the environment's SMSCORE_... overrides applied) as TOML or JSON, with
every secret masked."""

import enum
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import tomli_w
from pydantic import BaseModel, SecretStr
from sqlalchemy.exc import ArgumentError

from daemon import exit_codes
from daemon.config import Config, ConfigError, load_config
from daemon.config_env import env_overrides
from ledger import display_url
from ledger.engine import SECRET_QUERY_KEYS

MASK = "********"
# A text value under such a name is a secret; `*_env` names the variable holding one, and a path
# (`password_file`, `key_file`, ...) says where one is: both are shown, the operator checks them.
SECRET_NAME = re.compile(r"password|secret|key|token|pepper|credential", re.IGNORECASE)


def masked(config: BaseModel) -> dict[str, Any]:
    """The config as plain data (paths and enums as text, None kept) with the secrets masked:
    SecretStr values, text under a secret-sounding key, and the password in any URL."""
    return {name: _masked_value(name, getattr(config, name)) for name in type(config).model_fields}


def _masked_value(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return masked(value)
    if isinstance(value, list | tuple):
        return [_masked_value(name, item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _masked_value(str(key), item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        if value and SECRET_NAME.search(name) and not name.endswith("_env"):
            return MASK
        return _url_masked(value)
    return value


def _url_masked(text: str) -> str:
    try:
        parts = urlsplit(text) if "://" in text else None
        in_query = parts is not None and any(
            key.lower() in SECRET_QUERY_KEYS for key in parse_qs(parts.query)
        )
        has_password = parts is not None and (parts.password is not None or in_query)
    except ValueError:  # not a URL after all (a bad port, say): nothing to mask in it
        return text
    if not has_password:
        return text
    try:
        return display_url(text)
    except (ArgumentError, ValueError):  # one SQLAlchemy cannot read: keep none of it but the host
        assert parts is not None
        return parts._replace(netloc=f"{MASK}@{parts.hostname or ''}", query="").geturl()


def without_none(data: Any) -> Any:
    """TOML has no null: an unset optional key is left out (its default is None)."""
    if isinstance(data, dict):
        return {key: without_none(value) for key, value in data.items() if value is not None}
    if isinstance(data, list):
        return [without_none(item) for item in data]
    return data


def as_toml(config: Config, source: str, environ: Mapping[str, str]) -> str:
    overridden = [override.variable for override in env_overrides(environ, Config)]
    header = [
        f"# The effective config of {source}: defaults filled in, secrets masked.",
        "# Unset optional keys are not shown. Environment overrides applied: "
        + (", ".join(overridden) or "none"),
        f"# Database: {display_url(config.database_url)}",
    ]
    return "\n".join(header) + "\n\n" + tomli_w.dumps(without_none(masked(config)))


@click.group("config")
def config_group() -> None:
    """Configuration tools."""


@config_group.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
def check(file: Path, as_json: bool) -> None:
    """Check FILE as `smscore run --check` does and print the effective config, secrets masked."""
    from daemon.checks import check_config

    try:
        config = load_config(file)
        report = check_config(config, str(file))
    except ConfigError as exc:
        click.echo(f"smscore: {exc}", err=True)
        sys.exit(exit_codes.CONFIG)
    for warning in report.warnings:
        click.echo(f"smscore: warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(masked(config), indent=2))
    else:
        click.echo(as_toml(config, str(file), os.environ), nl=False)
