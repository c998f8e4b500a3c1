"""Calculation calendars (SPEC §1.2, §1.4, §5) and review events (SPEC §4.1, §8.3).

Every expected instant is worked out by hand in the comments (offsets: New York EST = UTC-5,
EDT = UTC-4; Berlin CET = UTC+1, CEST = UTC+2; London GMT = UTC+0, BST = UTC+1; Hong Kong
UTC+8 all year). DST transition dates are computed here by rule, independently of zoneinfo.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from daix.calendars import (
    ReviewEvent,
    calculation_times,
    first_friday,
    is_official,
    new_entrant_time,
    review_events,
)
from daix.errors import ConfigError
from daix.timeutil import NS_PER_DAY, NS_PER_HOUR, NS_PER_SECOND, datetime_to_ns

UTC = dt.timezone.utc
YEARS = range(2015, 2031)


def ns(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return datetime_to_ns(dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC))


def utc(t: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=int(t) // 1000)


# --- DST transitions by rule ------------------------------------------------------------------

def nth_sunday(year: int, month: int, n: int) -> dt.date:
    d = dt.date(year, month, 1)
    d += dt.timedelta(days=(6 - d.weekday()) % 7)
    return d + dt.timedelta(days=7 * (n - 1))


def last_sunday(year: int, month: int) -> dt.date:
    d = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return d - dt.timedelta(days=(d.weekday() - 6) % 7)


def us_transitions(year: int) -> tuple[dt.date, dt.date]:
    """US rule since 2007: 2nd Sunday of March, 1st Sunday of November."""
    return nth_sunday(year, 3, 2), nth_sunday(year, 11, 1)


def eu_transitions(year: int) -> tuple[dt.date, dt.date]:
    """EU rule: last Sunday of March, last Sunday of October."""
    return last_sunday(year, 3), last_sunday(year, 10)


# (index id, transition rule, UTC hour in winter, UTC hour in summer)
DST_CASES = {
    "ny16": ("BTC_4PM_ET", us_transitions, 21, 20),  # 16:00 EST = 21Z, 16:00 EDT = 20Z
    "ny13": ("BTC_1PM_ET", us_transitions, 18, 17),  # 13:00 EST = 18Z, 13:00 EDT = 17Z
    "berlin17": ("BTC_1700_CET", eu_transitions, 16, 15),  # 17:00 CET = 16Z, CEST = 15Z
    "london15": ("BTC_1500_UK", eu_transitions, 15, 14),  # 15:00 GMT = 15Z, BST = 14Z
    "hk16_us": ("BTC_1H_4PM_HKT", us_transitions, 8, 8),  # 16:00 HKT = 08Z all year
    "hk16_eu": ("BTC_1H_4PM_HKT", eu_transitions, 8, 8),
}


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("case", sorted(DST_CASES))
def test_daily_time_across_both_dst_transitions(case: str, year: int) -> None:
    """SPEC §1.2: the local fix time lands on the right UTC hour on both sides of each switch.

    A switch happens on a Sunday at night, so the day before (Saturday) has no calculation
    (SPEC §5); we check the Friday before, the switch Sunday itself (16:00 etc. is after the
    02:00/03:00 switch) and the Monday after, all on the same UTC dates as local dates.
    """
    index_id, rule, winter, summer = DST_CASES[case]
    spring, autumn = rule(year)
    for sunday, before, after in ((spring, winter, summer), (autumn, summer, winter)):
        friday = sunday - dt.timedelta(days=2)
        monday = sunday + dt.timedelta(days=1)
        start = ns(friday.year, friday.month, friday.day)
        end = ns(monday.year, monday.month, monday.day, 23, 59)
        got = [utc(t) for t in calculation_times(index_id, start, end)]
        want = [
            dt.datetime(friday.year, friday.month, friday.day, before, tzinfo=UTC),
            dt.datetime(sunday.year, sunday.month, sunday.day, after, tzinfo=UTC),
            dt.datetime(monday.year, monday.month, monday.day, after, tzinfo=UTC),
        ]
        assert got == want, (case, sunday)


def test_dst_rule_dates_sanity() -> None:
    # 2024: US switches on Sun 10 March and Sun 3 November; EU on Sun 31 March, Sun 27 October.
    assert us_transitions(2024) == (dt.date(2024, 3, 10), dt.date(2024, 11, 3))
    assert eu_transitions(2024) == (dt.date(2024, 3, 31), dt.date(2024, 10, 27))


# --- daily calendars ----------------------------------------------------------------------------

@pytest.mark.parametrize("index_id, zone", [
    ("CUSTOM_TOP20", "UTC"), ("SELECT10", "America/New_York"),
    ("GS_TOTAL", "America/New_York"), ("BTC_1700_CET", "Europe/Berlin"),
    ("BTC_1H_4PM_HKT", "Asia/Hong_Kong"), ("BTC_1500_UK", "Europe/London"),
])
def test_daily_sunday_to_friday_in_local_zone(index_id: str, zone: str) -> None:
    """SPEC §1.4, §5: once a day, Sunday to Friday in the index's own zone; never Saturday."""
    from zoneinfo import ZoneInfo

    # Four full UTC weeks, Monday 2024-04-01 to Sunday 2024-04-28 23:59; local days are within.
    times = calculation_times(index_id, ns(2024, 4, 1), ns(2024, 4, 28, 23, 59))
    local = [utc(t).astimezone(ZoneInfo(zone)) for t in times]
    weekdays = [d.weekday() for d in local]
    assert 5 not in weekdays  # no Saturday
    assert weekdays.count(6) == 4 and weekdays.count(4) == 4  # 4 Sundays, 4 Fridays
    assert len(times) == 24  # 6 days x 4 weeks
    assert np.all(np.diff(times) > 0)


