"""Simulator configuration: typed, validated once, loaded from TOML; errors name file, key and problem."""

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from simulators.airtime import AirtimeProviderConfig
from simulators.faults import FaultError, validate_faults
from simulators.fields import Status
from smscore.constants import MessageState
from smscore.defaults import DEFAULT_ENQUIRE_LINK_INTERVAL_S, DEFAULT_RESPONSE_TIMEOUT_S
from smscore.status import CommandStatus
from smscore.ussd import Dialect

BindTypeName = Literal["transmitter", "receiver", "transceiver"]
ConcatMethod = Literal["udh8", "udh16", "sar", "payload"]
ALL_BIND_TYPES: frozenset[str] = frozenset({"transmitter", "receiver", "transceiver"})
STAT_WORDS = {state.stat: state for state in MessageState if state.is_final}
MAX_PORT = 0xFFFF  # TCP ports are 16 bits


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line naming file, key and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Strict):
    """One ESME account: credentials, what it may bind as, how many binds and how fast."""

    # C-Octet Strings of 16 and 9 octets with their NUL (spec 5.2.1, 5.2.2).
    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(max_length=8)
    bind_types: frozenset[BindTypeName] = ALL_BIND_TYPES  # type: ignore[assignment]
    max_binds: int = Field(4, ge=1, le=1000)  # upper bounds here and below catch typos
    max_binds_status: Status = CommandStatus.ESME_RALYBND
    tps_limit: float | None = Field(None, gt=0)
    # MOs whose destination starts with one of these go to this account (empty: any MO).
    mo_prefixes: tuple[str, ...] = ()
    # The USSD dialect this account's binds speak (smscore.ussd.Dialect); None: SMS only, and
    # USSD sessions never go to it (simulators.ussd).
    ussd_dialect: Dialect | None = None


class DlrRule(_Strict):
    """Outcome for destinations starting with `prefix` (first matching rule wins)."""

    prefix: str
    outcome: str
    err: int = Field(0, ge=0, le=999)  # a receipt's err: has three digits
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


class UssdNetworkConfig(_Strict):
    """The network side of USSD dialogues (simulators.ussd): its timers and a bound on memory."""

    # A dialogue is released this long after the subscriber dialled (networks: about 180 s).
    session_timeout_s: float = Field(180.0, gt=0, le=3600)
    # Each screen must arrive within this long of the subscriber's dial or answer; later, the
    # network has dropped the dialogue and refuses the screen.
    answer_timeout_s: float = Field(10.0, gt=0, le=600)
    max_sessions: int = Field(10_000, ge=1, le=1_000_000)  # live and ended, kept for the API
    # The dialect of binds with no account (open mode: no [[account]] configured).
    dialect: Dialect | None = None


class OutbindTarget(_Strict):
    """An ESME that listens for the SMSC's outbind (SMPP 3.4 4.1.7) and binds back as a receiver."""

    address: str  # HOST:PORT the ESME listens on
    password: str = Field("", max_length=8)  # what the ESME expects in the outbind
    system_id: str | None = Field(None, min_length=1, max_length=15)  # None: the SMSC's own
    retry_s: float = Field(5.0, gt=0, le=3600)  # outbind again this long after a failure or close

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_address(value)
        return value


class SimulatorConfig(_Strict):
    """Everything the simulator needs; `faults` is checked against the fault registry on load."""

    listen: str = "127.0.0.1:2775"
    http: str | None = "127.0.0.1:8775"
    system_id: str = Field("SMSCSIM", min_length=1, max_length=15)  # 16 octets with NUL
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
    airtime: AirtimeProviderConfig = Field(default_factory=AirtimeProviderConfig)  # the provider
    ussd: UssdNetworkConfig = Field(default_factory=UssdNetworkConfig)
    outbind: tuple[OutbindTarget, ...] = ()  # ESMEs to outbind to at start (simulators.outbind)
    # SMSC-side security (simulators.guard). allow: networks ESMEs may connect from ([] = any);
    # others are closed before a byte is read. tls_cert_file/tls_key_file: listen with TLS.
    allow: tuple[IPvAnyNetwork, ...] = ()
    tls_cert_file: str | None = None  # PEM: the certificate, then any intermediates
    tls_key_file: str | None = None  # PEM, unencrypted
    # Binds refused for system_id/password from one address: after max_bind_failures within
    # bind_failure_window_s, every bind from it gets ESME_RBINDFAIL until the window has passed.
    max_bind_failures: int = Field(5, ge=1, le=1000)
    bind_failure_window_s: float = Field(60.0, gt=0, le=86_400)

    @field_validator("listen", "http")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> "SimulatorConfig":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        return self


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); port 0 means any free port."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= MAX_PORT:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port_text)


def build_config(data: dict[str, Any], source: str = "config") -> SimulatorConfig:
    """Validate a config mapping; raise ConfigError naming `source`, the key path and the problem."""
    try:
        config = SimulatorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(first_error(source, exc)) from None
    try:
        validate_faults(config.faults)
    except FaultError as exc:
        raise ConfigError(f"{source}: faults.{exc}") from None
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SimulatorConfig:
    """Read a TOML file, apply `overrides` (from command-line flags) and validate."""
    data = read_toml(path)
    data.update(overrides or {})
    return build_config(data, str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """The file's TOML as a dict; ConfigError naming the file if it cannot be read or parsed."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


Location = tuple[int | str, ...]


def dotted_key(loc: Location) -> str:
    """A pydantic error location as the key path a user writes: ('dlr', 'delay_s') -> 'dlr.delay_s'."""
    return ".".join(str(part) for part in loc) or "(top level)"


def first_error(
    source: str, exc: ValidationError, key: Callable[[Location], str] = dotted_key
) -> str:
    """One line: the source, the key of the first problem, the problem, and how many more."""
    error = exc.errors()[0]
    key_text = key(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{source}: {key_text}: {message}{more}"
