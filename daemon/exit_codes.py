"""The exit codes of `smscore run` (and of every smscore command), as systemd units expect them.

systemd/smscore.service restarts the daemon on any failure (`Restart=on-failure`) except a bad config
(`RestartPreventExitStatus=2`): restarting cannot fix a file the operator must edit, and restarting
can fix a database server that was down or a port another process held for a while.

| code | meaning | examples |
| --- | --- | --- |
| 0 | clean stop | SIGTERM or SIGINT (after the drain), `--check` passed |
| 1 | start-up failed, worth retrying | database unreachable (PostgreSQL down, a closed port), an address of `status.listen` or `api.listen` in use, a key file that vanished |
| 2 | bad config or usage: fix it, then start again | invalid TOML, an unknown key or value, a password file that cannot be read, a state directory or SQLite file that cannot be created, a missing `${CREDENTIALS_DIRECTORY}` |
| 3 | the ledger's state is refused: a person must look | fewer transfers than the seal says (restored from an older copy, a truncated SQLite WAL), a head that does not continue the sealed one, a hash chain broken in its tail, a damaged seal file (daemon.seal_guard); `smscore run --accept-ledger-state` runs on it anyway |

Restarting cannot mend a ledger either: 3 is in `RestartPreventExitStatus=` too.

An unreachable SMSC is none of these: the daemon runs, its binds retry with backoff and `/health`
says which bind is down and why.
"""

OK = 0
FAILURE = 1  # systemd restarts the unit (Restart=on-failure)
CONFIG = (
    2  # systemd does not restart it (RestartPreventExitStatus=2); click's usage errors are 2 too
)
LEDGER = 3  # not restarted either (RestartPreventExitStatus=2 3): restore, or accept the state