def test_daily_custom_and_grayscale_instants() -> None:
    # Custom: 10:00 UTC. Fri 2024-03-08 10Z, (no Sat), Sun 2024-03-10 10Z.
    got = calculation_times("CUSTOM_APP", ns(2024, 3, 8), ns(2024, 3, 10, 23))
    assert [utc(t) for t in got] == [dt.datetime(2024, 3, 8, 10, tzinfo=UTC),
                                     dt.datetime(2024, 3, 10, 10, tzinfo=UTC)]
    # Grayscale 16:00 ET: Fri 2024-03-08 is EST -> 21Z; Sun 2024-03-10 is EDT -> 20Z.
    got = calculation_times("GS_SCP", ns(2024, 3, 8), ns(2024, 3, 10, 23))
    assert [utc(t) for t in got] == [dt.datetime(2024, 3, 8, 21, tzinfo=UTC),
                                     dt.datetime(2024, 3, 10, 20, tzinfo=UTC)]


def test_bounds_are_inclusive() -> None:
    t = ns(2024, 3, 11, 20)  # Mon 16:00 EDT
    assert list(calculation_times("BTC_4PM_ET", t, t)) == [t]
    assert calculation_times("BTC_4PM_ET", t + 1, t + NS_PER_HOUR).size == 0
    assert calculation_times("BTC_4PM_ET", t, t - 1).size == 0
    assert calculation_times("BTC_4PM_ET", t, t).dtype == np.int64


def test_berlin_calendar_across_autumn_switch_with_hourly_flags() -> None:
    """A daily CET week crossing the EU switch of Sun 2024-10-27 (no review week crosses a US
    switch, see the test below)."""
    start, end = ns(2024, 10, 25), ns(2024, 10, 28, 23)
    # Fri 25 Oct 17:00 CEST = 15Z; Sun 27 Oct 17:00 CET = 16Z; Mon 28 Oct 17:00 CET = 16Z.
    want = [ns(2024, 10, 25, 15), ns(2024, 10, 27, 16), ns(2024, 10, 28, 16)]
    assert list(calculation_times("XRP_1700_CET", start, end)) == want
    hours = calculation_times("XRP_1700_CET", start, end, hourly=True)
    assert hours.size == 24 * 3 + 24  # 25, 26, 27 Oct whole days and 28 Oct 00..23
    assert list(hours[is_official("XRP_1700_CET", hours)]) == want


