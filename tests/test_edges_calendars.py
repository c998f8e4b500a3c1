"""Time and calendar rules, each expected instant and level worked out by hand from the SPEC.

Offsets used below: New York EST = UTC-5, EDT = UTC-4 (2nd Sunday of March 02:00 local to the
1st Sunday of November 02:00 local); Berlin CET = UTC+1, CEST = UTC+2 and London GMT = UTC+0,
BST = UTC+1 (last Sunday of March 01:00Z to the last Sunday of October 01:00Z); Hong Kong
UTC+8 all year. Switch dates used: US 2024-03-10, 2024-11-03, 2025-03-09; EU 2024-03-31,
2024-10-27.

Groups:

1. The catalogue (SPEC §5): the 31 single asset indices of single asset ground rules §5.2.2,
   the 6 real-time ones and the 13 multi-asset ones, with their window, calendar, clock time
   and divisor; every single asset index priced end to end in winter and in summer.
2. Clock times across DST switches (SPEC §1.2, §1.4, §5): the weeks between the EU and the US
   switches, the switch Sundays themselves, official flags on the hourly calendar, and the
   real-time Sunday pause on switch Sundays.
3. Year ends, leap days and holidays (SPEC §4.1, §5): calendars and review events.
4. EUR real-time indices through FX as of each tick (SPEC §3.1, §3.2).
5. Data that starts or ends mid-week (SPEC §3.8, §8.6).
6. Half-open fix windows around a DST switch instant (SPEC §1.3, §2.5, §2.7).
"""

from __future__ import annotations

import calendar as cal

import numpy as np
import pyarrow as pa
import pytest

from daix.calendars import calculation_times, is_official, new_entrant_time, review_events
from daix.catalogue import catalogue, get_index
from daix.engine.backfill import backfill
from daix.fixes import compute_fixes

TS = pa.timestamp("ns", tz="UTC")
SECOND = 10**9
HOUR = 3600 * SECOND
DAY = 24 * HOUR
TICK = 15 * SECOND


