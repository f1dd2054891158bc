"""SMPP time strings (spec 7.1.1): "YYMMDDhhmmsstnnp", absolute (p = '+'/'-') or relative (p = 'R')."""

from datetime import UTC, date, datetime, timedelta, timezone

from smscore.errors import TimeFormatError

TIME_LENGTH = 16
_QUARTER_HOUR = timedelta(minutes=15)


def validate_smpp_time(value: str) -> None:
    """Raise TimeFormatError unless `value` is empty or a well-formed absolute/relative time."""
    if not value:
        return
    digits = value[:15]
    # isascii: str.isdigit() alone accepts '²' or Arabic-Indic digits, which int() then rejects.
    if (
        len(value) != TIME_LENGTH
        or not (digits.isascii() and digits.isdigit())
        or value[15] not in "+-R"
    ):
        raise TimeFormatError(f"time {value!r} is not YYMMDDhhmmsstnn followed by '+', '-' or 'R'")
    if value[15] == "R":
        _check_relative(value)
    else:
        _check_absolute(value)


def _check_relative(value: str) -> None:
    if value[12:15] != "000":
        raise TimeFormatError(f"relative time {value!r} must end in 000R")


def _check_absolute(value: str) -> None:
    month, day = int(value[2:4]), int(value[4:6])
    hour, minute, second = int(value[6:8]), int(value[8:10]), int(value[10:12])
    quarter_hours = int(value[13:15])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        raise TimeFormatError(f"absolute time {value!r} has a date or time out of range")
    try:
        date(2000 + int(value[0:2]), month, day)
    except ValueError as exc:  # e.g. 31 February
        raise TimeFormatError(f"absolute time {value!r}: {exc}") from exc
    if quarter_hours > 48:
        raise TimeFormatError(f"absolute time {value!r} has a UTC offset beyond 48 quarter hours")


def parse_smpp_time(value: str, now: datetime) -> datetime | None:
    """The moment `value` names (relative times count from `now`); None for the empty string."""
    validate_smpp_time(value)
    if not value:
        return None
    if value[15] == "R":
        return now + parse_relative(value)
    offset = int(value[13:15]) * _QUARTER_HOUR
    zone = timezone(offset if value[15] == "+" else -offset)
    try:
        local = datetime(
            2000 + int(value[0:2]),
            int(value[2:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]),
            int(value[10:12]),
            int(value[12]) * 100_000,
            tzinfo=zone,
        )
    except ValueError as exc:  # e.g. 31 February
        raise TimeFormatError(f"absolute time {value!r}: {exc}") from exc
    return local.astimezone(UTC)


def parse_relative(value: str) -> timedelta:
    """A relative time as a timedelta. Years count 365 days and months 30, as SMSCs do."""
    years, months, days = int(value[0:2]), int(value[2:4]), int(value[4:6])
    hours, minutes, seconds = int(value[6:8]), int(value[8:10]), int(value[10:12])
    return timedelta(
        days=years * 365 + months * 30 + days, hours=hours, minutes=minutes, seconds=seconds
    )


def format_absolute(moment: datetime) -> str:
    """An aware datetime as an absolute SMPP time in UTC ("...000+")."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%y%m%d%H%M%S") + f"{utc.microsecond // 100_000}00+"


def format_relative(delta: timedelta) -> str:
    """A non-negative timedelta as a relative SMPP time (days carried into years/months as SMSCs do)."""
    total_s = int(delta.total_seconds())
    if total_s < 0:
        raise TimeFormatError("a relative time cannot be negative")
    days, rest = divmod(total_s, 86_400)
    years, days = divmod(days, 365)
    months, days = divmod(days, 30)
    if years > 99:
        raise TimeFormatError("a relative time cannot exceed 99 years")
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"