# --- hourly calendars ---------------------------------------------------------------------------

def test_hourly_utc_week_opens_sunday_22_closes_friday_22() -> None:
    """Single asset ground rules §7.4.1, SPEC §5: Sun 22:00 UTC to Fri 22:00 UTC, both in."""
    # Saturday 2024-03-09 00:00Z to Saturday 2024-03-16 23:00Z: exactly one week of openings.
    times = calculation_times("BTC_UTC", ns(2024, 3, 9), ns(2024, 3, 16, 23))
    assert utc(times[0]) == dt.datetime(2024, 3, 10, 22, tzinfo=UTC)  # Sunday
    assert utc(times[-1]) == dt.datetime(2024, 3, 15, 22, tzinfo=UTC)  # Friday
    assert times.size == 5 * 24 + 1  # Sun 22,23 + Mon-Thu 96 + Fri 00..22 (23) = 121
    assert np.all(np.diff(times) == NS_PER_HOUR)  # no gap inside the week
    # Four weeks: 4 x 121.
    assert calculation_times("ETH_UTC", ns(2024, 3, 9), ns(2024, 4, 6, 23)).size == 4 * 121
    for t, official in [(ns(2024, 3, 15, 23), False), (ns(2024, 3, 16, 12), False),
                        (ns(2024, 3, 17, 21), False), (ns(2024, 3, 17, 22), True),
                        (ns(2024, 3, 15, 22), True), (ns(2024, 3, 13, 5), True),
                        (ns(2024, 3, 13, 5, 30), False)]:
        assert bool(is_official("BTC_UTC", np.array([t]))[0]) is official, utc(t)


def test_on_request_hourly_every_day() -> None:
    """SPEC §5: any index computed hourly on request: every whole UTC hour, Saturdays too."""
    # Saturday 2024-03-09 from 00:30Z to 23:59Z: hours 01..23 = 23 instants.
    times = calculation_times("SELECT10", ns(2024, 3, 9, 0, 30), ns(2024, 3, 9, 23, 59), True)
    assert [utc(t).hour for t in times] == list(range(1, 24))
    assert not is_official("SELECT10", times).any()  # Saturday: nothing official
    # A whole week of hours flags exactly 6 official SELECT10 instants (Sun-Fri 16:00 ET).
    week = calculation_times("SELECT10", ns(2024, 4, 1), ns(2024, 4, 7, 23), hourly=True)
    assert week.size == 7 * 24
    assert int(is_official("SELECT10", week).sum()) == 6
    assert is_official("SELECT10", np.array([], dtype=np.int64)).size == 0


def test_is_official_agrees_with_calendar() -> None:
    start, end = ns(2023, 1, 1), ns(2023, 12, 31, 23)
    hours = calculation_times("BTC_UTC", start, end, hourly=True)
    for index_id in ("BTC_UTC", "BTC_4PM_ET", "ETH_1700_CET", "CUSTOM_TOP20", "TON_1H_4PM_HKT"):
        official = calculation_times(index_id, start, end)
        assert np.array_equal(hours[is_official(index_id, hours)], official), index_id


def test_ten_years_hourly_is_fast() -> None:
    t0 = time.perf_counter()
    for index_id in ("BTC_UTC", "BTC_4PM_ET", "CUSTOM_TOP20"):
        calculation_times(index_id, ns(2015, 1, 1), ns(2025, 1, 1))
        calculation_times(index_id, ns(2015, 1, 1), ns(2025, 1, 1), hourly=True)
    assert time.perf_counter() - t0 < 1.0