def ns(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    """A UTC wall-clock instant as int64 ns (computed with calendar.timegm, no zone data)."""
    return cal.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * SECOND


# Asset bases for hand-made fixes: 15m fix = base + h, 1h fix = base + 500 + h, h = hours
# after the start of the data, so every level names its asset, window and hour.
BASE = {"BTC": 1000.0, "ADA": 2000.0, "ETH": 3000.0, "DOT": 4000.0, "SOL": 5000.0,
        "TON": 6000.0, "XDC": 7000.0, "XRP": 8000.0}


def fixes_table(start: int, hours: int, assets=("BTC",), first_1h: int | None = None,
                ) -> pa.Table:
    """Hourly fixes from ``start`` (ns) for ``hours`` hours; 1h rows from ``first_1h`` on."""
    ts, asset, window, price = [], [], [], []
    for a in assets:
        for h in range(hours):
            t = start + h * HOUR
            for w, extra in (("15m", 0.0), ("1h", 500.0)):
                if w == "1h" and first_1h is not None and t < first_1h:
                    continue
                ts.append(t)
                asset.append(a)
                window.append(w)
                price.append(BASE[a] + extra + h)
    return pa.table({"ts": pa.array(ts, pa.int64()).cast(TS), "asset": asset,
                     "window": window, "price": pa.array(price, pa.float64())})


def levels_of(result, index: str) -> dict[int, tuple[float, float, str]]:
    return {r["ts"].value: (r["level"], r["divisor"], r["status"])
            for r in result.levels.to_pylist() if r["index"] == index}


# --- 1. the catalogue -----------------------------------------------------------------------

# Rows of single asset ground rules §5.2.2, written out by hand: (asset, lookback, clock, 1/10).
# Clock: "UTC" (hourly) or (zone, local hour). Zones per SPEC §1.2: EST = New York, CET =
# Berlin, UK = London, HKT = Hong Kong.
NY, BER, LON, HK = "America/New_York", "Europe/Berlin", "Europe/London", "Asia/Hong_Kong"
GROUND_RULES_ROWS = [
    ("BTC", False, "UTC", False), ("BTC", False, (LON, 15), False),
    ("BTC", False, (BER, 17), False), ("BTC", True, (BER, 17), False),
    ("BTC", False, (NY, 13), False), ("BTC", False, (NY, 16), False),
    ("BTC", True, (NY, 13), True), ("BTC", True, (NY, 16), True),
    ("BTC", True, (NY, 16), False), ("BTC", True, (HK, 16), False),
    ("ADA", False, "UTC", False), ("ADA", False, (BER, 17), False),
    ("ADA", True, (BER, 17), False),
    ("ETH", False, "UTC", False), ("ETH", False, (BER, 17), False),
    ("ETH", True, (BER, 17), False), ("ETH", False, (NY, 16), False),
    ("ETH", True, (HK, 16), False), ("ETH", True, (NY, 16), False),
    ("DOT", False, (BER, 17), False),
    ("SOL", False, (BER, 17), False), ("SOL", True, (BER, 17), False),
    ("SOL", True, (NY, 16), False),
    ("TON", False, (BER, 17), False), ("TON", True, (BER, 17), False),
    ("TON", True, (HK, 16), False), ("TON", True, (NY, 16), False),
    ("XDC", True, (BER, 17), False), ("XDC", True, (HK, 16), False),
    ("XDC", True, (NY, 16), False),
    ("XRP", False, (BER, 17), False),
]

# UTC hour of each local clock on Wed 2024-01-17 (winter) and Wed 2024-07-17 (summer).
# London 15:00 GMT = 15Z, BST = 14Z; Berlin 17:00 CET = 16Z, CEST = 15Z; New York 13:00 EST =
# 18Z, EDT = 17Z; 16:00 EST = 21Z, EDT = 20Z; Hong Kong 16:00 = 08Z all year.
UTC_HOUR = {(LON, 15): (15, 14), (BER, 17): (16, 15), (NY, 13): (18, 17), (NY, 16): (21, 20),
            (HK, 16): (8, 8)}


def _single_key(d) -> tuple:
    """What an index of the catalogue does, in the terms of the ground rules rows."""
    if d.calendar == "hourly":
        clock = "UTC"
    else:
        clock = (d.zone, d.hour)
        assert d.minute == 0
    return (d.asset, d.window == "1h", clock, d.divisor_scale == 10.0)


def test_single_catalogue_is_the_ground_rules_table():
    """SPEC §5: 31 single asset ids, one per row of ground rules §5.2.2, fixed by name (1HR =
    the 60-minute window of SPEC §2.5, else 15 minutes), each in USD with divisor 1 or 10
    (SPEC §8.6); plus the 6 real-time ids on the 15 s window."""
    singles = [d for d in catalogue("single") if d.window != "15s"]
    assert len(singles) == 31 == len(GROUND_RULES_ROWS)
    assert sorted(map(_single_key, singles), key=repr) == sorted(GROUND_RULES_ROWS, key=repr)
    assert all(d.currency == "USD" and d.window in ("15m", "1h") for d in singles)
    for iid in ("BTC_UTC", "BTC_1H_4PM_ET", "BTC_TENTH_1H_1PM_ET", "XRP_1700_CET"):
        assert get_index(iid).family == "single"  # the SPEC's example ids
    rt = {d.id: d for d in catalogue("single") if d.window == "15s"}
    assert sorted(rt) == sorted(f"{a}_RT_{c}" for a in ("BTC", "ETH", "SOL")
                                for c in ("USD", "EUR"))
    for iid, d in rt.items():
        assert (d.asset, d.currency, d.calendar, d.divisor_scale) == (
            iid[:3], iid[-3:], "realtime", 1.0)


MULTI = {  # id: (window, UTC hour on a winter Monday, on a summer Monday) per SPEC §5
    **{i: ("15m", 10, 10) for i in ("CUSTOM_TOP20", "CUSTOM_INFRA", "CUSTOM_APP")},
    **{i: ("1h", 21, 20) for i in ("SELECT10", "SELECT10_EXBTC")},  # 16:00 ET, 1HR fix
    **{i: ("15m", 21, 20) for i in ("GS_CURRENCIES", "GS_SCP", "GS_FINANCIALS",
                                    "GS_CONSUMER", "GS_UTILITIES", "GS_TOTAL",
                                    "GS_TOTAL_CAP", "GS_SCP_INVESTIBLE")},
}


@pytest.mark.parametrize("iid", sorted(MULTI))
def test_multi_asset_catalogue_window_and_clock(iid):
    """SPEC §5: Custom at 10:00 UTC, Crypto Select and Grayscale at 16:00 ET (21Z on Mon
    2024-01-15, EST; 20Z on Mon 2024-07-15, EDT); Select reads the 1HR fix, the others the
    plain one. 50 ids in all: 13 + 31 + 6."""
    window, winter, summer = MULTI[iid]
    d = get_index(iid)
    assert (d.window, d.currency) == (window, "USD")
    assert list(calculation_times(iid, ns(2024, 1, 15), ns(2024, 1, 15, 23))) == [
        ns(2024, 1, 15, winter)]
    assert list(calculation_times(iid, ns(2024, 7, 15), ns(2024, 7, 15, 23))) == [
        ns(2024, 7, 15, summer)]
    assert len(catalogue()) == 50 and len({x.id for x in catalogue()}) == 50


@pytest.mark.parametrize("season, day", [("winter", (2024, 1, 17)), ("summer", (2024, 7, 17))])
def test_every_single_index_end_to_end(season, day):
    """SPEC §5, §7.3.1 of the single asset ground rules, §8.6: fixes of the 8 assets for the
    UTC day of a Wednesday (h = UTC hour, 0..23). An hourly UTC index has 24 levels, 15m fix
    base + h; a named-clock index one level, at the UTC hour of its clock that day, of its own
    window (1HR: base + 500 + h), divided by 10 for the 1/10 ones. E.g. winter BTC 1/10 1HR
    4pm EST: 21Z, (1000 + 500 + 21) / 10 = 152.1, divisor 10."""
    y, m, d0 = day
    ids = [d.id for d in catalogue("single") if d.window != "15s"]
    res = backfill({"prices": fixes_table(ns(y, m, d0), 24, tuple(BASE))}, indices=ids)
    for iid in ids:
        asset, lookback, clock, tenth = _single_key(get_index(iid))
        div = 10.0 if tenth else 1.0
        hours = range(24) if clock == "UTC" else [UTC_HOUR[clock][season == "summer"]]
        want = {ns(y, m, d0, h): (pytest.approx((BASE[asset] + 500 * lookback + h) / div,
                                                rel=1e-15), div, "firm") for h in hours}
        assert levels_of(res, iid) == want, iid


# --- 2. clock times across DST switches -----------------------------------------------------

# (index, [(UTC date, UTC hour or None for no calculation)]) per SPEC §1.2 and §5.
SWITCH_WEEKS = {
    # Spring 2024: US on EDT from Sun 03-10, Europe still on winter time until Sun 03-31.
    "BTC_4PM_ET": [((2024, 3, 8), 21), ((2024, 3, 9), None), ((2024, 3, 10), 20),
                   ((2024, 3, 18), 20), ((2024, 3, 29), 20), ((2024, 3, 31), 20),
                   ((2024, 10, 28), 20), ((2024, 11, 1), 20), ((2024, 11, 2), None),
                   ((2024, 11, 3), 21), ((2024, 11, 4), 21)],
    "BTC_1PM_ET": [((2024, 3, 10), 17), ((2024, 3, 18), 17), ((2024, 11, 1), 17),
                   ((2024, 11, 3), 18)],
    "BTC_1700_CET": [((2024, 3, 10), 16), ((2024, 3, 18), 16), ((2024, 3, 29), 16),
                     ((2024, 3, 30), None), ((2024, 3, 31), 15), ((2024, 4, 1), 15),
                     ((2024, 10, 25), 15), ((2024, 10, 27), 16), ((2024, 10, 28), 16),
                     ((2024, 11, 3), 16)],
    "BTC_1500_UK": [((2024, 3, 18), 15), ((2024, 3, 29), 15), ((2024, 3, 31), 14),
                    ((2024, 10, 25), 14), ((2024, 10, 27), 15), ((2024, 11, 3), 15)],
    "BTC_1H_4PM_HKT": [((2024, 3, 8), 8), ((2024, 3, 9), None), ((2024, 3, 10), 8),
                       ((2024, 3, 31), 8), ((2024, 10, 27), 8), ((2024, 11, 3), 8)],
    "CUSTOM_TOP20": [((2024, 3, 10), 10), ((2024, 3, 31), 10), ((2024, 11, 3), 10)],
}


@pytest.mark.parametrize("iid", sorted(SWITCH_WEEKS))
def test_clock_times_on_and_between_switch_days(iid):
    """SPEC §1.2, §1.4, §5: a named clock is local time with DST, each zone on its own switch
    days; days are local days, Sunday to Friday. Between 2024-03-10 and 03-31 New York is on
    EDT while Berlin and London are on winter time (and again 10-27 to 11-03)."""
    for (y, m, d), hour in SWITCH_WEEKS[iid]:
        got = list(calculation_times(iid, ns(y, m, d), ns(y, m, d, 23, 59)))
        assert got == ([] if hour is None else [ns(y, m, d, hour)]), (iid, y, m, d)


@pytest.mark.parametrize("iid, day, official", [
    ("BTC_1500_UK", (2024, 3, 31), 14),  # 15:00 BST; the switch was at 01:00Z
    ("BTC_1500_UK", (2024, 10, 27), 15),  # 15:00 GMT
    ("BTC_1PM_ET", (2024, 3, 10), 17),  # 13:00 EDT; the switch was at 07:00Z
    ("BTC_1PM_ET", (2024, 11, 3), 18),  # 13:00 EST; the switch was at 06:00Z
    ("SELECT10", (2025, 3, 9), 20),  # 16:00 EDT
])
def test_hourly_on_request_flags_on_switch_sundays(iid, day, official):
    """SPEC §5: on request, every whole UTC hour (24 on a switch Sunday: UTC has no DST);
    exactly one of them, the local clock time, is an official calculation time."""
    y, m, d = day
    hours = calculation_times(iid, ns(y, m, d), ns(y, m, d, 23), hourly=True)
    assert list(hours) == [ns(y, m, d, h) for h in range(24)]
    assert list(hours[is_official(iid, hours)]) == [ns(y, m, d, official)]


def test_levels_across_the_autumn_switches_with_hourly_flags():
    """SPEC §1.2, §5, §8.6 end to end: fixes from Fri 2024-10-25 00Z (h = hours since then).
    BTC_1500_UK: Fri 10-25 14Z (BST, h 14): 1014; Sun 10-27 15Z (GMT, h 63): 1063.
    BTC_TENTH_1H_4PM_ET: Fri 10-25 20Z (EDT, h 20): 1520 / 10; Sun 11-03 21Z (EST, h 9 x 24
    + 21 = 237): 1737 / 10; Mon 11-04 21Z (h 261): 1761 / 10. Hourly on request: Sun 10-27
    14Z is not official for BTC_1500_UK any more: the 15m fix 1062, indicative."""
    data = {"prices": fixes_table(ns(2024, 10, 25), 24 * 11)}
    res = backfill(data, indices=["BTC_1500_UK", "BTC_TENTH_1H_4PM_ET"])
    uk = levels_of(res, "BTC_1500_UK")
    assert uk[ns(2024, 10, 25, 14)] == (1014.0, 1.0, "firm")
    assert uk[ns(2024, 10, 27, 15)] == (1063.0, 1.0, "firm")
    assert ns(2024, 10, 27, 14) not in uk and ns(2024, 10, 26, 14) not in uk  # Saturday
    tenth = levels_of(res, "BTC_TENTH_1H_4PM_ET")
    for (y, m, d, h), hn in [((2024, 10, 25, 20), 20), ((2024, 11, 3, 21), 237),
                             ((2024, 11, 4, 21), 261)]:
        assert tenth[ns(y, m, d, h)] == (pytest.approx((1500 + hn) / 10, rel=1e-15), 10.0,
                                         "firm")
    assert ns(2024, 11, 3, 20) not in tenth and ns(2024, 11, 1, 20) in tenth
    hourly = levels_of(backfill(data, indices=["BTC_1500_UK"], hourly=True), "BTC_1500_UK")
    assert hourly[ns(2024, 10, 27, 14)] == (1062.0, 1.0, "indicative")
    assert hourly[ns(2024, 10, 27, 15)] == (1063.0, 1.0, "firm")
    assert hourly[ns(2024, 10, 26, 14)] == (1038.0, 1.0, "indicative")  # Saturday


@pytest.mark.parametrize("day, pause_hour", [
    ((2024, 3, 10), 21),  # US spring switch Sunday: 17:00 EDT = 21Z
    ((2024, 3, 31), 21),  # EU switch only: New York already on EDT
    ((2024, 10, 27), 21),  # EU switch only: New York still on EDT
    ((2024, 11, 3), 22),  # US autumn switch Sunday: 17:00 EST = 22Z
])
def test_realtime_pause_on_switch_sundays(day, pause_hour):
    """SPEC §5 (ground rules §8.4.1): ticks every 15 s except Sunday 17:00-17:15 New York
    time, whatever happens in Europe. A UTC day has 86400 / 15 = 5760 ticks; the pause takes
    the 59 ticks strictly between 17:00:00 and 17:15:00 (both ends calculated, as the ground
    rules "between 5:15pm ... through 5:00pm" say). The 02:00 local switch itself leaves no
    hole in the UTC grid."""
    y, m, d = day
    times = calculation_times("BTC_RT_EUR", ns(y, m, d), ns(y, m, d) + DAY - 1)
    assert times.size == 5760 - 59
    t17 = ns(y, m, d, pause_hour)
    near = calculation_times("BTC_RT_USD", t17 - TICK, t17 + 61 * TICK)
    assert list(near) == [t17 - TICK, t17, t17 + 60 * TICK, t17 + 61 * TICK]
    saturday = calculation_times("BTC_RT_USD", ns(y, m, d) - DAY, ns(y, m, d) - 1)
    assert saturday.size == 5760


def test_realtime_levels_around_the_autumn_pause():
    """SPEC §5, §8.6: ticks on Sun 2024-11-03 from 21:59:30Z (17:00 EST = 22:00Z), price
    100 + i for i = 0..65. Levels at 21:59:30, 21:59:45, 22:00:00 (102), then none until
    22:15:00 (i 62: 162), 22:15:15 (163); the tick 21:00Z that would be the summer pause is
    not touched (data start after it)."""
    t0 = ns(2024, 11, 3, 21, 59, 30)
    ts = [t0 + i * TICK for i in range(66)]
    prices = pa.table({"ts": pa.array(ts, pa.int64()).cast(TS), "asset": ["SOL"] * 66,
                       "window": ["15s"] * 66,
                       "price": pa.array([100.0 + i for i in range(66)])})
    lv = levels_of(backfill({"prices": prices}, indices=["SOL_RT_USD"]), "SOL_RT_USD")
    assert sorted(lv) == ts[:3] + ts[62:]
    assert lv[ts[2]] == (102.0, 1.0, "firm") and lv[ts[62]] == (162.0, 1.0, "firm")


# --- 3. year ends, leap days and holidays -----------------------------------------------------


def test_hourly_utc_calendar_over_year_ends():
    """SPEC §5: Sunday 22:00Z to Friday 22:00Z, no holidays named. Fri 2021-12-31: 00..22Z
    (23 hours); Sat 2022-01-01: none; Sun 2022-01-02: 22Z, 23Z. Sun 2023-12-31: 22Z, 23Z;
    Mon 2024-01-01 (New Year's Day): all 24 hours."""
    got = calculation_times("BTC_UTC", ns(2021, 12, 31), ns(2022, 1, 2, 23))
    assert list(got) == [ns(2021, 12, 31, h) for h in range(23)] + [
        ns(2022, 1, 2, 22), ns(2022, 1, 2, 23)]
    got = calculation_times("ETH_UTC", ns(2023, 12, 31), ns(2024, 1, 1, 23))
    assert list(got) == [ns(2023, 12, 31, 22), ns(2023, 12, 31, 23)] + [
        ns(2024, 1, 1, h) for h in range(24)]


def test_whole_leap_year_counts():
    """SPEC §5. 2024 starts on a Monday and has 366 days: 52 weeks + Mon 12-30, Tue 12-31.
    Daily calendars: 366 - 52 Saturdays = 314 instants (16:00 ET is on the same UTC date, so
    the UTC year holds them all). BTC_UTC: Mon 53 and Tue 53, Wed/Thu 52 each, x 24 hours;
    Fri 52 x 23 (00..22Z); Sun 52 x 2: 5040 + 1196 + 104 = 6340. 2023 (starts on a Sunday,
    365 days, 52 Saturdays): 313 daily instants."""
    y24 = (ns(2024, 1, 1), ns(2024, 12, 31, 23, 59))
    for iid in ("BTC_4PM_ET", "CUSTOM_APP", "BTC_1700_CET", "XDC_1H_4PM_HKT"):
        assert calculation_times(iid, *y24).size == 314, iid
    assert calculation_times("BTC_UTC", *y24).size == 6340
    assert calculation_times("GS_TOTAL", ns(2023, 1, 1), ns(2023, 12, 31, 23)).size == 313
    assert calculation_times("BTC_UTC", *y24, hourly=True).size == 366 * 24


@pytest.mark.parametrize("day, weekday_open", [
    ((2024, 2, 29), True),  # Thursday
    ((2020, 2, 29), False),  # Saturday
    ((2028, 2, 29), True),  # Tuesday
    ((2024, 12, 25), True),  # Wednesday, Christmas: no holiday calendar in SPEC §5
    ((2025, 1, 1), True),  # Wednesday, New Year
])
def test_leap_days_and_holidays(day, weekday_open):
    """SPEC §5: calendars are by weekday only. On an open day: BTC_UTC 24 hours, BTC_4PM_ET
    at 21Z (EST in February and December), CUSTOM_INFRA at 10Z; on a Saturday nothing."""
    y, m, d = day
    lo, hi = ns(y, m, d), ns(y, m, d, 23)
    if weekday_open:
        assert calculation_times("BTC_UTC", lo, hi).size == 24
        assert list(calculation_times("BTC_4PM_ET", lo, hi)) == [ns(y, m, d, 21)]
        assert list(calculation_times("CUSTOM_INFRA", lo, hi)) == [ns(y, m, d, 10)]
    else:
        for iid in ("BTC_UTC", "BTC_4PM_ET", "CUSTOM_INFRA", "BTC_1H_4PM_HKT"):
            assert calculation_times(iid, lo, hi).size == 0


def test_daily_hong_kong_calendar_over_a_year_end():
    """SPEC §1.4, §5: 16:00 HKT = 08:00Z the same date. Fri 2024-12-27 .. Mon 2025-01-06:
    every date but Sat 12-28 and Sat 01-04."""
    got = calculation_times("TON_1H_4PM_HKT", ns(2024, 12, 27), ns(2025, 1, 6, 23))
    dates = [(2024, 12, 27), (2024, 12, 29), (2024, 12, 30), (2024, 12, 31), (2025, 1, 1),
             (2025, 1, 2), (2025, 1, 3), (2025, 1, 5), (2025, 1, 6)]
    assert list(got) == [ns(y, m, d, 8) for y, m, d in dates]


def event(family: str, month: str):
    evs = [e for e in review_events(family, ns(2015, 1, 1), ns(2030, 12, 31))
           if e.month == month]
    assert len(evs) == 1, (family, month)
    return evs[0]


@pytest.mark.parametrize("family, month, want", [
    # Custom January 2025 reset: prior month ends Tue 2024-12-31 (10Z); first Friday
    # 2025-01-03, Wed after 01-08, 3rd Friday 01-17, Sunday 01-19, all 10:00 UTC.
    ("custom", "2025-01", ((2024, 12, 31, 10), (2025, 1, 8, 10), (2025, 1, 17, 10),
                           (2025, 1, 19, 10))),
    # Custom March 2028: leap day cut-off 2028-02-29; first Friday 03-03, Wed 03-08,
    # 3rd Friday 03-17, Sunday 03-19.
    ("custom", "2028-03", ((2028, 2, 29, 10), (2028, 3, 8, 10), (2028, 3, 17, 10),
                           (2028, 3, 19, 10))),
    # Custom March 2023 (not a leap year): cut-off 2023-02-28; first Friday 03-03.
    ("custom", "2023-03", ((2023, 2, 28, 10), (2023, 3, 8, 10), (2023, 3, 17, 10),
                           (2023, 3, 19, 10))),
    # Select December 2024: cut-off 2024-11-30 22:00 UTC; first Friday 12-06, prices Wed
    # 12-11 16:00 EST = 21Z, C Fri 12-20 21Z, E Sun 12-22 21Z.
    ("select", "2024-12", ((2024, 11, 30, 22), (2024, 12, 11, 21), (2024, 12, 20, 21),
                           (2024, 12, 22, 21))),
    # Select March 2025: US switch Sun 03-09, so Wed 03-12 16:00 is EDT = 20Z (in 2024 the
    # Wednesday was still EST); cut-off 2025-02-28 22Z; C 03-21 20Z, E 03-23 20Z.
    ("select", "2025-03", ((2025, 2, 28, 22), (2025, 3, 12, 20), (2025, 3, 21, 20),
                           (2025, 3, 23, 20))),
    # Grayscale June 2024: cut-off Fri 2024-05-31 16:00 EDT = 20Z; first Friday 06-07,
    # prices 06-12 20Z, C 06-21 20Z, E 06-23 20Z.
    ("grayscale", "2024-06", ((2024, 5, 31, 20), (2024, 6, 12, 20), (2024, 6, 21, 20),
                              (2024, 6, 23, 20))),
    # Grayscale December 2024: cut-off Sat 2024-11-30 16:00 EST = 21Z (a Saturday: the rule
    # names a date, not a calculation day); prices 12-11 21Z; C 12-20 21Z; E 12-22 21Z.
    ("grayscale", "2024-12", ((2024, 11, 30, 21), (2024, 12, 11, 21), (2024, 12, 20, 21),
                              (2024, 12, 22, 21))),
])
def test_review_events_at_year_ends_leap_days_and_switches(family, month, want):
    """SPEC §4.1: cut-off on the last day of the prior month (28th, 29th, 30th or 31st, across
    a year end), review prices, C and E, each in the family's zone with DST (SPEC §1.2)."""
    e = event(family, month)
    assert (e.cutoff, e.price_time, e.close, e.effective) == tuple(ns(*w) for w in want)


def test_grayscale_new_entrant_instant_and_single_old_year_end():
    """SPEC §4.1: Grayscale new entrants at 22:00 UTC of the last day of the prior month
    (March 2025: 2025-02-28 22Z; March 2028: the leap day). Single asset January 2022 (old
    schedule, ground rules §5.3): data as at the close of Fri 2021-12-31, 22:00 UTC."""
    assert new_entrant_time(event("grayscale", "2025-03")) == ns(2025, 2, 28, 22)
    assert new_entrant_time(event("grayscale", "2028-03")) == ns(2028, 2, 29, 22)
    j = event("single", "2022-01")
    assert j.cutoff == j.price_time == ns(2021, 12, 31, 22)


# --- 4. EUR through FX as of each tick ------------------------------------------------------


def rt_prices(t0: int, n: int, asset: str = "BTC") -> pa.Table:
    ts = [t0 + i * TICK for i in range(n)]
    return pa.table({"ts": pa.array(ts, pa.int64()).cast(TS), "asset": [asset] * n,
                     "window": ["15s"] * n, "price": pa.array([100.0 + i for i in range(n)])})


def fx(rows: list[tuple[int, str, float]]) -> pa.Table:
    return pa.table({"ts": pa.array([r[0] for r in rows], pa.int64()).cast(TS),
                     "currency": [r[1] for r in rows],
                     "usd_per_unit": pa.array([r[2] for r in rows], pa.float64())})


def test_eur_rate_at_or_before_each_tick():
    """SPEC §3.1-§3.2: e(t) = 1 / usd_per_unit(EUR, t), the latest EUR row at or before t.
    Ticks t_i = Wed 2024-05-15 12:00:00Z + 15 s i, price 100 + i. EUR rows: 1.25 an hour
    before; 1.6 exactly at t_2; 2.0 one ns after t_4; a USDT row at t_1 (another currency).
    t_0, t_1: /1.25; t_2, t_3, t_4: /1.6 (as of: at counts); t_5: 105 / 2.0 = 52.5.
    The USD index is the tick price itself."""
    t0 = ns(2024, 5, 15, 12)
    t = [t0 + i * TICK for i in range(6)]
    rates = fx([(t0 - HOUR, "EUR", 1.25), (t[2], "EUR", 1.6), (t[4] + 1, "EUR", 2.0),
                (t[1], "USDT", 0.5)])
    res = backfill({"prices": rt_prices(t0, 6), "fx": rates},
                   indices=["BTC_RT_EUR", "BTC_RT_USD"])
    eur, usd = levels_of(res, "BTC_RT_EUR"), levels_of(res, "BTC_RT_USD")
    want = [100 / 1.25, 101 / 1.25, 102 / 1.6, 103 / 1.6, 104 / 1.6, 52.5]
    assert sorted(eur) == t
    for ti, w in zip(t, want, strict=True):
        assert eur[ti] == (pytest.approx(w, rel=1e-15), 1.0, "firm")
    assert [usd[ti][0] for ti in t] == [100.0 + i for i in range(6)]


def test_eur_rate_across_a_dst_switch_and_the_pause():
    """SPEC §1.1, §3.2, §5: FX as-of is on UTC instants; a rate stamped in the Sunday pause
    (Sun 2024-03-10 21:05Z, 17:05 EDT) applies from the first tick after the pause, 21:15Z.
    Ticks from 20:59:45Z (i = 0), price 200 + i; rate 1.0 from Saturday, 0.8 from 21:05Z.
    21:00:00 (i 1): 201 / 1.0; 21:15:00 (i 61): 261 / 0.8 = 326.25."""
    t0 = ns(2024, 3, 10, 20, 59, 45)
    prices = rt_prices(t0, 63, "ETH")
    prices = prices.set_column(3, "price", pa.array([200.0 + i for i in range(63)]))
    rates = fx([(ns(2024, 3, 9), "EUR", 1.0), (ns(2024, 3, 10, 21, 5), "EUR", 0.8)])
    lv = levels_of(backfill({"prices": prices, "fx": rates}, indices=["ETH_RT_EUR"]),
                   "ETH_RT_EUR")
    assert sorted(lv) == [t0, t0 + TICK, t0 + 61 * TICK, t0 + 62 * TICK]
    assert lv[t0 + TICK] == (201.0, 1.0, "firm")
    assert lv[t0 + 61 * TICK] == (pytest.approx(326.25, rel=1e-15), 1.0, "firm")


def test_eur_ticks_before_the_first_rate_have_no_level():
    """SPEC §3.2: with no EUR row at or before t, e(t) does not exist, so no EUR level; from
    the first EUR row on, levels follow the ticks. Ticks 12:00:00 .. 12:01:15Z (price 100 + i),
    first EUR row 2.0 at 12:00:30: levels 102 / 2, 103 / 2, 104 / 2, 105 / 2."""
    t0 = ns(2024, 3, 8, 12)
    res = backfill({"prices": rt_prices(t0, 6), "fx": fx([(t0 + 2 * TICK, "EUR", 2.0)])},
                   indices=["BTC_RT_EUR"])
    lv = levels_of(res, "BTC_RT_EUR")
    assert lv == {t0 + i * TICK: (50.0 + i / 2, 1.0, "firm") for i in range(2, 6)}


# --- 5. data that starts or ends mid-week ---------------------------------------------------


def test_indices_start_at_their_own_first_fix_and_carry_after_the_data_ends():
    """SPEC §8.6, §3.8. BTC 15m/1h fixes Wed 2024-06-12 13:00Z .. Thu 06-13 05:00Z (h 0..16,
    1h rows only from Wed 21:00Z, h 8); ETH Wed 18:00Z .. Thu 22:00Z (h 0..28, ETH base 3000).
    - BTC_UTC: first level Wed 13Z (1000); Thu 05Z (1016) firm; then BTC has no fix but the
      data go on (ETH): Thu 06Z .. 22Z keep 1016, indicative; nothing after 22Z.
    - BTC_4PM_ET (16:00 EDT = 20Z): Wed 20Z (h 7: 1007) firm; Thu 20Z: 1016 indicative.
    - BTC_1H_4PM_ET: its window starts Wed 21Z, after Wed 20Z: first level Thu 20Z, the last
      1h fix (h 16: 1516) carried, indicative.
    - ETH_UTC starts at Wed 18Z (3000); ETH_4PM_ET Wed 20Z (h 2: 3002), Thu 20Z (h 26: 3026).
    - Each has one constituents row: effective = its first level, rank 1, market value and
      supply null, factor and weight 1."""
    btc = fixes_table(ns(2024, 6, 12, 13), 17, ("BTC",), first_1h=ns(2024, 6, 12, 21))
    eth = fixes_table(ns(2024, 6, 12, 18), 29, ("ETH",))
    ids = ["BTC_UTC", "BTC_4PM_ET", "BTC_1H_4PM_ET", "ETH_UTC", "ETH_4PM_ET"]
    res = backfill({"prices": pa.concat_tables([btc, eth])}, indices=ids)
    b = levels_of(res, "BTC_UTC")
    assert min(b) == ns(2024, 6, 12, 13) and b[min(b)] == (1000.0, 1.0, "firm")
    assert b[ns(2024, 6, 13, 5)] == (1016.0, 1.0, "firm")
    assert b[ns(2024, 6, 13, 6)] == b[ns(2024, 6, 13, 22)] == (1016.0, 1.0, "indicative")
    assert max(b) == ns(2024, 6, 13, 22) and len(b) == 34  # Wed 13..23Z (11), Thu 0..22Z
    assert levels_of(res, "BTC_4PM_ET") == {ns(2024, 6, 12, 20): (1007.0, 1.0, "firm"),
                                            ns(2024, 6, 13, 20): (1016.0, 1.0, "indicative")}
    assert levels_of(res, "BTC_1H_4PM_ET") == {ns(2024, 6, 13, 20): (1516.0, 1.0,
                                                                     "indicative")}
    e = levels_of(res, "ETH_UTC")
    assert min(e) == ns(2024, 6, 12, 18) and e[min(e)] == (3000.0, 1.0, "firm")
    assert levels_of(res, "ETH_4PM_ET") == {ns(2024, 6, 12, 20): (3002.0, 1.0, "firm"),
                                            ns(2024, 6, 13, 20): (3026.0, 1.0, "firm")}
    rows = {r["index"]: r for r in res.constituents.to_pylist()}
    assert sorted(rows) == sorted(ids)
    for iid in ids:
        r = rows[iid]
        assert r["effective"].value == min(levels_of(res, iid)), iid
        assert (r["asset"], r["rank"], r["market_value"], r["supply"], r["factor"],
                r["weight"]) == (iid[:3], 1, None, None, 1.0, 1.0)


def test_tenth_index_starting_on_a_friday_evening():
    """SPEC §5, §8.6: fixes from Fri 2024-01-19 22:00Z (h = 0) for 3 days. BTC_UTC: Fri 22Z is
    the close, included (1000), then nothing until Sun 22Z (h 48: 1048). The 1/10 1HR 1pm EST
    index (13:00 EST = 18Z): Fri 18Z is before the data, Saturday has none: first level Sun
    2024-01-21 18Z (h 44): (1500 + 44) / 10 = 154.4, divisor 10; its constituents row is
    effective then."""
    res = backfill({"prices": fixes_table(ns(2024, 1, 19, 22), 72)},
                   indices=["BTC_UTC", "BTC_TENTH_1H_1PM_ET"])
    b = levels_of(res, "BTC_UTC")
    assert sorted(b)[:3] == [ns(2024, 1, 19, 22), ns(2024, 1, 21, 22), ns(2024, 1, 21, 23)]
    assert b[ns(2024, 1, 21, 22)] == (1048.0, 1.0, "firm")
    t = levels_of(res, "BTC_TENTH_1H_1PM_ET")
    assert min(t) == ns(2024, 1, 21, 18)
    assert t[min(t)] == (pytest.approx(154.4, rel=1e-15), 10.0, "firm")
    row = [r for r in res.constituents.to_pylist() if r["index"] == "BTC_TENTH_1H_1PM_ET"]
    assert [r["effective"].value for r in row] == [ns(2024, 1, 21, 18)]


# --- 6. half-open fix windows around a switch instant -----------------------------------------


def test_half_open_windows_at_the_us_spring_switch_instant():
    """SPEC §1.3, §2.5, §2.7: windows are in UTC, [T - w, T). New York switches at Sun
    2024-03-10 07:00Z (02:00 EST -> 03:00 EDT); the fixes do not care. BTC trades (USD, one
    market, size 1): 06:44:59.999999999 at 80, 06:45:00 at 10, 06:59:59.999999999 at 20,
    07:00:00 at 40. Fix 07:00: 15m [06:45, 07:00) = (10 + 20) / 2 = 15; 1h [06:00, 07:00) =
    (80 + 10 + 20) / 3. Fix 08:00: 1h [07:00, 08:00) = 40; 15m [07:45, 08:00) empty: the
    previous 15m fix, 15, stale (SPEC §2.6)."""
    rows = [(ns(2024, 3, 10, 7) - 15 * 60 * SECOND - 1, 80.0),
            (ns(2024, 3, 10, 6, 45), 10.0), (ns(2024, 3, 10, 7) - 1, 20.0),
            (ns(2024, 3, 10, 7), 40.0)]
    trades = pa.table({"ts": pa.array([r[0] for r in rows], pa.int64()).cast(TS),
                       "asset": ["BTC"] * 4, "exchange": ["a"] * 4, "quote": ["USD"] * 4,
                       "price": pa.array([r[1] for r in rows]), "size": pa.array([1.0] * 4)})
    out = compute_fixes({"trades": trades}, ns(2024, 3, 10, 7), ns(2024, 3, 10, 8))
    got = {(r["window"], r["ts"].value): (r["price"], r["n_trades"], r["stale"])
           for r in out.table.to_pylist()}
    assert got[("15m", ns(2024, 3, 10, 7))] == (15.0, 2, False)
    assert got[("1h", ns(2024, 3, 10, 7))] == (pytest.approx(110 / 3, rel=1e-15), 3, False)
    assert got[("1h", ns(2024, 3, 10, 8))] == (40.0, 1, False)
    assert got[("15m", ns(2024, 3, 10, 8))] == (15.0, 0, True)
    assert np.array_equal(np.unique([k[1] for k in got]),
                          [ns(2024, 3, 10, 7), ns(2024, 3, 10, 8)])
