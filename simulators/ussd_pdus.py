"""The PDUs of the simulator's USSD dialogues, through the dialect codecs the daemon uses too
(smscore.ussd_dialects): deliver_sm the network sends, the ESME's submit_sm read as a screen."""

from __future__ import annotations

from typing import Any

from simulators.addresses import MAX_ADDRESS_LENGTH, ton_npi
from simulators.mo import InvalidMO
from smscore.constants import Npi, Ton
from smscore.errors import SMPPError
from smscore.pdu import DeliverSm
from smscore.status import CommandStatus
from smscore.text import DataCoding, TextDecodingError, decode_text, gsm7_septet_length
from smscore.ussd import (
    MAX_GSM7_SEPTETS,
    MAX_UCS2_OCTETS,
    Dialect,
    UssdMessage,
    UssdOp,
    UssdTextTooLong,
    encode_ussd_text,
)
from smscore.ussd_dialects import UMR_RELEASE_OP, UssdFieldError, read_ussd, ussd_submit_params


class ScreenRefused(SMPPError):
    """A USSD submit_sm the network cannot take; `status` is its submit_sm_resp."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def release_op(dialect: Dialect) -> int:
    """The op of the network's release: umr carries the end in the op, the others in a flag (sent
    beside the op of a subscriber's answer)."""
    return UMR_RELEASE_OP if dialect is Dialect.UMR else int(UssdOp.USSR_CONFIRM)


def dialogue_pdu(
    dialect: Dialect, msisdn: str, code: str, text: str, message: UssdMessage
) -> DeliverSm:
    """The deliver_sm from subscriber `msisdn` in the dialogue on service `code`.
    Raises InvalidMO for an address or text the network cannot carry."""
    for what, address in (("msisdn", msisdn), ("code", code)):
        if not address or len(address) > MAX_ADDRESS_LENGTH or not address.isprintable():
            raise InvalidMO(f"{what!r} must be 1..{MAX_ADDRESS_LENGTH} printable characters")
    try:
        data_coding, octets = encode_ussd_text(text)
    except UssdTextTooLong as exc:
        raise InvalidMO(str(exc)) from None
    source_ton, source_npi = ton_npi(msisdn)
    params: dict[str, Any] = ussd_submit_params(dialect, message)
    return DeliverSm(
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=msisdn,
        # A service code (*334#) is dialled digits, not an alphanumeric sender.
        dest_addr_ton=Ton.UNKNOWN,
        dest_addr_npi=Npi.ISDN,
        destination_addr=code,
        data_coding=data_coding,
        short_message=octets,
        **params,
    )


def read_screen(dialect: Dialect, pdu: Any) -> tuple[UssdMessage, str] | None:
    """(dialogue fields, text) of a submit_sm in `dialect`; None: it carries no USSD.
    Raises ScreenRefused for malformed dialogue fields or a text too long for one USSD string."""
    try:
        message = read_ussd(dialect, pdu)
    except UssdFieldError as exc:
        raise ScreenRefused(str(exc), exc.status) from None
    if message is None:
        return None
    body = pdu.tlvs.get("message_payload") or pdu.short_message
    try:
        text = decode_text(bytes(body), pdu.data_coding)
    except (TextDecodingError, ValueError) as exc:
        raise ScreenRefused(f"screen text: {exc}", CommandStatus.ESME_RINVDCS) from None
    _check_length(text, bytes(body), pdu.data_coding)
    return message, text


def _check_length(text: str, body: bytes, data_coding: int) -> None:
    if data_coding == DataCoding.UCS2:
        fits, size = len(body) <= MAX_UCS2_OCTETS, f"{len(body)} UCS-2 octets"
    else:
        try:
            septets = gsm7_septet_length(text)
        except ValueError:
            septets = len(body)
        fits, size = septets <= MAX_GSM7_SEPTETS, f"{septets} characters"
    if not fits:
        raise ScreenRefused(
            f"screen of {size} does not fit one USSD string", CommandStatus.ESME_RINVMSGLEN
        )
