"""SMPP 3.4 command_status values (spec section 5.1.3), with the spec's meaning."""

from enum import IntEnum


class CommandStatus(IntEnum):
    """A command_status; `.description` is the spec's wording, `.is_temporary` says a retry may succeed."""

    description: str

    def __new__(cls, value: int, description: str) -> "CommandStatus":
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    ESME_ROK = 0x00, "No Error"
    ESME_RINVMSGLEN = 0x01, "Message Length is invalid"
    ESME_RINVCMDLEN = 0x02, "Command Length is invalid"
    ESME_RINVCMDID = 0x03, "Invalid Command ID"
    ESME_RINVBNDSTS = 0x04, "Incorrect BIND Status for given command"
    ESME_RALYBND = 0x05, "ESME Already in Bound State"
    ESME_RINVPRTFLG = 0x06, "Invalid Priority Flag"
    ESME_RINVREGDLVFLG = 0x07, "Invalid Registered Delivery Flag"
    ESME_RSYSERR = 0x08, "System Error"
    ESME_RINVSRCADR = 0x0A, "Invalid Source Address"
    ESME_RINVDSTADR = 0x0B, "Invalid Destination Address"
    ESME_RINVMSGID = 0x0C, "Message ID is invalid"
    ESME_RBINDFAIL = 0x0D, "Bind Failed"
    ESME_RINVPASWD = 0x0E, "Invalid Password"
    ESME_RINVSYSID = 0x0F, "Invalid System ID"
    ESME_RCANCELFAIL = 0x11, "Cancel SM Failed"
    ESME_RREPLACEFAIL = 0x13, "Replace SM Failed"
    ESME_RMSGQFUL = 0x14, "Message Queue Full"
    ESME_RINVSERTYP = 0x15, "Invalid Service Type"
    ESME_RINVNUMDESTS = 0x33, "Invalid number of destinations"
    ESME_RINVDLNAME = 0x34, "Invalid Distribution List name"
    ESME_RINVDESTFLAG = 0x40, "Destination flag is invalid (submit_multi)"
    ESME_RINVSUBREP = 0x42, "Invalid 'submit with replace' request"
    ESME_RINVESMCLASS = 0x43, "Invalid esm_class field data"
    ESME_RCNTSUBDL = 0x44, "Cannot Submit to Distribution List"
    ESME_RSUBMITFAIL = 0x45, "submit_sm or submit_multi failed"
    ESME_RINVSRCTON = 0x48, "Invalid Source address TON"
    ESME_RINVSRCNPI = 0x49, "Invalid Source address NPI"
    ESME_RINVDSTTON = 0x50, "Invalid Destination address TON"
    ESME_RINVDSTNPI = 0x51, "Invalid Destination address NPI"
    ESME_RINVSYSTYP = 0x53, "Invalid system_type field"
    ESME_RINVREPFLAG = 0x54, "Invalid replace_if_present flag"
    ESME_RINVNUMMSGS = 0x55, "Invalid number of messages"
    ESME_RTHROTTLED = 0x58, "Throttling error (ESME has exceeded allowed message limits)"
    ESME_RINVSCHED = 0x61, "Invalid Scheduled Delivery Time"
    ESME_RINVEXPIRY = 0x62, "Invalid message validity period (Expiry time)"
    ESME_RINVDFTMSGID = 0x63, "Predefined Message Invalid or Not Found"
    ESME_RX_T_APPN = 0x64, "ESME Receiver Temporary App Error Code"
    ESME_RX_P_APPN = 0x65, "ESME Receiver Permanent App Error Code"
    ESME_RX_R_APPN = 0x66, "ESME Receiver Reject Message Error Code"
    ESME_RQUERYFAIL = 0x67, "query_sm request failed"
    ESME_RINVOPTPARSTREAM = 0xC0, "Error in the optional part of the PDU Body"
    ESME_ROPTPARNOTALLWD = 0xC1, "Optional Parameter not allowed"
    ESME_RINVPARLEN = 0xC2, "Invalid Parameter Length"
    ESME_RMISSINGOPTPARAM = 0xC3, "Expected Optional Parameter missing"
    ESME_RINVOPTPARAMVAL = 0xC4, "Invalid Optional Parameter Value"
    ESME_RDELIVERYFAILURE = 0xFE, "Delivery Failure (used for data_sm_resp)"
    ESME_RUNKNOWNERR = 0xFF, "Unknown Error"

    @property
    def is_temporary(self) -> bool:
        return self in _TEMPORARY

    @classmethod
    def describe(cls, value: int) -> str:
        """Name and meaning of any status, including vendor-specific ones the spec leaves open."""
        try:
            member = cls(value)
        except ValueError:
            kind = "vendor-specific" if 0x400 <= value <= 0x4FF else "reserved"
            return f"0x{value:08X} ({kind})"
        return f"{member.name} (0x{value:02X}): {member.description}"


_TEMPORARY = frozenset(
    {
        CommandStatus.ESME_RMSGQFUL,
        CommandStatus.ESME_RTHROTTLED,
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RSYSERR,
    }
)
