"""Every default of an SMPP bind, defined once.

smscore's own classes (SessionTimers, ReconnectPolicy, PersistentBind) and the daemon's and the
simulator's config sections take their defaults from here, so a default changes in one place.
"""

# Requests outstanding before we wait for responses. Kannel's `max-pending-submits` defaults to 10
# ("no more than 10 SMPP messages outstanding" is its guideline) and most SMSCs accept that without
# throttling; raise it per bind when the SMSC allows more.
DEFAULT_WINDOW = 10

# The largest window a session accepts: a bound on the outstanding table (one entry per request).
MAX_WINDOW = 10_000

# How long a request waits for its response. SMPP 3.4 leaves it to the implementation; the
# transaction timer of common stacks (jsmpp/Camel, TIBCO) defaults to 10 s, and it is what the
# daemon's config has always documented. Much longer only delays noticing a stuck link.
DEFAULT_RESPONSE_TIMEOUT_S = 10.0

# Idle time before we probe the link with enquire_link. Kannel's `enquire-link-interval` and
# Jasmin's `elink_interval` default to 30 s; SMSCs complain about much shorter probes and NAT
# middleboxes drop idle TCP after a few minutes.
DEFAULT_ENQUIRE_LINK_INTERVAL_S = 30.0

# Reconnect backoff: the first retry after 1 s (a dropped link usually comes back at once), then
# doubling, capped at a minute so an SMSC back from maintenance is found within a minute.
DEFAULT_RECONNECT_INITIAL_DELAY_S = 1.0
DEFAULT_RECONNECT_MAX_DELAY_S = 60.0
DEFAULT_RECONNECT_FACTOR = 2.0
# A link that drops less than this after its bind succeeded counts as a failed attempt: an SMSC that
# takes the bind and then breaks the link at once (a broken or hostile one) is retried with a growing
# delay, not every initial delay for ever. One enquire_link interval: a link that carried traffic.
DEFAULT_STABLE_LINK_S = DEFAULT_ENQUIRE_LINK_INTERVAL_S

# How long a deliberate stop waits for the SMSC's unbind_resp before it closes the connection
# anyway: one response timeout, the time any other request gets.
DEFAULT_UNBIND_TIMEOUT_S = DEFAULT_RESPONSE_TIMEOUT_S