# --- real-time ----------------------------------------------------------------------------------

TICK = 15 * NS_PER_SECOND


@pytest.mark.parametrize("sunday, utc_hour", [
    ((2024, 3, 17), 21),  # 17:00 EDT = 21:00Z
    ((2024, 1, 7), 22),  # 17:00 EST = 22:00Z
])
def test_realtime_sunday_pause(sunday: tuple[int, int, int], utc_hour: int) -> None:
    """Ground rules §8.4.1: no ticks strictly between Sunday 17:00 and 17:15 New York."""
    y, m, d = sunday
    t17 = ns(y, m, d, utc_hour)
    window = calculation_times("BTC_RT_USD", t17 - TICK, t17 + 15 * 60 * NS_PER_SECOND + TICK)
    # 16:59:45, 17:00:00, 17:15:00, 17:15:15 local; the 59 ticks 17:00:15..17:14:45 are gone.
    assert list(window) == [t17 - TICK, t17, t17 + 60 * TICK, t17 + 61 * TICK]
    hour = calculation_times("ETH_RT_EUR", t17, t17 + NS_PER_HOUR - 1)
    assert hour.size == 240 - 59
    inside = t17 + 30 * TICK
    flags = is_official("SOL_RT_USD", np.array([t17, inside, t17 + 60 * TICK, t17 + 1]))
    assert flags.tolist() == [True, False, True, False]  # t17 + 1 ns is off the grid


def test_realtime_normal_hour_and_grid() -> None:
    # Monday 2024-03-18 10:00Z..10:59:59.999: 3600 / 15 = 240 ticks.
    t = ns(2024, 3, 18, 10)
    assert calculation_times("BTC_RT_EUR", t, t + NS_PER_HOUR - 1).size == 240
    # Saturday ticks too: 240 in an hour.
    s = ns(2024, 3, 16, 10)
    assert calculation_times("BTC_RT_EUR", s, s + NS_PER_HOUR - 1).size == 240
    # Off-grid start: 10:00:01 -> first tick 10:00:15.
    got = calculation_times("BTC_RT_USD", t + NS_PER_SECOND, t + 20 * NS_PER_SECOND)
    assert list(got) == [t + TICK]
    # A whole week: 7 x 5760 ticks minus one 59-tick pause (Sunday 2024-03-17).
    week = calculation_times("BTC_RT_USD", ns(2024, 3, 16), ns(2024, 3, 23) - 1)
    assert week.size == 7 * 5760 - 59


# --- review events ------------------------------------------------------------------------------

def one(family: str, y: int, m: int) -> ReviewEvent:
    """The single event of a family whose month is y-m (searching prices from the prior 20th)."""
    start = ns(y - (m == 1), (m - 2) % 12 + 1, 20)
    events = [e for e in review_events(family, start, ns(y, m, 28)) if e.month == f"{y}-{m:02d}"]
    assert len(events) == 1, (family, y, m, events)
    return events[0]


def test_first_friday() -> None:
    assert first_friday(2024, 3) == dt.date(2024, 3, 1)
    assert first_friday(2021, 10) == dt.date(2021, 10, 1)
    assert first_friday(2022, 1) == dt.date(2022, 1, 7)
    assert first_friday(2024, 6) == dt.date(2024, 6, 7)


