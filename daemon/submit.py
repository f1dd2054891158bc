"""Building submit_sm PDUs for outbox rows: addresses (TON/NPI), concatenation references, and
USSD screens (one PDU in the session, in the bind's dialect)."""

from daemon.outbox import UssdScreen
from smscore.concat import MessagePart
from smscore.constants import EsmClass, Npi, RegisteredDelivery, Ton
from smscore.pdu import SubmitSm
from smscore.ussd import Dialect, UssdMessage, encode_ussd_text
from smscore.ussd_dialects import ussd_submit_params

# submit_sm source_addr / destination_addr are C-Octet Strings of at most 21 octets, the NUL
# included (SMPP 3.4, 4.4.1).
MAX_ADDRESS_CHARS = 20
# All digits, no national trunk prefix ("0") and at least this long: taken to carry its country code
# (254712345678, 12 digits), so international. Short codes are far shorter (4-6 digits), and
# national numbers are written with their trunk 0 (0712345678). A plan whose national numbers
# have 10 digits and no trunk prefix (North America) must use +E.164 addresses.
MIN_INTERNATIONAL_DIGITS = 10
_UDH8_REFERENCE_MASK = 0xFF  # 8-bit concatenation reference (IEI 0x00)
_UDH16_REFERENCE_MASK = 0xFFFF  # 16-bit reference (IEI 0x08) and the sar_msg_ref_num TLV


def address_type(address: str) -> tuple[int, int, str]:
    """(ton, npi, digits) for an address: +international, 0national, short code, or alphanumeric."""
    if address.startswith("+") and address[1:].isdigit():
        return Ton.INTERNATIONAL, Npi.ISDN, address[1:]
    if address.isascii() and address.isdigit():
        if address.startswith("0"):
            return Ton.NATIONAL, Npi.ISDN, address
        if len(address) >= MIN_INTERNATIONAL_DIGITS:
            return Ton.INTERNATIONAL, Npi.ISDN, address
        return Ton.UNKNOWN, Npi.ISDN, address
    return Ton.ALPHANUMERIC, Npi.UNKNOWN, address


def address_problem(address: str, what: str) -> str | None:
    if not address:
        return f"{what} is empty"
    if len(address) > MAX_ADDRESS_CHARS or not address.isascii():
        return (
            f"{what} {address!r} is not an SMPP address "
            f"(at most {MAX_ADDRESS_CHARS} ASCII characters)"
        )
    return None


def _addresses(source: str, destination: str) -> dict[str, int | str]:
    """A submit_sm's six address fields, each address with the TON/NPI its form implies."""
    source_ton, source_npi, source_addr = address_type(source)
    dest_ton, dest_npi, destination_addr = address_type(destination)
    return {
        "source_addr_ton": source_ton, "source_addr_npi": source_npi, "source_addr": source_addr,
        "dest_addr_ton": dest_ton, "dest_addr_npi": dest_npi, "destination_addr": destination_addr,
    }  # fmt: skip


def build_submit(
    source: str, destination: str, part: MessagePart, request_receipt: bool
) -> SubmitSm:
    return SubmitSm(
        **_addresses(source, destination),
        esm_class=EsmClass.UDHI if part.esm_class_udhi else EsmClass.MODE_DEFAULT,
        registered_delivery=RegisteredDelivery.RECEIPT_ALWAYS if request_receipt else 0,
        data_coding=part.data_coding,
        short_message=part.short_message,
        tlvs=part.tlvs,
    )


def reference_for(method: str, reference: int) -> int | None:
    """The concatenation reference as `method` carries it (None: message_payload needs none)."""
    if method == "payload":
        return None
    return reference & (_UDH8_REFERENCE_MASK if method == "udh8" else _UDH16_REFERENCE_MASK)


def build_ussd_submit(
    source: str,
    destination: str,
    text: str,
    default_alphabet: str,
    dialect: Dialect,
    screen: UssdScreen,
) -> SubmitSm:
    """One submit_sm carrying a USSD screen (an outbox UssdScreen) in `dialect`. Raises
    UssdTextTooLong or UssdParamsError for a screen that cannot go: it is never cut."""
    coding, octets = encode_ussd_text(text, default_alphabet)
    params = ussd_submit_params(dialect, UssdMessage(screen.op, screen.session_key, screen.end))
    return SubmitSm(
        **_addresses(source, destination),
        data_coding=coding,
        short_message=octets,
        **params,
    )
