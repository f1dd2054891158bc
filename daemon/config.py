"""The daemon's configuration: a TOML file validated into typed sections.

Every key is checked when the config is built; a problem becomes one line naming the file, the key path
and what is wrong (`ConfigError`), never a traceback. Validation is pydantic's; the section classes below
are the documentation of every key (etc/smscore.toml shows them with their defaults).
"""

import hashlib
import os
import socket
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import babel.numbers
import phonenumbers
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy.exc import ArgumentError

from daemon.config_api import ApiConfig, ChannelsConfig, listen_address
from daemon.config_base import ConfigError, FilePath, Port, PositiveSeconds, Section
from daemon.config_env import apply_overrides, env_overrides
from daemon.config_inbox import InboxConfig
from daemon.config_logging import LOG_COMPONENTS, LoggingConfig  # noqa: F401  (re-exported)
from daemon.config_seal import SealConfig
from daemon.config_services import AirtimeConfig, AppConfig, ReceiptsConfig, UssdConfig
from daemon.security.fraud_config import FraudConfig
from ledger import display_url
from smscore.concat import METHODS
from smscore.defaults import (
    DEFAULT_ENQUIRE_LINK_INTERVAL_S,
    DEFAULT_RECONNECT_INITIAL_DELAY_S,
    DEFAULT_RECONNECT_MAX_DELAY_S,
    DEFAULT_RESPONSE_TIMEOUT_S,
    DEFAULT_WINDOW,
)
from smscore.esme import BindType
from smscore.ussd import Dialect


class ServiceConfig(Section):
    state_dir: FilePath = Path("var/smscore")  # relative to the working directory
    role: Literal["all", "lis", "tranproc"] = "all"
    # Subscriber numbers are parsed, validated and formatted by libphonenumber for this region.
    region: str = "KE"  # ISO 3166 alpha-2
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "KES"
    name: str = "smscore"
    default_language: Literal["en", "sw"] = "en"  # replies to senders who have not chosen one
    # The name this process's outbox claims and lease go by (see Config.lease_owner); "" = derived.
    instance_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{0,96}$")] = ""
    # SIGTERM: how long the drain waits for outstanding submit_sm_resp before unbinding anyway. At
    # most 45 s: the units' TimeoutStopSec=60 must cover it plus the batch in hand and the unbinds,
    # or systemd SIGKILLs the drain (raise both together, in a drop-in, for a longer one).
    drain_timeout_s: Annotated[float, Field(gt=0, le=45)] = 10.0

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        # Checked here rather than by building a Numbering: daemon.commands imports this module.
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {region!r}: an ISO 3166 alpha-2 code such as KE")
        return region

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        if currency not in babel.numbers.list_currencies():
            raise ValueError(f"unknown currency {currency!r}: an ISO 4217 code such as KES")
        # Money is counted in hundredths (MINOR_PER_MAJOR); a currency with other minor units
        # would be shown and charged wrongly.
        decimals = babel.numbers.get_currency_precision(currency)
        if decimals != 2:
            raise ValueError(f"{currency} has {decimals} decimal places; smscore counts hundredths")
        return currency


class DatabaseConfig(Section):
    url: str = ""  # empty: a SQLite file in service.state_dir
    threads: Annotated[int, Field(ge=1, le=64)] = 1
    max_retries: Annotated[int, Field(ge=0, le=20)] = 3
    # SQLite only: every this many seconds the WAL is checkpointed and truncated, so an MO's text
    # from before masking (a PIN) leaves smscore.db-wal (daemon.wal_checkpoint). 0: SQLite's own.
    wal_checkpoint_s: Annotated[float, Field(ge=0, le=86_400)] = 60.0

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if url and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return url


PASSWORD_MAX_CHARS = 8  # SMPP 3.4: a C-Octet String of 9 octets with its NUL
PASSWORD_SOURCES = ("password", "password_file", "password_env")


