"""USSD over SMPP: the operations of `ussd_service_op` (SMPP 3.4, 5.3.2.44) and the dialects a
carrier may use to carry a USSD dialogue's session.

A dialect says where the session key and the end of the dialogue travel: SMPP 3.4's own
`its_session_info` TLV, or one of the vendor styles. Which one a bind speaks is configuration
(the bind's `ussd_dialect`); an unknown name is refused when the config is read, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from smscore.errors import SMPPError
from smscore.text import DataCoding, pack_septets, select_encoding


class UssdOp(IntEnum):
    """ussd_service_op values (SMPP 3.4 table 5-...; 32-255 are the vendors')."""

    PSSD_INDICATION = 0
    PSSR_INDICATION = 1  # the subscriber dialled a code (*334#): a new dialogue
    USSR_REQUEST = 2  # the application shows a screen and waits for an answer
    USSN_REQUEST = 3  # the application shows a notice, no answer expected
    PSSD_RESPONSE = 16
    PSSR_RESPONSE = 17  # the application's last screen: the dialogue ends
    USSR_CONFIRM = 18  # the subscriber's answer to a USSR request
    USSN_CONFIRM = 19


class Dialect(StrEnum):
    """Where a carrier puts the USSD session (smscore.ussd_dialects has each one's codec)."""

    SMPP34 = "smpp34"  # its_session_info: session number, its last bit the end of the dialogue
    DIALOG = "dialog"  # a vendor TLV with a dialogue id, and an end flag
    UMR = "umr"  # the session in user_message_reference, service_type "USSD"


@dataclass(frozen=True, slots=True)
class UssdMessage:
    """One USSD PDU's dialogue fields, independent of the dialect that carried them."""

    op: UssdOp | int  # an unknown vendor value is kept as the int
    session_key: str  # the session as text, unique per (bind, MSISDN) while the dialogue lasts
    end: bool  # the sender ends the dialogue with this PDU (a release or abort from the network)


# --- the text of a screen -------------------------------------------------------------------------

# A USSD string is at most 160 octets on the air (GSM 03.90/04.80): 182 packed GSM 7-bit
# characters (an extension character takes two septets), or 80 UCS-2 code units.
MAX_GSM7_SEPTETS = 182
MAX_UCS2_OCTETS = 160


class UssdTextTooLong(ValueError, SMPPError):
    """A screen's text does not fit one USSD string: a bug of whoever wrote it (never truncated)."""


def encode_ussd_text(text: str, default_alphabet: str = "gsm7") -> tuple[int, bytes]:
    """(data_coding, short_message) for a USSD string: the SMSC default alphabet (GSM 7-bit on
    most), else UCS-2. Raises UssdTextTooLong past the network's limit: one PDU, no concatenation."""
    coding, alphabet, units = select_encoding(
        text, allowed=(DataCoding.SMSC_DEFAULT,), default_alphabet=default_alphabet
    )
    if alphabet == "ucs2":
        if len(units) > MAX_UCS2_OCTETS:
            raise UssdTextTooLong(
                f"USSD text of {len(units) // 2} UCS-2 units; at most {MAX_UCS2_OCTETS // 2} fit"
            )
        return coding, units
    if len(units) > MAX_GSM7_SEPTETS:
        raise UssdTextTooLong(
            f"USSD text of {len(units)} characters; at most {MAX_GSM7_SEPTETS} fit"
        )
    return coding, pack_septets(units) if alphabet == "gsm7-packed" else units
