"""Calculation calendars (SPEC §1, §5) and review events (SPEC §4.1, §8.3).

Every instant is int64 ns UTC (SPEC §1.1); local clock times are IANA zones, DST aware
(SPEC §1.2); days of the week and "the first Friday of the month" are taken in the index's or
family's own zone (SPEC §1.4).

Calendars (SPEC §5), all with inclusive bounds ``start <= t <= end``:

- ``daily``: the index's local time on every local Sunday to Friday. A local time that does
  not exist on a spring-forward day is read with the offset in force before the switch
  (``zoneinfo`` ``fold=0``); no built-in index uses such a time.
- ``hourly`` (plain UTC single asset indices): every whole UTC hour from Sunday 22:00 UTC to
  Friday 22:00 UTC, both ends included (single asset ground rules §7.4.1): 121 hours a week.
- ``realtime``: every tick of the 15-second grid of the epoch, except those strictly between
  Sunday 17:00 and Sunday 17:15 New York time. Ground rules §8.4.1 ("calculate between
  Sunday 5:15pm EST though Sunday 5:00pm EST") is read so that 17:00:00 and 17:15:00 are
  themselves calculated and the 59 ticks 17:00:15 ... 17:14:45 are not.
- ``hourly=True`` (any index, SPEC §5): every whole UTC hour, every day of the week.

Review events (SPEC §4.1): ``cutoff`` is the supply cut-off, ``price_time`` the review price
instant, ``effective`` the instant E of SPEC §3.5 (an official calculation time) and ``close``
the official calculation time C just before E. An event is listed by :func:`review_events`
when its review price instant lies in ``[start, end]``. Choices where the rules are silent:

- Custom monthly factor resets (kind ``reset``, the eight non-review months) carry the cut-off
  of the quarterly rule (last day of the prior month, 10:00 UTC); it is unused, since supply is
  unchanged at a reset (SPEC §4.1, §8.3).
- Single asset indices (single asset ground rules §5.3) use the close of their hourly calendar,
  22:00 UTC, for "the close" of a day: cut-off 22:00 UTC on the last day of the prior month,
  prices 22:00 UTC on the Wednesday after the first Friday, C = 22:00 UTC on the third Friday,
  E = 22:00 UTC on the following Sunday (the cut-off is 22:00 UTC even on a Saturday). Before
  March 2022 (January, April, July, October) the rules name one set of "market information as
  at the close of the last day of the month prior": prices are taken at that same cut-off
  instant, C = 22:00 UTC on the second Friday and E = 22:00 UTC on the Sunday after it. The
  same events serve every single asset index: its level is its fix whatever the basket timing
  (SPEC §8.6).
- Crypto Select before March 2022 is taken literally (SPEC §8.3): review prices on the
  Wednesday before the first Friday, which may fall in the prior month and before the cut-off.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from daix.catalogue import DAILY, FAMILIES, HOURLY, REALTIME, IndexDef, get_index
from daix.errors import ConfigError
from daix.timeutil import (
    NS_PER_DAY,
    NS_PER_HOUR,
    NS_PER_SECOND,
    local_to_ns,
    month_key,
    ns_to_datetime,
    step_times,
)

NS_PER_TICK = 15 * NS_PER_SECOND  # real-time grid (SPEC §2.5)
NEW_YORK = "America/New_York"

#: Zone in which each family's review dates are read (SPEC §1.4, §4.1).
FAMILY_ZONES = {"custom": "UTC", "select": NEW_YORK, "grayscale": NEW_YORK, "single": "UTC"}

_SATURDAY = 5  # date.weekday()
_SUNDAY = 6
_FRIDAY = 4
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def _resolve(index: IndexDef | str) -> IndexDef:
    return index if isinstance(index, IndexDef) else get_index(index)


def _local_dates(start_ns: int, end_ns: int, zone_name: str) -> list[dt.date]:
    """Every local date in ``zone_name`` that can hold an instant of ``[start, end]``, padded."""
    tz = ZoneInfo(zone_name)
    first = ns_to_datetime(start_ns).astimezone(tz).date() - dt.timedelta(days=1)
    last = ns_to_datetime(end_ns).astimezone(tz).date() + dt.timedelta(days=1)
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def _clip(times: np.ndarray, start_ns: int, end_ns: int) -> np.ndarray:
    times = np.asarray(times, dtype=np.int64)
    return times[(times >= start_ns) & (times <= end_ns)]


def _whole_hours(start_ns: int, end_ns: int) -> np.ndarray:
    """Every whole UTC hour in ``[start, end]`` (SPEC §2.7, §5)."""
    return step_times(start_ns, end_ns, NS_PER_HOUR)


def _weekday_hour(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC weekday (Monday = 0) and hour of day of int64 ns instants."""
    days = ts // NS_PER_DAY
    return (days + _EPOCH_WEEKDAY) % 7, (ts // NS_PER_HOUR) % 24


def _hourly_open(ts: np.ndarray) -> np.ndarray:
    """Whole-hour instants inside Sunday 22:00 UTC .. Friday 22:00 UTC, both included."""
    wd, hour = _weekday_hour(ts)
    return ((wd <= 3) | ((wd == _FRIDAY) & (hour <= 22)) | ((wd == _SUNDAY) & (hour >= 22)))


def _daily_times(d: IndexDef, start_ns: int, end_ns: int) -> np.ndarray:
    # The years of the local dates of _local_dates (padded a day each side), without them.
    tz = ZoneInfo(d.zone)
    first = ns_to_datetime(start_ns).astimezone(tz).date() - dt.timedelta(days=1)
    last = ns_to_datetime(end_ns).astimezone(tz).date() + dt.timedelta(days=1)
    years = range(first.year, last.year + 1)
    times = np.concatenate([_daily_year(d.hour, d.minute, d.zone, y) for y in years])
    return _clip(times, start_ns, end_ns)


@functools.lru_cache(maxsize=1024)
def _daily_year(hour: int, minute: int, zone: str, year: int) -> np.ndarray:
    """The local time ``hour:minute`` of every day of ``year`` but Saturdays, in ns UTC (a
    calendar is shared by many indices and years: computed once each)."""
    first = dt.date(year, 1, 1)
    n = (dt.date(year + 1, 1, 1) - first).days
    times = np.array([local_to_ns(day, hour, minute, zone)
                      for day in (first + dt.timedelta(days=k) for k in range(n))
                      if day.weekday() != _SATURDAY], dtype=np.int64)
    times.setflags(write=False)
    return times


def _realtime_gaps(start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Open intervals (a, b) of the Sunday 17:00-17:15 New York pauses near ``[start, end]``."""
    sundays = [d for d in _local_dates(start_ns, end_ns, NEW_YORK) if d.weekday() == _SUNDAY]
    a = np.array([local_to_ns(d, 17, 0, NEW_YORK) for d in sundays], dtype=np.int64)
    b = np.array([local_to_ns(d, 17, 15, NEW_YORK) for d in sundays], dtype=np.int64)
    return a, b


def _in_gaps(ts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each instant lies strictly inside one of the sorted, disjoint intervals (a, b)."""
    if a.size == 0:
        return np.zeros(ts.shape, dtype=bool)
    k = np.searchsorted(a, ts, side="left") - 1  # last gap with a < t
    ok = k >= 0
    inside = np.zeros(ts.shape, dtype=bool)
    inside[ok] = ts[ok] < b[k[ok]]
    return inside


def _realtime_times(start_ns: int, end_ns: int) -> np.ndarray:
    ticks = step_times(start_ns, end_ns, NS_PER_TICK)
    a, b = _realtime_gaps(start_ns, end_ns)
    keep = np.ones(ticks.size, dtype=bool)
    lo = np.searchsorted(ticks, a, side="right")
    hi = np.searchsorted(ticks, b, side="left")
    for i, j in zip(lo.tolist(), hi.tolist(), strict=True):
        keep[i:j] = False
    return ticks[keep]


def calculation_times(
    index: IndexDef | str, start_ns: int, end_ns: int, hourly: bool = False
) -> np.ndarray:
    """Calculation instants of an index in ``[start_ns, end_ns]``, int64 ns UTC, sorted.

    The official calendar of the index (SPEC §5, §1.2, §1.4), or with ``hourly`` every whole
    UTC hour of every day (SPEC §5: "Any index can also be computed hourly on request").
    """
    d = _resolve(index)
    start_ns, end_ns = int(start_ns), int(end_ns)
    if end_ns < start_ns:
        return np.empty(0, dtype=np.int64)
    if hourly:
        return _whole_hours(start_ns, end_ns)
    if d.calendar == DAILY:
        return _daily_times(d, start_ns, end_ns)
    if d.calendar == HOURLY:
        hours = _whole_hours(start_ns, end_ns)
        return hours[_hourly_open(hours)]
    if d.calendar == REALTIME:
        return _realtime_times(start_ns, end_ns)
    raise ConfigError(f"index {d.id}: unknown calendar kind '{d.calendar}'")


def is_official(index: IndexDef | str, ts_ns: np.ndarray) -> np.ndarray:
    """Whether each instant is an official calculation time of the index (SPEC §5).

    Used to flag levels of the on-request hourly calendar that are not official (indicative).
    """
    d = _resolve(index)
    ts = np.asarray(ts_ns, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(ts.shape, dtype=bool)
    lo, hi = int(ts.min()), int(ts.max())
    if d.calendar == DAILY:
        return np.isin(ts, _daily_times(d, lo, hi))
    if d.calendar == HOURLY:
        return (ts % NS_PER_HOUR == 0) & _hourly_open(ts)
    if d.calendar == REALTIME:
        a, b = _realtime_gaps(lo, hi)
        return (ts % NS_PER_TICK == 0) & ~_in_gaps(ts, a, b)
    raise ConfigError(f"index {d.id}: unknown calendar kind '{d.calendar}'")


# --- review events (SPEC §4.1, §8.3) -------------------------------------------------------

REVIEW = "review"
RESET = "reset"
QUARTERLY = (3, 6, 9, 12)
OLD_QUARTERLY = (1, 4, 7, 10)  # Crypto Select and single asset, before March 2022
NEW_SCHEDULE = (2022, 3)  # first review month of the current Select / single schedules


@dataclass(frozen=True)
class ReviewEvent:
    """One review or monthly factor reset of a family (SPEC §4.1), instants in int64 ns UTC.

    ``close`` is C and ``effective`` is E of SPEC §3.5: the new basket applies to every
    calculation time after C, from E on.
    """

    family: str
    month: str  # "YYYY-MM"
    kind: str  # "review" or "reset"
    cutoff: int
    price_time: int
    close: int
    effective: int


def first_friday(year: int, month: int) -> dt.date:
    """The first Friday of a month (a calendar date in the family's zone, SPEC §1.4)."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(_FRIDAY - first.weekday()) % 7)


def _last_day_before(year: int, month: int) -> dt.date:
    return dt.date(year, month, 1) - dt.timedelta(days=1)


def _at(day: dt.date, hour: int, zone_name: str) -> int:
    return local_to_ns(day, hour, 0, zone_name)


def _event(family: str, year: int, month: int) -> ReviewEvent | None:
    """The event of a family in a month, or None when the month has none."""
    ff = first_friday(year, month)
    wed_after, wed_before = ff + dt.timedelta(days=5), ff - dt.timedelta(days=2)
    fri2, fri3 = ff + dt.timedelta(days=7), ff + dt.timedelta(days=14)
    prior = _last_day_before(year, month)
    key = month_key(year, month)
    old = (year, month) < NEW_SCHEDULE
    if family == "custom":
        kind = REVIEW if month in QUARTERLY else RESET
        return ReviewEvent(family, key, kind, _at(prior, 10, "UTC"), _at(wed_after, 10, "UTC"),
                           _at(fri3, 10, "UTC"), _at(fri3 + dt.timedelta(days=2), 10, "UTC"))
    if family == "grayscale":
        if month not in QUARTERLY:
            return None
        return ReviewEvent(family, key, REVIEW, _at(prior, 16, NEW_YORK),
                           _at(wed_after, 16, NEW_YORK), _at(fri3, 16, NEW_YORK),
                           _at(fri3 + dt.timedelta(days=2), 16, NEW_YORK))
    if family == "select":
        cutoff = _at(prior, 22, "UTC")
        if old:
            if month not in OLD_QUARTERLY:
                return None
            return ReviewEvent(family, key, REVIEW, cutoff, _at(wed_before, 16, NEW_YORK),
                               _at(fri2, 16, NEW_YORK),
                               _at(fri2 + dt.timedelta(days=2), 16, NEW_YORK))
        if month not in QUARTERLY:
            return None
        return ReviewEvent(family, key, REVIEW, cutoff, _at(wed_after, 16, NEW_YORK),
                           _at(fri3, 16, NEW_YORK), _at(fri3 + dt.timedelta(days=2), 16, NEW_YORK))
    if family == "single":
        cutoff = _at(prior, 22, "UTC")
        if old:
            if month not in OLD_QUARTERLY:
                return None
            return ReviewEvent(family, key, REVIEW, cutoff, cutoff, _at(fri2, 22, "UTC"),
                               _at(fri2 + dt.timedelta(days=2), 22, "UTC"))
        if month not in QUARTERLY:
            return None
        return ReviewEvent(family, key, REVIEW, cutoff, _at(wed_after, 22, "UTC"),
                           _at(fri3, 22, "UTC"), _at(fri3 + dt.timedelta(days=2), 22, "UTC"))
    raise ConfigError(f"unknown family '{family}'; choose one of {', '.join(FAMILIES)}")


def review_events(family: str, start_ns: int, end_ns: int) -> list[ReviewEvent]:
    """Review events (and Custom monthly factor resets) of a family, sorted by effective instant.

    An event is listed when its review price instant lies in ``[start_ns, end_ns]``
    (SPEC §4.1, §8.3).
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown family '{family}'; choose one of {', '.join(FAMILIES)}")
    start_ns, end_ns = int(start_ns), int(end_ns)
    if end_ns < start_ns:
        return []
    first = ns_to_datetime(start_ns)
    last = ns_to_datetime(end_ns)
    # Review prices fall between the last days of the prior month and the 12th of the month.
    y, m = first.year, first.month
    stop = (last.year, last.month + 1) if last.month < 12 else (last.year + 1, 1)
    out: list[ReviewEvent] = []
    while (y, m) <= stop:
        ev = _event(family, y, m)
        if ev is not None and start_ns <= ev.price_time <= end_ns:
            out.append(ev)
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    out.sort(key=lambda e: e.effective)
    return out


def new_entrant_time(event: ReviewEvent) -> int:
    """22:00 UTC on the last day of the month before the review month: the price and supply
    instant of Grayscale new entrants (SPEC §4.1; ground rules §5.1.2-5.1.3)."""
    year, month = (int(p) for p in event.month.split("-"))
    return _at(_last_day_before(year, month), 22, "UTC")


__all__ = [
    "NS_PER_TICK",
    "ReviewEvent",
    "calculation_times",
    "first_friday",
    "is_official",
    "new_entrant_time",
    "review_events",
]
