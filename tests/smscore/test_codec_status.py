"""command_status values: each has the spec's meaning; any value can be described."""

import pytest

from smscore.status import CommandStatus


@pytest.mark.parametrize("status", list(CommandStatus), ids=lambda status: status.name)
def test_every_member_has_a_description(status: CommandStatus) -> None:
    assert isinstance(status.description, str) and status.description.strip()
    described = CommandStatus.describe(int(status))
    assert status.name in described and status.description in described


def test_values_are_the_specs() -> None:
    spec = {
        "ESME_ROK": 0x00, "ESME_RINVMSGLEN": 0x01, "ESME_RINVCMDLEN": 0x02,
        "ESME_RINVCMDID": 0x03, "ESME_RINVBNDSTS": 0x04, "ESME_RSYSERR": 0x08,
        "ESME_RINVSRCADR": 0x0A, "ESME_RINVDSTADR": 0x0B, "ESME_RBINDFAIL": 0x0D,
        "ESME_RINVPASWD": 0x0E, "ESME_RINVSYSID": 0x0F, "ESME_RMSGQFUL": 0x14,
        "ESME_RINVSERTYP": 0x15, "ESME_RINVDESTFLAG": 0x40, "ESME_RINVSRCTON": 0x48,
        "ESME_RINVDSTNPI": 0x51, "ESME_RTHROTTLED": 0x58, "ESME_RINVSCHED": 0x61,
        "ESME_RINVEXPIRY": 0x62, "ESME_RX_T_APPN": 0x64, "ESME_RINVOPTPARSTREAM": 0xC0,
        "ESME_RINVPARLEN": 0xC2, "ESME_RUNKNOWNERR": 0xFF,
    }  # fmt: skip
    assert {name: int(CommandStatus[name]) for name in spec} == spec
    assert len({int(status) for status in CommandStatus}) == len(CommandStatus)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0x400, "0x00000400 (vendor-specific)"),
        (0x4FF, "0x000004FF (vendor-specific)"),
        (0x09, "0x00000009 (reserved)"),
        (0x500, "0x00000500 (reserved)"),
        (0xFFFF_FFFF, "0xFFFFFFFF (reserved)"),
    ],
)
def test_describe_unknown_codes(value: int, expected: str) -> None:
    assert CommandStatus.describe(value) == expected


def test_describe_known_code() -> None:
    assert CommandStatus.describe(0x58) == (
        "ESME_RTHROTTLED (0x58): Throttling error (ESME has exceeded allowed message limits)"
    )


def test_temporary_statuses() -> None:
    assert CommandStatus.ESME_RTHROTTLED.is_temporary
    assert CommandStatus.ESME_RMSGQFUL.is_temporary
    assert CommandStatus.ESME_RX_T_APPN.is_temporary
    assert not CommandStatus.ESME_RINVDSTADR.is_temporary
    assert not CommandStatus.ESME_RX_P_APPN.is_temporary