class BindPasswordError(ValueError):
    """The bind's password cannot be read; `key` is its key in the [[binds]] table."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class BindConfig(Section):
    """One SMPP bind. Binds go only to `host`: there is no other address an SMSC can send us to.

    The password comes from exactly one of `password` (the config text), `password_file` (a file
    readable only by the service, e.g. a systemd credential; one trailing newline is ignored) or
    `password_env` (an environment variable). It is read when the daemon starts (and by
    `smscore run --check`), kept as a SecretStr, and shown nowhere."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    host: str
    port: Port = 2775
    system_id: Annotated[str, Field(min_length=1, max_length=15)]
    # None of the three: allowed here, refused by `smscore run --check` and at start.
    password: Annotated[SecretStr, Field(strict=False)] = SecretStr("")
    password_file: FilePath | None = None
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")] | None = None
    system_type: Annotated[str, Field(max_length=12)] = ""
    bind_type: Annotated[BindType, Field(strict=False)] = BindType.TRANSCEIVER
    tps_limit: Annotated[float, Field(gt=0)] | None = None
    window: Annotated[int, Field(ge=1, le=1000)] = DEFAULT_WINDOW
    tls: bool = False
    tls_ca_file: FilePath | None = None
    serves: list[str] = []  # short codes / service numbers routed to this bind ([] = any)
    response_timeout_s: PositiveSeconds = DEFAULT_RESPONSE_TIMEOUT_S
    enquire_link_interval_s: PositiveSeconds = DEFAULT_ENQUIRE_LINK_INTERVAL_S
    reconnect_initial_delay_s: PositiveSeconds = DEFAULT_RECONNECT_INITIAL_DELAY_S
    reconnect_max_delay_s: PositiveSeconds = DEFAULT_RECONNECT_MAX_DELAY_S
    default_alphabet: Literal["gsm7", "gsm7-packed", "latin1", "ascii"] = "gsm7"
    concat_method: str = "udh8"
    # The USSD dialect of this bind's SMSC (smscore.ussd.Dialect); None: it carries SMS only.
    ussd_dialect: Annotated[Dialect, Field(strict=False)] | None = None

    @field_validator("concat_method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in METHODS:
            raise ValueError(f"must be one of {', '.join(METHODS)}")
        return method

    @field_validator("password")
    @classmethod
    def _password_fits(cls, password: SecretStr) -> SecretStr:
        if len(password.get_secret_value()) > PASSWORD_MAX_CHARS:
            raise ValueError(f"longer than {PASSWORD_MAX_CHARS} characters (the SMPP 3.4 limit)")
        return password

    @model_validator(mode="after")
    def _delays_ordered(self) -> "BindConfig":
        if self.reconnect_initial_delay_s > self.reconnect_max_delay_s:
            raise ValueError("reconnect_initial_delay_s exceeds reconnect_max_delay_s")
        given = self.password_sources()
        if len(given) > 1:
            raise ValueError(
                f"set only one of {', '.join(PASSWORD_SOURCES)}, not {' and '.join(given)}"
            )
        return self

    def password_sources(self) -> list[str]:
        return [
            key
            for key, value in zip(
                PASSWORD_SOURCES,
                (self.password.get_secret_value(), self.password_file, self.password_env),
                strict=True,
            )
            if value
        ]

    def read_password(self, environ: Mapping[str, str] = os.environ) -> SecretStr:
        """The password from where the config says; BindPasswordError (key, problem) if it cannot
        be had or is not a usable SMPP password. The message never holds the value."""
        if self.password_file is not None:
            key, secret = "password_file", _password_from_file(self.password_file)
        elif self.password_env is not None:
            key, secret = "password_env", environ.get(self.password_env)
            if secret is None:
                raise BindPasswordError(key, f"environment variable {self.password_env} is not set")
        else:
            key, secret = "password", self.password.get_secret_value()
        if not secret:
            where = "set password, password_file or password_env" if key == "password" else key
            raise BindPasswordError(key, f"empty ({where}): the SMSC will refuse the bind")
        if len(secret) > PASSWORD_MAX_CHARS:
            raise BindPasswordError(
                key,
                f"the password has {len(secret)} characters; SMPP 3.4 allows {PASSWORD_MAX_CHARS}",
            )
        return SecretStr(secret)


def _password_from_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BindPasswordError("password_file", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BindPasswordError("password_file", f"{path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


class TranProcConfig(Section):
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 200
    poll_interval_s: PositiveSeconds = 0.2


class SenderConfig(Section):
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 200
    poll_interval_s: PositiveSeconds = 0.2
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    retry_delay_s: PositiveSeconds = 30.0
    request_receipts: bool = True
    in_flight_timeout_s: PositiveSeconds = 120.0
    source_addr: str = ""  # default sender address when the reply has no MO to answer
    max_in_flight: Annotated[int, Field(ge=1, le=100_000)] = (
        2000  # parts submitted, not yet recorded
    )
    record_max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 20.0  # group commit of outcomes
    # The lease on this process's in_flight rows (daemon.outbox.leases): renewed every lease_renew_s;
    # once it is lease_ttl_s old, any sweeper re-queues the rows.
    lease_renew_s: PositiveSeconds = 2.0
    lease_ttl_s: PositiveSeconds = 10.0

    @model_validator(mode="after")
    def _lease_outlives_renewals(self) -> "SenderConfig":
        if self.lease_ttl_s < 2 * self.lease_renew_s:
            raise ValueError("lease_ttl_s must be at least twice lease_renew_s")
        return self


class SweeperConfig(Section):
    interval_s: PositiveSeconds = 5.0
    receipt_timeout_s: PositiveSeconds = 3600.0
    max_rows_per_step: Annotated[int, Field(ge=1, le=100_000)] = 1000  # bounded work per sweep


StatusListen = listen_address("127.0.0.1:8780")


class StatusConfig(Section):
    listen: StatusListen = "127.0.0.1:8780"  # port 0: any
    metrics: bool = True  # GET /metrics (Prometheus text format) on the same endpoint
    # GET /health/ready in the roles with binds: "all" configured binds up (the default: a bind
    # down means some traffic cannot flow), or "any" one of them (a process with spare binds).
    ready_binds: Literal["all", "any"] = "all"


class SecurityConfig(Section):
    pin_pepper_file: FilePath | None = None  # None: a pepper file is created in state_dir
    # Or the pepper (hex, >= 32 bytes) in this environment variable, e.g. from a systemd credential.
    pin_pepper_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")] | None = None
    pin_max_failures: Annotated[int, Field(ge=1, le=20)] = 3
    pin_lockout_s: PositiveSeconds = 900.0
    # One-time codes sent by SMS (daemon.security.otp_codes): a new device's enrolment, and a money
    # command above otp_amount_above_minor (0: never asked for). KES 50,000.00 by default: above
    # every tier-1 SEND (20,000), below the top tier's 250,000: a large payment from a stolen PIN
    # also needs the SIM.
    otp_digits: Annotated[int, Field(ge=6, le=8)] = 6
    otp_ttl_s: PositiveSeconds = 300.0
    otp_max_attempts: Annotated[int, Field(ge=1, le=10)] = 3  # wrong codes in a row, then locked
    otp_lockout_s: PositiveSeconds = 900.0
    otp_amount_above_minor: Annotated[int, Field(ge=0)] = 5_000_000

    @model_validator(mode="after")
    def _one_pepper_source(self) -> "SecurityConfig":
        if self.pin_pepper_file is not None and self.pin_pepper_env is not None:
            raise ValueError("give pin_pepper_file or pin_pepper_env, not both")
        return self


MONEY_COMMANDS = ("SEND", "DEPOSIT", "WITHDRAW", "COLLECT")
Days = Annotated[float, Field(gt=0, le=3650)]


class MoneyConfig(Section):
    tariff_file: FilePath | None = None  # None: the built-in tariff, documented in etc/tariff.toml
    timezone: str = "Africa/Nairobi"  # the day of the per-day limits starts at midnight here
    # Commands whose money is held pending until the sender's confirmation is delivered (the M-Pesa
    # rollback); the others post at once. Cash handed over at an agent cannot be "undone".
    post_on_delivery: list[Literal["SEND", "DEPOSIT", "WITHDRAW", "COLLECT", "PAY", "TILL"]] = [
        "SEND",
        "WITHDRAW",
    ]
    rollback_timeout_s: PositiveSeconds = 300.0  # no delivery receipt by then: voided, sender told
    settle_interval_s: PositiveSeconds = 1.0  # how often delivered confirmations are posted
    voucher_expiry_days: Days = 7.0  # unclaimed vouchers go back to the sender after this
    double_send_window_s: PositiveSeconds = 300.0  # same SEND again within this asks YES <code>
    confirm_above_minor: Annotated[int, Field(ge=0)] = 0  # SEND above this asks YES/NO; 0 = never
    confirm_timeout_s: PositiveSeconds = 120.0  # a held SEND not confirmed by then is released
    first_pin_code_ttl_s: PositiveSeconds = 86_400.0  # the code sent at registration
    agent_number_digits: Annotated[int, Field(ge=4, le=8)] = 6  # short agent numbers (WITHDRAW)
    request_expiry_s: PositiveSeconds = 3_600.0  # a REQ not paid or refused by then expires
    reversal_window_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 24.0  # REVERSE <ref> within

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (e.g. Africa/Nairobi, UTC)") from None
        return name


class Config(Section):
    service: ServiceConfig = ServiceConfig()
    database: DatabaseConfig = DatabaseConfig()
    logging: LoggingConfig = LoggingConfig()
    binds: list[BindConfig] = []
    inbox: InboxConfig = InboxConfig()
    tranproc: TranProcConfig = TranProcConfig()
    sender: SenderConfig = SenderConfig()
    sweeper: SweeperConfig = SweeperConfig()
    status: StatusConfig = StatusConfig()
    security: SecurityConfig = SecurityConfig()
    money: MoneyConfig = MoneyConfig()
    airtime: AirtimeConfig = AirtimeConfig()
    app: AppConfig = AppConfig()
    fraud: FraudConfig = FraudConfig()  # daemon.security.fraud_config
    receipts: ReceiptsConfig = ReceiptsConfig()
    ussd: UssdConfig = UssdConfig()
    api: ApiConfig = ApiConfig()  # daemon.config_api
    channels: ChannelsConfig = ChannelsConfig()
    seal: SealConfig = SealConfig()  # daemon.config_seal (issue 18, seal)

    @model_validator(mode="after")
    def _unique_bind_names(self) -> "Config":
        names = [bind.name for bind in self.binds]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"bind names must be unique, repeated: {', '.join(duplicates)}")
        return self

    def ussd_sms_source(self, bind_name: str | None) -> str:
        """Where SMS about a USSD dialogue come from (the dialled code, *334#, cannot send one):
        sender.source_addr, else the first short code the dialogue's bind serves ("": neither,
        which `smscore run --check` refuses for a bind with a ussd_dialect)."""
        if self.sender.source_addr:
            return self.sender.source_addr
        bind = next((bind for bind in self.binds if bind.name == bind_name), None)
        return bind.serves[0] if bind is not None and bind.serves else ""

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.service.state_dir / 'smscore.db'}"

    @property
    def lease_owner(self) -> str:
        """service.instance_name, or host-role-digest of the database URL: stable across restarts
        of one process slot (so it finds its own rows), different for each role and database."""
        if self.service.instance_name:
            return self.service.instance_name
        try:
            where = display_url(self.database_url)
        except ArgumentError:  # opening it fails at start-up with the reason; the name is moot
            where = self.database_url
        digest = hashlib.sha256(where.encode()).hexdigest()[:8]
        return f"{socket.gethostname()[:64]}-{self.service.role}-{digest}"


def load_config(
    path: Path | None, overrides: dict | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate a config file (None: defaults); over it the environment's `SMSCORE_...`
    overrides (daemon.config_env; `environ` None: os.environ), then `overrides` (the command
    line's options) merged over its sections."""
    data: dict = {}
    where = str(path) if path is not None else "<command line>"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    found = env_overrides(os.environ if environ is None else environ, Config)
    origins = apply_overrides(data, found)
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return build_config(data, where, origins)


def build_config(
    data: dict, where: str = "<config>", origins: Mapping[str, str] | None = None
) -> Config:
    """`origins`: {dotted key: environment variable} for the keys an override set, so a bad value
    is reported as the variable's."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_problem(where, exc, origins or {})) from None


# Keys an older smscore read: a config that still sets one is told what replaced it.
_NUMBERING_RETIRED = 'no longer used: numbers follow service.region (e.g. region = "KE"); delete it'
RETIRED_KEYS = {
    "service.country_code": _NUMBERING_RETIRED,
    "service.national_number_digits": _NUMBERING_RETIRED,
}


def _first_problem(where: str, exc: ValidationError, origins: Mapping[str, str]) -> str:
    errors = exc.errors()
    error = next((e for e in errors if _key_path(e) in RETIRED_KEYS), errors[0])
    key = _key_path(error)
    where = _origin(where, key, origins)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = RETIRED_KEYS.get(key, "unknown key")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {key}: {message}{more}"


def _origin(where: str, key: str, origins: Mapping[str, str]) -> str:
    """The environment variable that set `key` (or a key in it), else the file."""
    for overridden, variable in origins.items():
        if key == overridden or key.startswith(f"{overridden}."):
            return f"environment variable {variable}"
    inside = [
        variable for overridden, variable in origins.items() if overridden.startswith(f"{key}.")
    ]
    return f"{where} with environment variable {', '.join(inside)}" if inside else where


def _key_path(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def parse_smsc_option(option: str, index: int) -> dict:
    """`--smsc SYSTEM_ID:PASSWORD@HOST:PORT` as a [[binds]] table."""
    credentials, at, address = option.rpartition("@")
    system_id, _, password = credentials.partition(":")
    host, _, port = address.rpartition(":")
    if not at or not system_id or not host or not port.isdigit():
        raise ConfigError(
            f"--smsc {option!r}: expected SYSTEM_ID:PASSWORD@HOST:PORT, e.g. smscore:secret@127.0.0.1:2775"
        )
    return {
        "name": f"smsc{index}",
        "host": host,
        "port": int(port),
        "system_id": system_id,
        "password": password,
    }
