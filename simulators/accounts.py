"""ESME accounts: who may bind, as what, how many times at once, and how fast they may submit."""

from collections.abc import Callable, Iterable

from simulators.config import AccountConfig
from smscore.constants import CommandId
from smscore.pdu import PDU
from smscore.ratelimit import TokenBucket
from smscore.status import CommandStatus

_BIND_TYPE_OF = {
    CommandId.BIND_TRANSMITTER: "transmitter",
    CommandId.BIND_RECEIVER: "receiver",
    CommandId.BIND_TRANSCEIVER: "transceiver",
}


class Accounts:
    """Checks binds like a real SMSC; with no accounts configured, any credentials bind (open mode)."""

    def __init__(self, accounts: Iterable[AccountConfig]) -> None:
        self.by_system_id = {account.system_id: account for account in accounts}
        self._buckets: dict[str, TokenBucket] = {}
        self._mo_prefixes = [
            (account.system_id, account.mo_prefixes)
            for account in self.by_system_id.values()
            if account.mo_prefixes
        ]

    @property
    def open_mode(self) -> bool:
        return not self.by_system_id

    def bind_status(self, bind: PDU, binds_in_use: Callable[[str], int]) -> int:
        """The command_status for a bind request, given how many binds its system_id already holds."""
        if self.open_mode:
            return CommandStatus.ESME_ROK
        account = self.by_system_id.get(bind.system_id)
        if account is None:
            return CommandStatus.ESME_RINVSYSID
        if bind.password != account.password:
            return CommandStatus.ESME_RINVPASWD
        if _BIND_TYPE_OF[bind.command_id] not in account.bind_types:
            return CommandStatus.ESME_RBINDFAIL
        if binds_in_use(bind.system_id) >= account.max_binds:
            return account.max_binds_status
        return CommandStatus.ESME_ROK

    def within_tps(self, system_id: str, now_s: float) -> bool:
        """Take one submit from the account's TPS allowance; False means answer ESME_RTHROTTLED."""
        account = self.by_system_id.get(system_id)
        if account is None or account.tps_limit is None:
            return True
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = self._buckets[system_id] = TokenBucket(account.tps_limit, now_s=now_s)
        return bucket.try_take(now_s)

    def mo_recipients(self, destination: str) -> tuple[str, ...] | None:
        """system_ids whose mo_prefixes claim `destination` (None: no account claims it; any may have it)."""
        if not self._mo_prefixes:
            return None
        claimed = tuple(
            system_id
            for system_id, prefixes in self._mo_prefixes
            if any(destination.startswith(prefix) for prefix in prefixes)
        )
        return claimed or None
