"""Config sections of the optional services: airtime (`[airtime]`), the encrypted app channel
(`[app]`), signed receipts (`[receipts]`) and USSD menus (`[ussd]`). Kept out of daemon/config.py (which re-exports them)
so that module stays one screen per section."""

import re
from typing import Annotated

from pydantic import Field, field_validator

from daemon.config_base import FilePath, Port, PositiveSeconds, Section


class AirtimeConfig(Section):
    """BUY: airtime bought from a provider over its HTTP JSON API (daemon.money.airtime_gateway).
    The default URL is the provider the bundled simulator serves (`smscore sim`)."""

    enabled: bool = False  # off: BUY answers that airtime is not available
    # No user:password@ in it: the URL is logged; credentials go in username and password_file.
    url: str = "http://127.0.0.1:8775/airtime/v1"
    username: Annotated[str, Field(max_length=64)] = "smscore"
    # The provider's password, one line in a file of its own (a secret: read at start-up, never
    # logged); required when enabled.
    password_file: FilePath | None = None
    timeout_s: PositiveSeconds = 10.0  # unanswered by then: outcome unknown, queried later
    query_after_s: PositiveSeconds = 30.0  # the first query of an unknown outcome comes this late
    backoff: Annotated[float, Field(ge=1, le=10)] = 2.0  # each further query waits this much longer
    max_query_interval_s: PositiveSeconds = 900.0  # ... but never longer than this
    max_queries: Annotated[int, Field(ge=1, le=100)] = 8  # still unknown after these: voided
    late_checks: Annotated[int, Field(ge=0, le=100)] = 2  # queries after a void, for late successes
    poll_interval_s: PositiveSeconds = 1.0  # how often due orders are looked for
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50  # orders sent or queried at once, at most

    @field_validator("url")
    @classmethod
    def _plain_http_url(cls, url: str) -> str:
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
            raise ValueError(
                "must be an http:// or https:// URL, e.g. http://127.0.0.1:8775/airtime/v1"
            )
        if "@" in url.split("/")[2]:
            raise ValueError(
                "must not hold user:password@ (it is logged): use username and password_file"
            )
        return url


class AppConfig(Section):
    """The encrypted app channel (daemon.security.channel): enrolled devices' messages."""

    port: Port = 16561  # the UDH application port of 8-bit app messages (16000-16999: apps)
    # A counter up to this far below the highest accepted is still taken once (SMS come out of
    # order); further behind: refused as stale.
    counter_window: Annotated[int, Field(ge=1, le=62)] = 32
    counter_max_ahead: Annotated[int, Field(ge=1)] = 10_000  # a bigger jump: refused as stale
    # The server's X25519 private key (a secret, 0600); None: `app_key` in service.state_dir,
    # created at first start like the PIN pepper.
    key_file: FilePath | None = None
    # Offline transfers (daemon.security.offline): how long after signing one may still post.
    offline_max_validity_s: Annotated[float, Field(gt=0, le=30 * 86_400)] = 3 * 86_400.0


class ReceiptsConfig(Section):
    """Signed confirmations (daemon.security.receipts): a tag in every money confirmation SMS."""

    enabled: bool = True
    key_dir: FilePath | None = None  # None: state_dir/receipt-keys, made (0700) at first start
    tag_chars: Annotated[int, Field(ge=6, le=8)] = (
        7  # base32 characters, 5 bits each; new keys only
    )


class UssdConfig(Section):
    """USSD menus (daemon.ussd): sessions on binds with a `ussd_dialect`, walking a menu file."""

    # The menu document (daemon.ussd.menu_file); None: the menu shipped with smscore. It is checked
    # at start (a broken one: exit 2) and every `reload_check_s` (a broken one: the running menu
    # stays, and the error is logged once).
    menu_file: FilePath | None = None
    reload_check_s: PositiveSeconds = 5.0
    # The network's limits: a dialogue ends this long after it began, and each screen must reach
    # the network within answer_timeout_s of the subscriber's answer (later, the network has gone).
    session_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 180.0
    answer_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    # An MO equal to an earlier one of the same dialogue this soon after it (or after the last
    # screen was queued) is the SMSC's copy, not the subscriber's answer (daemon.ussd.copies):
    # above the SMSC's deliver_sm retry delay, below a person's time to read a screen and answer.
    copy_window_s: Annotated[float, Field(ge=0, le=30)] = 2.0
    screen_max_chars: Annotated[int, Field(ge=40, le=182)] = 182  # GSM-7; UCS-2 screens: 80
