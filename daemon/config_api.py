"""Config sections of the HTTP interfaces: the business API (`[api]`, the GSMA Mobile Money API
subset in daemon.api) and the app's private event channels (`[channels]`, daemon.channels). Kept out
of daemon/config.py (which re-exports them) so that module stays one screen per section."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from daemon.config_base import FilePath, PositiveSeconds, Section

_HOST_PORT = re.compile(r"[^:]+:[0-9]{1,5}")


def listen_address(example: str) -> Any:
    """The type of a `listen` key: HOST:PORT (port 0: any free one); a bad value is told what is
    expected, with `example`, rather than shown a pattern."""

    def check(listen: str) -> str:
        if not _HOST_PORT.fullmatch(listen):
            raise ValueError(f"{listen!r} is not HOST:PORT, e.g. {example}")
        if int(listen.rsplit(":", 1)[1]) > 65_535:
            raise ValueError("the port must be 0 (any free port) to 65535")
        return listen

    return Annotated[str, AfterValidator(check)]


Listen = listen_address("127.0.0.1:8790")


class ApiConfig(Section):
    """The HTTP server of the business API and the channels (roles `all` and `lis`), its worker
    (where the TranProc runs) and the callback deliverer (beside the sender)."""

    enabled: bool = True
    listen: Listen = "127.0.0.1:8790"
    # Published in the OpenAPI document's `servers` and used in `Location` headers; "" = derived
    # from `listen`.
    public_url: Annotated[str, Field(pattern=r"^(https?://[^\s]+)?$")] = ""
    idempotency_days: Annotated[float, Field(gt=0, le=365)] = 7.0  # X-CorrelationID kept this long
    max_body_bytes: Annotated[int, Field(ge=1024, le=10_000_000)] = 1_000_000
    worker_interval_s: PositiveSeconds = 0.2  # how often accepted requests are looked for
    worker_batch_size: Annotated[int, Field(ge=1, le=5000)] = 100
    poll_limit: Annotated[int, Field(ge=1, le=1000)] = 100  # pollLimit of a request state
    # A merchant-initiated payment (merchantpay with the customer as debit party) fails if the
    # customer has not approved it by then.
    approval_timeout_s: PositiveSeconds = 300.0
    # Per business unless `smscore admin business` sets its own: requests per second and burst.
    rate_limit_per_s: Annotated[float, Field(gt=0, le=100_000)] = 20.0
    rate_limit_burst: Annotated[int, Field(ge=1, le=100_000)] = 40
    # Callbacks (PUT to X-Callback-URL, signed): retried with backoff until delivered or out of tries.
    callback_timeout_s: PositiveSeconds = 10.0
    callback_first_retry_s: PositiveSeconds = 5.0
    callback_backoff: Annotated[float, Field(ge=1, le=10)] = 2.0
    callback_max_interval_s: PositiveSeconds = 3600.0
    callback_max_attempts: Annotated[int, Field(ge=1, le=100)] = 12
    callback_interval_s: PositiveSeconds = 1.0  # how often due callbacks are looked for
    callback_max_in_flight: Annotated[int, Field(ge=1, le=10_000)] = 20
    # The secret callbacks' signatures derive from (one per business): a file of its own, 0600,
    # made at first start like the PIN pepper; None: `api_callback_key` in service.state_dir.
    callback_key_file: FilePath | None = None
    # Callback URLs must be http(s); these hosts may use plain http (tests, the demo's receiver).
    callback_http_hosts: list[str] = ["127.0.0.1", "localhost"]
    # api-core: the access log (one row per answer) is kept this long; housekeeping (pruning it and
    # forgetting requests past idempotency_days) runs this often, this many rows per transaction.
    access_log_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    housekeeping_interval_s: PositiveSeconds = 60.0
    housekeeping_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # GET /heartbeat says "degraded" when an accepted request has waited this long for the worker.
    heartbeat_degraded_s: PositiveSeconds = 30.0
    # api-batches: bulk disbursements (POST /batchtransactions), refused whole above these bounds.
    batch_max_items: Annotated[int, Field(ge=1, le=100_000)] = 1000
    batch_max_total_minor: Annotated[int, Field(ge=1)] = 1_000_000_000  # 10,000,000.00 a batch
    # fix-front: before authentication, each remote address may send this many requests a second
    # (burst: this many at once); an authenticated request gives its token back. The access log is
    # written every access_log_flush_ms or access_log_batch_rows rows, one transaction a batch; past
    # access_log_buffer_rows unwritten rows, new ones are dropped (and counted).
    preauth_rate_per_s: Annotated[float, Field(gt=0, le=100_000)] = 20.0
    preauth_burst: Annotated[int, Field(ge=1, le=100_000)] = 200
    access_log_flush_ms: Annotated[int, Field(ge=10, le=60_000)] = 1000
    access_log_batch_rows: Annotated[int, Field(ge=1, le=100_000)] = 500
    access_log_buffer_rows: Annotated[int, Field(ge=1, le=1_000_000)] = 20_000
    # fix-front: a connection that sends nothing of its request for this long is closed (not
    # while it is being answered: streams and long polls are not cut); at most this many open.
    request_timeout_s: PositiveSeconds = 30.0
    max_connections: Annotated[int, Field(ge=1, le=1_000_000)] = 1000


class ChannelsConfig(Section):
    """Each app subscriber's private, ordered, encrypted event channel (daemon.channels)."""

    enabled: bool = True
    token_days: Annotated[float, Field(gt=0, le=365)] = 30.0  # a channel token's lifetime
    # The key channel tokens are signed with, and the one event keys derive from (secrets, 0600,
    # made at first start); None: `channel_token_key` / `channel_event_key` in service.state_dir.
    token_key_file: FilePath | None = None
    event_key_file: FilePath | None = None
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100  # events per pull
    stream_poll_s: PositiveSeconds = 0.5  # how often open streams look for new events
    stream_keepalive_s: PositiveSeconds = 15.0
    max_streams: Annotated[int, Field(ge=1, le=100_000)] = 1000
    long_poll_max_s: PositiveSeconds = 30.0
    # A device that has not pulled for this long gets one app-port SMS telling it to pull when a new
    # event arrives (at most one per push_min_interval_s).
    push_after_s: PositiveSeconds = 900.0
    push_min_interval_s: PositiveSeconds = 3600.0
    push_interval_s: PositiveSeconds = 5.0  # how often devices to push are looked for
    # fix-front: tokens are refreshed (POST /channels/me/token) until this long after the device
    # last signed a token request (POST /channels/token); a refreshed token never lasts longer.
    grant_days: Annotated[float, Field(gt=0, le=3650)] = 90.0
