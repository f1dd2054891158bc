"""Delivery receipts: which outcome a message gets, when, and the deliver_sm that reports it."""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from simulators.addresses import ton_npi
from simulators.config import STAT_WORDS, DlrConfig
from simulators.store import StoredMessage
from smscore.constants import RECEIPT_MASK, EsmClass, MessageState, RegisteredDelivery
from smscore.pdu import DeliverSm
from smscore.tlv import NetworkErrorCode

_GSM_NETWORK = 3  # network_error_code's network type: 3 is GSM (spec 5.3.2.31)
# err: when the config names none: 0 where nothing went wrong on the network side; UNDELIV and
# REJECTD carry a non-zero code, as SMSCs give one (the values themselves are the SMSC's own).
_DEFAULT_ERR = {"DELIVRD": 0, "UNDELIV": 1, "EXPIRED": 0, "REJECTD": 2, "DELETED": 0}
# registered_delivery bits 0-1 = 3: a receipt on success only (SMPP 5.0; 3.4 leaves it reserved).
_RECEIPT_ON_SUCCESS = 3
_RECEIPT_DATE_FORMAT = "%y%m%d%H%M"  # YYMMDDhhmm, as appendix B writes submit date and done date


@dataclass(frozen=True, slots=True)
class Outcome:
    state: MessageState
    error_code: int
    delay_s: float


class OutcomePicker:
    """Per-destination rules first (by prefix), else a weighted draw from the configured mix."""

    def __init__(self, config: DlrConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self._stats = [stat for stat, weight in config.outcomes.items() if weight > 0]
        self._weights = [config.outcomes[stat] for stat in self._stats]
        # One outcome for every message (the usual config): no rule scan, no draw, no new object.
        self._only: Outcome | None = None
        if not config.rule and len(self._stats) == 1:
            self._only = self._drawn(self._stats[0])

    def pick(self, destination_addr: str) -> Outcome:
        if self._only is not None:
            return self._only
        for rule in self.config.rule:
            if destination_addr.startswith(rule.prefix):
                delay_s = self.config.delay_s if rule.delay_s is None else rule.delay_s
                return Outcome(STAT_WORDS[rule.outcome], rule.err, delay_s)
        if len(self._stats) == 1:
            stat = self._stats[0]
        else:
            stat = self.rng.choices(self._stats, self._weights)[0]
        return self._drawn(stat)

    def _drawn(self, stat: str) -> Outcome:
        error_code = self.config.errors.get(stat, _DEFAULT_ERR.get(stat, 0))
        return Outcome(STAT_WORDS[stat], error_code, self.config.delay_s)


def wants_receipt(registered_delivery: int, state: MessageState) -> bool:
    """registered_delivery bits 0-1: 1 always, 2 on failure only, 3 on success only (SMPP 5.0 meaning)."""
    requested = registered_delivery & RECEIPT_MASK
    delivered = state is MessageState.DELIVERED
    return (
        requested == RegisteredDelivery.RECEIPT_ALWAYS
        or (requested == RegisteredDelivery.RECEIPT_ON_FAILURE and not delivered)
        or (requested == _RECEIPT_ON_SUCCESS and delivered)
    )


def _receipt_date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(_RECEIPT_DATE_FORMAT)


def receipt_text(
    message: StoredMessage, state: MessageState | None = None, at_s: float | None = None
) -> str:
    """The de-facto receipt format (SMPP 3.4 appendix B as SMSCs implement it); `state` and
    `at_s` for an intermediate notification (the message's own state and done time otherwise)."""
    state = message.state if state is None else state
    done_s = message.done_at_s if at_s is None else at_s
    assert done_s is not None
    # sub: and dlvrd: count messages (3 digits); a stored message is one, delivered or not.
    delivered = "001" if state is MessageState.DELIVERED else "000"
    error_code = message.error_code if state.is_final else 0
    return (
        f"id:{message.reported_id} sub:001 dlvrd:{delivered}"
        f" submit date:{_receipt_date(message.submitted_at_s)}"
        f" done date:{_receipt_date(done_s)}"
        f" stat:{state.stat} err:{error_code:03d} text:{message.preview()}"
    )


def receipt_pdu(message: StoredMessage, dpf_result: int | None = None) -> DeliverSm:
    """The deliver_sm carrying a receipt back to the submitter (addresses swapped, TLVs set);
    `dpf_result` (0/1) when the message asked set_dpf and failed (spec 5.3.2.28)."""
    tlvs: dict[str | int, object] = {
        "receipted_message_id": message.reported_id,
        "message_state": int(message.state),
    }
    if message.state is not MessageState.DELIVERED:
        tlvs["network_error_code"] = NetworkErrorCode(_GSM_NETWORK, message.error_code)
    if dpf_result is not None:
        tlvs["dpf_result"] = dpf_result
    text = receipt_text(message)
    return _to_submitter(message, EsmClass.TYPE_DELIVERY_RECEIPT, text, tlvs)


def intermediate_pdu(
    message: StoredMessage, at_s: float, state: MessageState = MessageState.ENROUTE
) -> DeliverSm:
    """An intermediate notification (esm_class 0x20): the message is on its way, not final."""
    tlvs: dict[str | int, object] = {
        "receipted_message_id": message.reported_id,
        "message_state": int(state),
    }
    text = receipt_text(message, state, at_s)
    return _to_submitter(message, EsmClass.TYPE_INTERMEDIATE_NOTIFICATION, text, tlvs)


def _to_submitter(
    message: StoredMessage, esm_class: int, text: str, tlvs: dict[str | int, object]
) -> DeliverSm:
    source_ton, source_npi = ton_npi(message.destination_addr)
    dest_ton, dest_npi = ton_npi(message.source_addr)
    return DeliverSm(
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=message.destination_addr,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=message.source_addr,
        esm_class=esm_class,
        short_message=text.encode("ascii"),
        tlvs=tlvs,
    )


def parse_receipt(text: str) -> Mapping[str, str]:
    """Fields of a receipt text (keys as written: 'id', 'stat', 'submit date', ...)."""
    fields: dict[str, str] = {}
    head, _, rest = text.partition(" text:")
    fields["text"] = rest
    for key in ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err"):
        marker = f"{key}:"
        start = head.find(marker)
        if start >= 0:
            value = head[start + len(marker) :]
            fields[key] = value.split(" ", 1)[0]
    return fields
