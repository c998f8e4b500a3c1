"""Calendars over long ranges keep their last instant (SPEC §2.7, §5, §8.1), and instants
typed as text keep their nanoseconds (SPEC §1.1).

A range of whole hours sized in floating point (``np.arange(first, end + 1, step)``) loses its
end once it holds 4096 hours or 2**20 ticks of 15 seconds; every expected count below is the
number of steps counted by hand, plus one for the end.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from daix.calendars import calculation_times
from daix.engine.backfill import backfill
from daix.errors import ConfigError
from daix.fixes import fix_grid
from daix.timeutil import parse_instant

HOUR = 3600 * 10**9
TICK = 15 * 10**9
#: Thursday 2022-06-30 22:00 UTC: an official time of the plain UTC single asset indices.
END = parse_instant("2022-06-30T22:00:00Z")


@pytest.mark.parametrize("hours", [4095, 4096, 4097, 50_000, 100_000])
def test_hourly_calendar_ends_on_its_end(hours):
    got = calculation_times("CUSTOM_TOP20", END - hours * HOUR, END, hourly=True)
    assert len(got) == hours + 1
    assert got[0] == END - hours * HOUR and got[-1] == END
    assert (np.diff(got) == HOUR).all()


@pytest.mark.parametrize("hours", [4096, 20_000])
def test_plain_utc_single_asset_calendar_ends_on_its_end(hours):
    got = calculation_times("BTC_UTC", END - hours * HOUR, END)
    assert got[-1] == END


@pytest.mark.parametrize("ticks", [2**20 - 1, 2**20, 2**20 + 1])
def test_realtime_calendar_ends_on_its_end(ticks):
    # 2022-06-30 22:00Z is a Thursday: no Sunday pause at the end
    got = calculation_times("BTC_RT_USD", END - ticks * TICK, END)
    assert got[-1] == END


@pytest.mark.parametrize("steps", [4096, 2**20])
def test_fix_grid_ends_on_its_end(steps):
    for step in (HOUR, TICK):
        got = fix_grid(END - steps * step, END, step)
        assert len(got) == steps + 1 and got[-1] == END


def test_backfill_writes_the_last_hour_of_a_long_history():
    # 200 days of hourly BTC fixes ending on a Thursday 22:00Z: 4801 hours
    hours = 200 * 24
    ts = END - HOUR * np.arange(hours, -1, -1, dtype=np.int64)
    prices = pa.table({
        "ts": pa.array(np.concatenate([ts, ts]), pa.timestamp("ns", tz="UTC")),
        "asset": ["BTC"] * (2 * len(ts)),
        "window": ["15m"] * len(ts) + ["1h"] * len(ts),
        "price": np.concatenate([1000.0 + np.arange(len(ts)), 5000.0 + np.arange(len(ts))]),
    })
    result = backfill({"prices": prices}, indices=["BTC_UTC"], hourly=False)
    levels = result.levels
    last = levels.column("ts").cast(pa.int64()).to_numpy().max()
    assert last == END
    final = levels.filter(pa.compute.equal(levels.column("ts").cast(pa.int64()), END))
    assert final.column("level").to_pylist() == [1000.0 + hours]  # the 15m fix of 22:00Z


def test_text_instants_keep_their_nanoseconds():
    base = parse_instant("2022-03-09T21:00:00Z")
    assert parse_instant("2022-03-09T21:00:00.000000001Z") == base + 1
    assert parse_instant("2022-03-09T21:00:00.123456789Z") == base + 123_456_789
    assert parse_instant("2022-03-09T21:00:00.5Z") == base + 500_000_000
    assert parse_instant("2022-03-09 21:00:00.000000007+00:00") == base + 7
    assert parse_instant("2022-03-09T22:00:00.000000250+01:00") == base + 250
    assert parse_instant("2022-03-09T21:00:00.1234567890Z") == base + 123_456_789
    assert parse_instant("2022-03-09") == parse_instant("2022-03-09T00:00:00Z")
    with pytest.raises(ConfigError, match="finer than a nanosecond"):
        parse_instant("2022-03-09T21:00:00.0000000001Z")


def test_calendar_start_a_nanosecond_after_an_instant_leaves_it_out():
    start = parse_instant("2024-01-01T00:00:00.0000005Z")
    got = calculation_times("BTC_UTC", start, start + 3 * HOUR)
    assert got[0] == parse_instant("2024-01-01T01:00:00Z")
    assert dt.datetime(2024, 1, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 10**9 == got[0]