def test_march_2024_reviews() -> None:
    """SPEC §4.1. First Friday 2024-03-01, review prices Wed 03-06, third Friday 03-15,
    effective Sunday 03-17. New York is on EST until Sun 2024-03-10, EDT after."""
    c = one("custom", 2024, 3)
    assert (c.kind, c.family) == ("review", "custom")
    assert c.cutoff == ns(2024, 2, 29, 10)  # leap day, 10:00 UTC
    assert c.price_time == ns(2024, 3, 6, 10)
    assert c.close == ns(2024, 3, 15, 10)
    assert c.effective == ns(2024, 3, 17, 10)

    s = one("select", 2024, 3)
    assert s.cutoff == ns(2024, 2, 29, 22)  # 22:00 UTC
    assert s.price_time == ns(2024, 3, 6, 21)  # 16:00 EST = 21Z
    assert s.close == ns(2024, 3, 15, 20)  # 16:00 EDT = 20Z
    assert s.effective == ns(2024, 3, 17, 20)

    g = one("grayscale", 2024, 3)
    assert g.cutoff == ns(2024, 2, 29, 21)  # 16:00 EST = 21Z
    assert g.price_time == ns(2024, 3, 6, 21)
    assert g.close == ns(2024, 3, 15, 20)
    assert g.effective == ns(2024, 3, 17, 20)
    assert new_entrant_time(g) == ns(2024, 2, 29, 22)  # ground rules §5.1.2-5.1.3

    x = one("single", 2024, 3)  # single asset ground rules §5.3, closes at 22:00 UTC
    assert (x.cutoff, x.price_time) == (ns(2024, 2, 29, 22), ns(2024, 3, 6, 22))
    assert (x.close, x.effective) == (ns(2024, 3, 15, 22), ns(2024, 3, 17, 22))


def test_select_old_schedule_october_2021() -> None:
    """SPEC §4.1, §8.3: before March 2022, prices the Wednesday *before* the first Friday."""
    e = one("select", 2021, 10)
    # First Friday 2021-10-01 -> Wed 2021-09-29 16:00 EDT = 20Z, before the cut-off.
    assert e.price_time == ns(2021, 9, 29, 20)
    assert e.cutoff == ns(2021, 9, 30, 22)
    assert e.price_time < e.cutoff  # taken literally (SPEC §8.3)
    # Second Friday 2021-10-08 16:00 EDT = 20Z; E = Sunday 2021-10-10 16:00 EDT = 20Z.
    assert e.close == ns(2021, 10, 8, 20)
    assert e.effective == ns(2021, 10, 10, 20)


def test_select_old_schedule_january_2021() -> None:
    # First Friday 2021-01-01 -> prices Wed 2020-12-30 16:00 EST = 21Z; cut-off 2020-12-31 22Z;
    # second Friday 2021-01-08 16:00 EST = 21Z; E = Sun 2021-01-10 21Z.
    e = one("select", 2021, 1)
    assert (e.price_time, e.cutoff) == (ns(2020, 12, 30, 21), ns(2020, 12, 31, 22))
    assert (e.close, e.effective) == (ns(2021, 1, 8, 21), ns(2021, 1, 10, 21))
    # Listed by its review price instant: a range starting 2021-01-01 does not hold it.
    months = [ev.month for ev in review_events("select", ns(2021, 1, 1), ns(2021, 3, 1))]
    assert months == []
    months = [ev.month for ev in review_events("select", ns(2020, 12, 30, 21), ns(2021, 3, 1))]
    assert months == ["2021-01"]


def test_single_old_schedule() -> None:
    """Single asset ground rules §5.3: before March 2022, market data at the cut-off, in at
    22:00 UTC on the Sunday after the second Friday."""
    e = one("single", 2021, 10)
    assert e.cutoff == e.price_time == ns(2021, 9, 30, 22)
    assert e.close == ns(2021, 10, 8, 22)  # second Friday
    assert e.effective == ns(2021, 10, 10, 22)
    j = one("single", 2022, 1)  # first Friday 2022-01-07, second 01-14, Sunday 01-16
    assert (j.close, j.effective) == (ns(2022, 1, 14, 22), ns(2022, 1, 16, 22))


@pytest.mark.parametrize("family", ["select", "single"])
def test_schedule_change_2022(family: str) -> None:
    events = review_events(family, ns(2021, 6, 1), ns(2022, 12, 31))
    # Old Jul, Oct 2021, Jan 2022; new Mar, Jun, Sep, Dec 2022; no April 2022.
    assert [e.month for e in events] == ["2021-07", "2021-10", "2022-01", "2022-03",
                                         "2022-06", "2022-09", "2022-12"]
    assert all(e.kind == "review" for e in events)


