"""The specification's shared objects as pydantic models, named as GSMA Mobile Money API 1.2 names
them (route modules add their own beside these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Unknown fields are refused (a typo is an error, not silently ignored); strings stay strings."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MetadataItem(Model):
    key: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=256)


class ErrorObject(Model):
    errorCategory: Literal[
        "businessRule",
        "validation",
        "authorisation",
        "identification",
        "internal",
        "serviceUnavailable",
    ]
    errorCode: str = Field(min_length=1, max_length=64)
    errorDescription: str | None = Field(default=None, max_length=256)
    errorDateTime: str | None = None
    errorParameters: list[MetadataItem] | None = None
