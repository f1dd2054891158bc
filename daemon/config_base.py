"""The base of every config section: strict models, and the types fields share (one-line errors are
made by daemon.config from pydantic's)."""

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class ConfigError(Exception):
    """A config problem, already phrased as one line for the operator."""


class Section(BaseModel):
    # Strict: `request_receipts = "yes"` or `port = "2775"` is an error, not a guess.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


CREDENTIALS = "${CREDENTIALS_DIRECTORY}"  # where systemd's LoadCredential= puts the unit's secrets


def credentials_path(value: Any) -> Any:
    """A path may start with ${CREDENTIALS_DIRECTORY}/ (the only variable expanded), e.g.
    password_file = "${CREDENTIALS_DIRECTORY}/smscore_carrier1"; unset, it is a one-line error."""
    if not isinstance(value, str) or "${" not in value:
        return value
    if not value.startswith(f"{CREDENTIALS}/") or "${" in value[len(CREDENTIALS) :]:
        raise ValueError(f"only a leading {CREDENTIALS}/ is expanded in a path, not {value!r}")
    name = value[len(CREDENTIALS) + 1 :]
    if not name or ".." in Path(name).parts:
        raise ValueError(f"{CREDENTIALS}/ must be followed by a credential's name, not {name!r}")
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise ValueError(
            f"{CREDENTIALS} is not set: it is set by systemd for a unit with LoadCredential= "
            "(systemd/smscore.service); outside systemd give the file's own path"
        )
    return str(Path(directory) / name)


# Paths and enums are written as strings in TOML: those fields convert.
FilePath = Annotated[Path, BeforeValidator(credentials_path), Field(strict=False)]


PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]
Port = Annotated[int, Field(gt=0, lt=65_536)]
