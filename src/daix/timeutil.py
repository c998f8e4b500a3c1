"""Instants as int64 nanoseconds since the epoch, UTC (SPEC §1.1)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from daix.errors import ConfigError

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR

UTC = dt.timezone.utc
#: The fraction of the seconds of an ISO 8601 time (``12:00:00.000000001``).
_FRACTION = re.compile(r"(?<=[Tt ]\d{2}:\d{2}:\d{2})[.,](\d+)")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

#: Zone abbreviations used in index names, mapped to IANA zones (SPEC §1.2).
ZONES = {
    "UTC": "UTC",
    "ET": "America/New_York",
    "EST": "America/New_York",
    "CET": "Europe/Berlin",
    "UK": "Europe/London",
    "HKT": "Asia/Hong_Kong",
}


def zone(name: str) -> ZoneInfo:
    """The IANA zone for an abbreviation of SPEC §1.2, or an IANA name itself."""
    return ZoneInfo(ZONES.get(name, name))


def datetime_to_ns(value: dt.datetime) -> int:
    """An aware datetime as int64 ns UTC; naive datetimes are refused (SPEC §1.1)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"timestamp {value.isoformat()} has no time zone (SPEC §1.1)")
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def step_times(start_ns: int, end_ns: int, step_ns: int):
    """Every multiple of ``step_ns`` since the epoch in ``[start_ns, end_ns]``, as int64 ns.

    Counted in integers: ``np.arange(first, end + 1, step)`` sizes itself in floating point
    and loses ``end`` once the count passes 4096 hours or 2**20 ticks of 15 seconds.
    """
    import numpy as np

    first = -(-int(start_ns) // step_ns) * step_ns
    if first > end_ns:
        return np.zeros(0, dtype=np.int64)
    count = (int(end_ns) - first) // step_ns + 1
    return first + step_ns * np.arange(count, dtype=np.int64)


def ns_to_datetime(ns: int) -> dt.datetime:
    """int64 ns UTC as an aware UTC datetime (microsecond precision)."""
    return _EPOCH + dt.timedelta(microseconds=int(ns) // 1000)


def ns_to_iso(ns: int) -> str:
    """ISO 8601 in UTC with a trailing ``Z``, seconds precision unless sub-second."""
    d = ns_to_datetime(ns)
    text = d.strftime("%Y-%m-%dT%H:%M:%S")
    if d.microsecond:
        text += f".{d.microsecond:06d}"
    return text + "Z"


def ns_to_text(ns: int, zone_suffix: str = "Z") -> str:
    """ISO 8601 with every nanosecond kept (for messages): ``2024-01-01T00:00:00.000000001Z``."""
    seconds, frac = divmod(int(ns), NS_PER_SECOND)
    text = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + zone_suffix


def parse_instant(text: str, *, default_utc: bool = True) -> int:
    """Parse a command-line instant to ns UTC.

    Accepts ``YYYY-MM-DD`` (midnight UTC) and ISO 8601 with ``Z`` or an offset. A naive
    date-time is read as UTC when ``default_utc`` (arguments typed by a user), else refused.
    """
    raw = text.strip()
    # datetime holds microseconds: the fraction of a second is read apart, to the nanosecond
    frac = _FRACTION.search(raw)
    nanos = 0
    if frac is not None:
        digits = frac.group(1)
        if digits[9:].strip("0"):
            raise ConfigError(f"'{text}' is finer than a nanosecond (SPEC §1.1)")
        nanos = int(digits[:9].ljust(9, "0"))
        raw = raw[: frac.start()] + raw[frac.end():]
    try:
        if len(raw) == 10:
            value = dt.datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"cannot read '{text}' as an ISO 8601 date or instant") from exc
    if value.tzinfo is None:
        if not default_utc:
            raise ConfigError(f"'{text}' has no time zone (SPEC §1.1)")
        value = value.replace(tzinfo=UTC)
    return datetime_to_ns(value) + nanos


def local_to_ns(day: dt.date, hour: int, minute: int, zone_name: str) -> int:
    """The UTC instant of a local wall-clock time on a day in a zone (SPEC §1.2)."""
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(zone_name))
    return datetime_to_ns(local)


def month_key(year: int, month: int) -> str:
    """``YYYY-MM`` for a review month (SPEC §6.1)."""
    return f"{year:04d}-{month:02d}"
