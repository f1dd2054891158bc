"""TON/NPI for an address the simulator writes into a PDU."""

from smscore.constants import Npi, Ton

# source_addr / destination_addr are C-Octet Strings of at most 21 octets, the last one NUL (spec 5.2.8).
MAX_ADDRESS_LENGTH = 20
# Longer digit strings are taken for international numbers (a country code and a subscriber
# number); up to this many digits, for short codes and service numbers.
SHORT_CODE_MAX_DIGITS = 8


def ton_npi(address: str) -> tuple[int, int]:
    """International ISDN for long digit strings, unknown/ISDN for short codes, alphanumeric otherwise."""
    if address.isdigit():
        if len(address) > SHORT_CODE_MAX_DIGITS:
            return Ton.INTERNATIONAL, Npi.ISDN
        return Ton.UNKNOWN, Npi.ISDN
    return Ton.ALPHANUMERIC, Npi.UNKNOWN
