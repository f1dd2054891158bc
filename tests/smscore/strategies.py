"""Hypothesis strategies for SMPP 3.4 values and PDUs: every one generated is valid per the spec.

Derived from each PDU class's field table (`cls.FIELDS`), so a new PDU class or field is covered
without editing this file. Reused by the codec, session and protocol tests:

    from tests.smscore.strategies import any_pdu, pdus_of
"""

from datetime import date
from typing import Any

from hypothesis import strategies as st

from smscore import tlv
from smscore.constants import VALID_NPIS, VALID_TONS
from smscore.pdu import (
    MAX_SHORT_MESSAGE_LENGTH,
    PDU,
    PDU_CLASSES,
    DestAddress,
    DistributionList,
    Field,
    UnsuccessSme,
)

U32_MAX = 0xFFFF_FFFF
# Long octet-string TLVs (message_payload may hold 65535 octets) are capped to keep examples quick.
OCTETS_CAP = 300

tons = st.sampled_from(sorted(VALID_TONS))
npis = st.sampled_from(sorted(VALID_NPIS))
sequence_numbers = st.integers(min_value=1, max_value=0x7FFF_FFFF)
command_statuses = st.one_of(st.just(0), st.integers(min_value=0, max_value=U32_MAX))


def c_strings(max_chars: int) -> st.SearchStrategy[str]:
    """Latin-1 text without NUL of at most `max_chars` characters (a C-Octet String's content)."""
    return st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=max_chars)


@st.composite
def absolute_times(draw: st.DrawFn) -> str:
    """An absolute SMPP time "YYMMDDhhmmsstnn+|-" on a real calendar date."""
    day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    hour, minute, second = (draw(st.integers(0, top)) for top in (23, 59, 59))
    tenths = draw(st.integers(0, 9))
    quarter_hours = draw(st.integers(0, 48))
    sign = draw(st.sampled_from("+-"))
    return (
        f"{day.year % 100:02d}{day.month:02d}{day.day:02d}{hour:02d}{minute:02d}{second:02d}"
        f"{tenths}{quarter_hours:02d}{sign}"
    )


@st.composite
def relative_times(draw: st.DrawFn) -> str:
    """A relative SMPP time "YYMMDDhhmmss000R"."""
    parts = [draw(st.integers(0, 99)) for _ in range(6)]
    return "".join(f"{part:02d}" for part in parts) + "000R"


def smpp_times() -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), absolute_times(), relative_times())


def dest_addresses() -> st.SearchStrategy[list[DestAddress | DistributionList]]:
    sme = st.builds(DestAddress, tons, npis, c_strings(20))
    distribution_list = st.builds(DistributionList, c_strings(20))
    return st.lists(st.one_of(sme, distribution_list), min_size=1, max_size=6)


def unsuccess_lists() -> st.SearchStrategy[list[UnsuccessSme]]:
    entry = st.builds(UnsuccessSme, tons, npis, c_strings(20), st.integers(0, U32_MAX))
    return st.lists(entry, max_size=4)


def field_values(field: Field) -> st.SearchStrategy[Any]:
    """Valid values of one mandatory field."""
    if field.kind == "cstr":
        return c_strings(field.max_length - 1)
    if field.kind == "time":
        return smpp_times()
    if field.kind == "u8":
        if field.allowed is not None:
            return st.sampled_from(sorted(field.allowed))
        return st.integers(0, 0xFF)
    if field.kind == "short_message":
        return st.binary(max_size=MAX_SHORT_MESSAGE_LENGTH)
    if field.kind == "dests":
        return dest_addresses()
    if field.kind == "unsuccess":
        return unsuccess_lists()
    raise AssertionError(f"no strategy for field kind {field.kind!r}")


def _not_a_c_string(raw: bytes) -> bool:
    # The decoder turns a value that is exactly one NUL-terminated string into str; anything else
    # (no NUL, inner NULs) stays bytes and must re-encode untouched.
    return not (raw.endswith(b"\x00") and raw.find(b"\x00") == len(raw) - 1)


def tlv_values(spec: tlv.TlvSpec) -> st.SearchStrategy[Any]:
    """Valid typed values of one known TLV, as the decoder returns them."""
    max_octets = min(spec.max_length, OCTETS_CAP)
    if spec.kind == "u8":
        return st.integers(0, 0xFF)
    if spec.kind == "u16":
        return st.integers(0, 0xFFFF)
    if spec.kind == "u32":
        return st.integers(0, U32_MAX)
    if spec.kind == "flag":
        return st.just(True)
    if spec.kind == "network_error":
        return st.builds(tlv.NetworkErrorCode, st.integers(0, 0xFF), st.integers(0, 0xFFFF))
    if spec.kind == "octets":
        return st.binary(min_size=spec.min_length, max_size=max_octets)
    if spec.kind == "cstr":
        raw = st.binary(min_size=spec.min_length, max_size=max_octets).filter(_not_a_c_string)
        return st.one_of(c_strings(max_octets - 1), raw)
    raise AssertionError(f"no strategy for TLV kind {spec.kind!r}")


unknown_tags = st.integers(0, 0xFFFF).filter(lambda tag: tag not in tlv.TLV_BY_TAG)
_known_tlv = st.sampled_from(tlv.TLV_SPECS).flatmap(
    lambda spec: st.tuples(st.just(spec.name), tlv_values(spec))
)
_unknown_tlv = st.tuples(unknown_tags, st.binary(max_size=40))


def tlv_dicts(max_size: int = 5) -> st.SearchStrategy[dict[str | int, Any]]:
    """TLV dicts in wire order: known TLVs by name and typed, unknown ones by int tag as raw bytes."""
    pairs = st.lists(
        st.one_of(_known_tlv, _unknown_tlv), max_size=max_size, unique_by=lambda pair: pair[0]
    )
    return pairs.map(dict)


def pdus_of(cls: type[PDU], tlvs: st.SearchStrategy[dict] | None = None) -> st.SearchStrategy[PDU]:
    """Valid instances of one PDU class."""
    fields = {field.name: field_values(field) for field in cls.FIELDS}
    return st.builds(
        cls,
        sequence_number=sequence_numbers,
        command_status=command_statuses,
        tlvs=tlv_dicts() if tlvs is None else tlvs,
        **fields,
    )


def any_pdu() -> st.SearchStrategy[PDU]:
    """A valid PDU of any SMPP 3.4 command."""
    return st.sampled_from(list(PDU_CLASSES.values())).flatmap(pdus_of)