def test_monthly_resets_for_custom_only() -> None:
    custom = review_events("custom", ns(2024, 1, 1), ns(2024, 12, 31, 23))
    assert [e.month for e in custom] == [f"2024-{m:02d}" for m in range(1, 13)]
    kinds = {e.month[5:]: e.kind for e in custom}
    assert [m for m, k in kinds.items() if k == "review"] == ["03", "06", "09", "12"]
    assert [m for m, k in kinds.items() if k == "reset"] == ["01", "02", "04", "05", "07",
                                                            "08", "10", "11"]
    # A reset: Feb 2024, first Friday 02-02, prices Wed 02-07, third Friday 02-16, Sun 02-18;
    # its cut-off (unused) follows the review rule: 2024-01-31 10:00 UTC.
    feb = custom[1]
    assert (feb.cutoff, feb.price_time) == (ns(2024, 1, 31, 10), ns(2024, 2, 7, 10))
    assert (feb.close, feb.effective) == (ns(2024, 2, 16, 10), ns(2024, 2, 18, 10))
    for family in ("select", "grayscale", "single"):
        events = review_events(family, ns(2024, 1, 1), ns(2024, 12, 31, 23))
        assert [e.month for e in events] == ["2024-03", "2024-06", "2024-09", "2024-12"]
        assert {e.kind for e in events} == {"review"}


@pytest.mark.parametrize("family, index_id", [
    ("custom", "CUSTOM_TOP20"), ("select", "SELECT10"), ("grayscale", "GS_TOTAL"),
    ("single", "BTC_UTC"),
])
def test_effective_is_first_calculation_after_close(family: str, index_id: str) -> None:
    """SPEC §3.5, §4.1: E is an official calculation time and C the one just before it."""
    events = review_events(family, ns(2015, 1, 1), ns(2030, 12, 31))
    assert len(events) >= 4 * 16
    assert [e.effective for e in events] == sorted(e.effective for e in events)
    for e in events:
        assert e.price_time < e.close < e.effective
        before = calculation_times(index_id, e.effective - 7 * NS_PER_DAY, e.effective)
        assert before[-1] == e.effective and before[-2] == e.close, e.month
        assert utc(e.close).weekday() == 4 and utc(e.effective).weekday() == 6  # Fri, Sun


def test_no_review_week_straddles_a_us_dst_switch() -> None:
    """2015-2030: the 3rd-Friday close and the Sunday after never straddle the US switch (2nd
    Sunday of March is the 8th-14th, the Sunday after the 3rd Friday the 17th-23rd; November is
    no review month), so C and E sit at the same UTC hour. The review price Wednesday, however,
    can be on EST while C is on EDT (March 2024 above)."""
    for year in YEARS:
        spring, autumn = us_transitions(year)
        for family in ("select", "grayscale"):
            for e in review_events(family, ns(year, 1, 1), ns(year, 12, 31, 23)):
                fri, sun = utc(e.close).date(), utc(e.effective).date()
                assert not (fri < spring <= sun) and not (fri < autumn <= sun)
                assert utc(e.close).hour == utc(e.effective).hour


def test_review_events_bounds_and_errors() -> None:
    p = ns(2024, 3, 6, 21)  # select March 2024 review prices
    assert [e.month for e in review_events("select", p, p)] == ["2024-03"]
    assert review_events("select", p + 1, ns(2024, 5, 31)) == []
    assert review_events("select", p, p - 1) == []
    with pytest.raises(ConfigError, match="unknown family"):
        review_events("nasdaq", p, p)
    with pytest.raises(ConfigError, match="unknown index id"):
        calculation_times("NOPE", p, p)
