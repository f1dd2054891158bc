"""The base of every config section: strict models, and the types fields share (one-line errors are
made by daemon.config from pydantic's)."""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ConfigError(Exception):
    """A config problem, already phrased as one line for the operator."""


class Section(BaseModel):
    # Strict: `request_receipts = "yes"` or `port = "2775"` is an error, not a guess.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Paths and enums are written as strings in TOML: those fields convert.
FilePath = Annotated[Path, Field(strict=False)]


PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]
Port = Annotated[int, Field(gt=0, lt=65_536)]
