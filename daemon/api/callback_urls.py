"""Which callback URLs the engine will PUT to: http(s) only, plain http only to the hosts in `[api]
callback_http_hosts` (a callback carries money results: outside a test bench it goes over TLS), no
credentials in the URL (it is stored and shown by `smscore admin callbacks`), ASCII, at most the
column's length. Checked when a request comes in (X-Callback-URL) and again before each delivery
(the config may have changed since), where a bad one fails the callback instead of the deliverer.

No callback goes to this machine or an internal network (SSRF): a host that is `localhost` or an
address literal that is not global (private, loopback, link-local, reserved) is refused unless it
is listed in callback_http_hosts. A DNS name is not resolved here; one that resolves to an
internal address is not caught yet (that needs the resolved address checked at connect time).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from daemon.api.errors import ApiError, validation_error
from daemon.config import Config

HEADER = "X-Callback-URL"
URL_MAX_CHARS = 1024  # api_requests.callback_url, api_callbacks.url


def callback_url_problem(url: str, http_hosts: list[str]) -> str | None:
    """Why `url` is not a callback URL, or None if it is one."""
    if not url:
        return "empty"
    if len(url) > URL_MAX_CHARS:
        return f"longer than {URL_MAX_CHARS} characters"
    if not url.isascii() or not url.isprintable() or " " in url:
        return "not printable ASCII without spaces (percent-encode it)"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http:// for a test host)"
    host = (parts.hostname or "").lower()
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if parts.fragment:
        return "must not have a #fragment"
    if port == 0:
        return "port 0"
    allowed = {name.lower() for name in http_hosts}
    if parts.scheme == "http" and host not in allowed:
        return f"plain http is allowed only to {', '.join(http_hosts) or 'no host'}: use https"
    if host not in allowed and _internal(host):
        return "an internal address (private, loopback or link-local): not a callback's"
    return None


def _internal(host: str) -> bool:
    """A name for this machine, or an address literal no business's receiver has."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a DNS name (see the module's note)
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    return not address.is_global or address.is_multicast


def check_callback_url(url: str, config: Config) -> str:
    """The URL to store for a request's X-Callback-URL; ApiError (validation, formatError) naming
    the header if the engine would not deliver to it."""
    problem = callback_url_problem(url.strip(), config.api.callback_http_hosts)
    if problem is not None:
        raise _refused(problem)
    return url.strip()


def _refused(problem: str) -> ApiError:
    return validation_error("formatError", HEADER, f"{HEADER}: {problem}")
