"""Simulator configuration: typed, validated once, loaded from TOML; errors name file, key and problem."""

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from smscore.constants import MessageState
from smscore.defaults import DEFAULT_ENQUIRE_LINK_INTERVAL_S, DEFAULT_RESPONSE_TIMEOUT_S
from smscore.status import CommandStatus

BindTypeName = Literal["transmitter", "receiver", "transceiver"]
ConcatMethod = Literal["udh8", "udh16", "sar", "payload"]
ALL_BIND_TYPES: frozenset[str] = frozenset({"transmitter", "receiver", "transceiver"})
STAT_WORDS = {state.stat: state for state in MessageState if state.is_final}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line naming file, key and problem."""


def status_value(value: Any) -> int:
    """A command_status given as a name ("ESME_RBINDFAIL") or a number."""
    if isinstance(value, str):
        try:
            return int(CommandStatus[value])
        except KeyError:
            raise ValueError(f"unknown command_status name {value!r}") from None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
        return value
    raise ValueError(
        f"command_status must be a name like ESME_RTHROTTLED or a number, not {value!r}"
    )


Status = Annotated[int, BeforeValidator(status_value)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Strict):
    """One ESME account: credentials, what it may bind as, how many binds and how fast."""

    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(max_length=8)
    bind_types: frozenset[BindTypeName] = ALL_BIND_TYPES  # type: ignore[assignment]
    max_binds: int = Field(4, ge=1, le=1000)
    max_binds_status: Status = CommandStatus.ESME_RALYBND
    tps_limit: float | None = Field(None, gt=0)
    # MOs whose destination starts with one of these go to this account (empty: any MO).
    mo_prefixes: tuple[str, ...] = ()


class DlrRule(_Strict):
    """Outcome for destinations starting with `prefix` (first matching rule wins)."""

    prefix: str
    outcome: str
    err: int = Field(0, ge=0, le=999)
    delay_s: float | None = Field(None, ge=0)

    @field_validator("outcome")
    @classmethod
    def _known_stat(cls, value: str) -> str:
        if value not in STAT_WORDS:
            raise ValueError(f"outcome must be one of {sorted(STAT_WORDS)}, not {value!r}")
        return value


class DlrConfig(_Strict):
    """When receipts come and what they say: a delay and a weighted outcome mix, plus rules."""

    delay_s: float = Field(1.0, ge=0)
    outcomes: dict[str, float] = Field(default_factory=lambda: {"DELIVRD": 1.0})
    errors: dict[str, int] = Field(default_factory=dict)  # stat word -> err code for the mix
    rule: tuple[DlrRule, ...] = ()

    @field_validator("outcomes")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for stat, weight in value.items():
            if stat not in STAT_WORDS:
                raise ValueError(f"unknown outcome {stat!r}; use {sorted(STAT_WORDS)}")
            if weight < 0:
                raise ValueError(f"weight of {stat} must not be negative")
        if not any(value.values()):
            raise ValueError("at least one outcome needs a positive weight")
        return value


class SimulatorConfig(_Strict):
    """Everything the simulator needs; `faults` is checked against the fault registry on load."""

    listen: str = "127.0.0.1:2775"
    http: str | None = "127.0.0.1:8775"
    system_id: str = Field("SMSCSIM", min_length=1, max_length=15)
    seed: int = 0
    window_size: int = Field(100, ge=1, le=10_000)
    response_timeout_s: float = Field(DEFAULT_RESPONSE_TIMEOUT_S, gt=0)
    enquire_link_interval_s: float = Field(DEFAULT_ENQUIRE_LINK_INTERVAL_S, gt=0)
    mo_concat: ConcatMethod = "udh8"
    redelivery_interval_s: float = Field(5.0, gt=0)
    max_delivery_attempts: int = Field(10, ge=1)
    max_messages: int = Field(200_000, ge=1)
    max_inbox_per_msisdn: int = Field(1_000, ge=1)
    max_pending_deliveries: int = Field(1_000_000, ge=1)
    account: tuple[AccountConfig, ...] = ()
    dlr: DlrConfig = Field(default_factory=DlrConfig)
    faults: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("listen", "http")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); port 0 means any free port."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port_text)


def build_config(data: dict[str, Any], source: str = "config") -> SimulatorConfig:
    """Validate a config mapping; raise ConfigError naming `source`, the key path and the problem."""
    from simulators.faults import FaultError, validate_faults

    try:
        config = SimulatorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(source, exc)) from None
    try:
        validate_faults(config.faults)
    except FaultError as exc:
        raise ConfigError(f"{source}: faults.{exc}") from None
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SimulatorConfig:
    """Read a TOML file, apply `overrides` (from command-line flags) and validate."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    data.update(overrides or {})
    return build_config(data, source)


def _first_error(source: str, exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{source}: {key}: {message}{more}"
