"""Edge cases of the rules shared by every index, each number worked out by hand from the SPEC.

Groups:

1. Reference price fixes (SPEC §1.3, §2.2-§2.6, §8.1): the screen at exactly ``ped``, FX as of
   each trade inside one window, the 15m and 1h windows screened on their own, a stale fix
   carrying the previous fix of its own window, several vetted periods of one exchange, the
   15-second grid on every day of the week.
2. Fixes derived by ``backfill`` from trades when there is no prices table (SPEC §8.2).
3. Single asset and real-time indices (SPEC §1.2, §3.8, §5, §8.6): summer clock times, a
   start on a Saturday, the hourly calendar's flags, an unusable price, the Sunday pause.
4. A multi-asset index through a review (SPEC §3.1, §3.5, §3.8, §5, §8.2, §8.6): a new member
   with no fix at C, a stale asset outside the basket, a zero price in the basket.
5. Inputs and outputs (SPEC §1.1, §6.2, §6.3): timestamp units, zones and offsets, naive
   timestamps in any table, bad keys and values, output column types.
6. Counts of skipped rows in the backfill manifest (SPEC §2.3, §6.2, §8.2).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from daix.engine.backfill import backfill
from daix.errors import InputError
from daix.fixes import compute_fixes

TS = pa.timestamp("ns", tz="UTC")
SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ns(text: str) -> int:
    d = at(text)
    return int(d.timestamp()) * SECOND + d.microsecond * 1000


# --- 1. reference price fixes ---------------------------------------------------------------


def trades(rows: list[tuple]) -> pa.Table:
    """Rows (ts text or ns, asset, exchange, quote, price, size)."""
    ts = [r[0] if isinstance(r[0], int) else ns(r[0]) for r in rows]
    return pa.table({"ts": pa.array(ts, pa.int64()).cast(TS),
                     "asset": [r[1] for r in rows], "exchange": [r[2] for r in rows],
                     "quote": [r[3] for r in rows],
                     "price": pa.array([float(r[4]) for r in rows], pa.float64()),
                     "size": pa.array([float(r[5]) for r in rows], pa.float64())})


def fixes_by_key(result) -> dict[tuple[str, str, int], dict]:
    return {(r["window"], r["asset"], r["ts"].value): r for r in result.table.to_pylist()}


@pytest.mark.parametrize(("third", "price", "kept", "excluded"), [
    # ped = 0.25 (exact in binary): |125/100 - 1| = 0.25 is not > 0.25: kept,
    # price (100 + 100 + 125) / 3.
    (125.0, 325.0 / 3, 3, 0),
    # |75/100 - 1| = 0.25: kept, (100 + 100 + 75) / 3.
    (75.0, 275.0 / 3, 3, 0),
    # |125.5/100 - 1| = 0.255 > 0.25: excluded, (100 + 100) / 2.
    (125.5, 100.0, 2, 1),
])
def test_screen_keeps_a_market_exactly_at_ped(third, price, kept, excluded):
    """SPEC §2.4: market x is excluded when |vwap_x / m - 1| > ped: a market exactly at ped
    stays. Three markets of one trade each (size 1) at 00:50-00:52 UTC, median 100."""
    data = {"trades": trades([("2024-01-01T00:50Z", "BTC", "a", "USD", 100, 1),
                              ("2024-01-01T00:51Z", "BTC", "b", "USD", 100, 1),
                              ("2024-01-01T00:52Z", "BTC", "c", "USD", third, 1)])}
    t = ns("2024-01-01T01:00Z")
    got = fixes_by_key(compute_fixes(data, t, t, ped=0.25))
    for window in ("15m", "1h"):
        f = got[(window, "BTC", t)]
        assert f["price"] == pytest.approx(price, rel=1e-15)
        assert (f["n_markets"], f["n_excluded"], f["n_trades"]) == (kept, excluded, kept)
        assert f["volume"] == float(kept) and f["stale"] is False


def test_fx_as_of_each_trade_inside_one_window():
    """SPEC §2.2: price_usd = price * usd_per_unit(quote, ts), the latest FX row at or before
    the trade's own ts, so two trades of one market in one window may use different rates.

    EUR rows: 1.10 from 2023-12-31, 1.20 from 00:50:00 exactly. Market (a, EUR): 00:10 100 x 2
    (1.10: 220 USD), 00:46 100 x 1 (110), 00:49:59.999999999 100 x 1 (110), 00:50:00 100 x 3
    (1.20 at its own instant: 360). Market (b, USD): 00:55 115 x 1. Two markets: no screen.
    15m [00:45, 01:00): PV 110 + 110 + 360 + 115 = 695, V 6: 695 / 6.
    1h [00:00, 01:00): PV 695 + 220 = 915, V 8: 114.375 (SPEC §1.3, §2.5)."""
    data = {
        "trades": trades([("2024-01-01T00:10Z", "BTC", "a", "EUR", 100, 2),
                          ("2024-01-01T00:46Z", "BTC", "a", "EUR", 100, 1),
                          (ns("2024-01-01T00:50Z") - 1, "BTC", "a", "EUR", 100, 1),
                          ("2024-01-01T00:50Z", "BTC", "a", "EUR", 100, 3),
                          ("2024-01-01T00:55Z", "BTC", "b", "USD", 115, 1)]),
        "fx": pa.table({"ts": pa.array([at("2023-12-31T00:00Z"), at("2024-01-01T00:50Z")], TS),
                        "currency": ["EUR", "EUR"], "usd_per_unit": [1.10, 1.20]}),
    }
    t = ns("2024-01-01T01:00Z")
    got = fixes_by_key(compute_fixes(data, t, t))
    f15, f60 = got[("15m", "BTC", t)], got[("1h", "BTC", t)]
    assert f15["price"] == pytest.approx(695 / 6, rel=1e-14)
    assert (f15["volume"], f15["n_trades"], f15["n_markets"]) == (6.0, 4, 2)
    assert f60["price"] == pytest.approx(114.375, rel=1e-14)
    assert (f60["volume"], f60["n_trades"], f60["n_markets"]) == (8.0, 5, 2)


def test_each_window_is_screened_on_its_own_vwaps():
    """SPEC §2.4-§2.5: the screen runs per window on that window's market VWAPs.

    a, b, c each trade 100 x 1 in [00:45, 01:00); c also trades 200 x 2 at 00:20.
    15m at 01:00: vwaps 100, 100, 100: nothing excluded, price 100, volume 3.
    1h at 01:00: a 100, b 100, c (100 + 400) / 3 = 166.67; median 100; c is 66.7% off
    (> 5%): excluded; price (100 + 100) / 2 = 100, volume 2, 2 markets, 1 excluded."""
    data = {"trades": trades([("2024-01-01T00:20Z", "BTC", "c", "USD", 200, 2),
                              ("2024-01-01T00:50Z", "BTC", "a", "USD", 100, 1),
                              ("2024-01-01T00:51Z", "BTC", "b", "USD", 100, 1),
                              ("2024-01-01T00:52Z", "BTC", "c", "USD", 100, 1)])}
    t = ns("2024-01-01T01:00Z")
    got = fixes_by_key(compute_fixes(data, t, t))
    f15, f60 = got[("15m", "BTC", t)], got[("1h", "BTC", t)]
    assert (f15["price"], f15["volume"], f15["n_markets"], f15["n_excluded"]) == (
        100.0, 3.0, 3, 0)
    assert (f60["price"], f60["volume"], f60["n_markets"], f60["n_excluded"],
            f60["n_trades"]) == (100.0, 2.0, 2, 1, 2)


def test_stale_fix_carries_the_previous_fix_of_its_own_window():
    """SPEC §2.6, §8.1: an empty window gives the previous fix of the same asset and window
    kind, stale, volume 0 and counts 0.

    Trades: 00:50 100 x 1; 01:10 200 x 1. Grid 01:00, 02:00, 03:00.
    01:00: 15m 100 and 1h 100 (fresh). 02:00: 15m [01:45, 02:00) empty: 100 (not the 1h fix
    200), stale; 1h [01:00, 02:00) holds 01:10: 200 fresh. 03:00: both empty: 15m 100 and
    1h 200, stale."""
    data = {"trades": trades([("2024-01-01T00:50Z", "BTC", "a", "USD", 100, 1),
                              ("2024-01-01T01:10Z", "BTC", "a", "USD", 200, 1)])}
    got = fixes_by_key(compute_fixes(data, ns("2024-01-01T01:00Z"), ns("2024-01-01T03:00Z")))
    want = {("15m", "01:00"): (100.0, False), ("1h", "01:00"): (100.0, False),
            ("15m", "02:00"): (100.0, True), ("1h", "02:00"): (200.0, False),
            ("15m", "03:00"): (100.0, True), ("1h", "03:00"): (200.0, True)}
    for (window, hhmm), (price, stale) in want.items():
        f = got[(window, "BTC", ns(f"2024-01-01T{hhmm}Z"))]
        assert (f["price"], f["stale"]) == (price, stale), (window, hhmm)
        if stale:
            assert (f["volume"], f["n_trades"], f["n_markets"], f["n_excluded"]) == (
                0.0, 0, 0, 0)


def test_exchange_with_two_vetted_periods():
    """SPEC §2.3, §8.1: a trade outside every vetted period of its exchange is rejected; an
    exchange not on the list is unknown; a trade with several defects counts once, under the
    first failing reason (price before the others).

    Exchange a vetted [00:00, 00:30) and [00:45, open end). Trades of a: 00:20 100 (vetted),
    00:40 999 (between the periods: outside_vetted_period), 00:40 price -1 (price first),
    00:50 110 (vetted). Exchange z (not listed): unknown_exchange.
    1h at 01:00: (100 + 110) / 2 = 105; 15m: 110."""
    data = {
        "trades": trades([("2024-01-01T00:20Z", "BTC", "a", "USD", 100, 1),
                          ("2024-01-01T00:40Z", "BTC", "a", "USD", 999, 1),
                          ("2024-01-01T00:40Z", "BTC", "a", "USD", -1, 1),
                          ("2024-01-01T00:50Z", "BTC", "a", "USD", 110, 1),
                          ("2024-01-01T00:55Z", "BTC", "z", "USD", 500, 1)]),
        "exchanges": pa.table({
            "exchange": ["a", "a"],
            "valid_from": pa.array([at("2024-01-01T00:00Z"), at("2024-01-01T00:45Z")], TS),
            "valid_to": pa.array([at("2024-01-01T00:30Z"), None], TS)}),
    }
    t = ns("2024-01-01T01:00Z")
    result = compute_fixes(data, t, t)
    got = fixes_by_key(result)
    assert got[("1h", "BTC", t)]["price"] == 105.0
    assert got[("15m", "BTC", t)]["price"] == 110.0
    assert result.report["rejected"] == {"price": 1, "size": 0, "unknown_exchange": 1,
                                         "outside_vetted_period": 1, "before_first_fx": 0}


def test_realtime_fix_grid_holds_the_sunday_pause():
    """SPEC §8.1: the fix grid holds every 15 s tick of every day of the week; the Sunday
    17:00-17:15 New York pause is a calendar of the real-time indices (SPEC §5), not of fixes.
    Sunday 2024-06-09 17:05 EDT = 21:05Z. A trade at 21:05:03 (100 x 1): tick 21:05:00 has no
    previous fix (null, stale); 21:05:15 holds [21:05:00, 21:05:15): 100; 21:05:30: 100,
    stale."""
    data = {"trades": trades([("2024-06-09T21:05:03Z", "BTC", "a", "USD", 100, 1)])}
    result = compute_fixes(data, ns("2024-06-09T21:05:00Z"), ns("2024-06-09T21:05:30Z"),
                           realtime=True)
    rows = [(r["ts"].value, r["window"], r["price"], r["stale"])
            for r in result.table.to_pylist()]
    assert rows == [(ns("2024-06-09T21:05:00Z"), "15s", None, True),
                    (ns("2024-06-09T21:05:15Z"), "15s", 100.0, False),
                    (ns("2024-06-09T21:05:30Z"), "15s", 100.0, True)]


# --- 2. fixes derived by backfill (SPEC §8.2) ---------------------------------------------


def hourly_trades(skip: tuple[int, ...] = ()) -> list[tuple]:
    """One BTC trade an hour on one market: at 00:50 + h hours, price 100 + h, size 1, for
    h = 0..29 (Monday 2024-03-04 00:50Z to Tuesday 05:50Z), except the hours in ``skip``. The
    15m fix at (h + 1):00 is then 100 + h."""
    start = ns("2024-03-04T00:50Z")
    return [(start + h * HOUR, "BTC", "a", "USD", 100 + h, 1) for h in range(30)
            if h not in skip]


def test_backfill_without_prices_uses_the_fresh_hourly_fixes():
    """SPEC §8.2: with trades and no prices, backfill derives the hourly fixes of §2.7 and
    uses their non-stale rows. BTC_UTC (15m window, hourly calendar, SPEC §5) then reads
    100 + h at (h + 1):00. No trade in hour h = 10 (10:50): the 15m fix at 11:00 is stale,
    so it is not a price; the level there keeps the last price, 109 from 10:00, indicative
    (SPEC §3.8)."""
    res = backfill({"trades": trades(hourly_trades(skip=(10,)))}, indices=["BTC_UTC"])
    lv = {r["ts"].value: (r["level"], r["divisor"], r["status"])
          for r in res.levels.to_pylist()}
    assert lv[ns("2024-03-04T01:00Z")] == (100.0, 1.0, "firm")
    assert lv[ns("2024-03-04T10:00Z")] == (109.0, 1.0, "firm")
    assert lv[ns("2024-03-04T11:00Z")] == (109.0, 1.0, "indicative")
    assert lv[ns("2024-03-04T12:00Z")] == (111.0, 1.0, "firm")
    assert min(lv) == ns("2024-03-04T01:00Z")  # starts at its first fix (SPEC §8.6)


# --- 3. single asset and real-time indices --------------------------------------------------


def hourly_prices(start: str, hours: int, asset: str = "BTC",
                  override: dict[str, float] | None = None) -> pa.Table:
    """15m fix = 1000 + h and 1h fix = 2000 + h at hour h after ``start`` (so a level tells
    its source hour); ``override`` replaces the 15m price at given instants."""
    t0 = at(start)
    ts, window, price = [], [], []
    for h in range(hours):
        t = t0 + dt.timedelta(hours=h)
        for w, base in (("15m", 1000.0), ("1h", 2000.0)):
            ts.append(t)
            window.append(w)
            price.append(base + h)
    if override:
        for when, value in override.items():
            i = ts.index(at(when))  # the 15m row comes first
            price[i] = value
    return pa.table({"ts": pa.array(ts, TS), "asset": [asset] * len(ts), "window": window,
                     "price": pa.array(price, pa.float64())})


def levels_of(result, index: str) -> dict[int, tuple[float, float, str]]:
    return {r["ts"].value: (r["level"], r["divisor"], r["status"])
            for r in result.levels.to_pylist() if r["index"] == index}


def test_single_asset_summer_clock_times():
    """SPEC §1.2, §5: local closing times in summer (hour h = hours after Mon 2024-06-10 00Z).
    15:00 London (BST, UTC+1) = 14:00Z: 15m fix 1014. 17:00 Berlin (CEST, UTC+2) = 15:00Z:
    1015. 13:00 New York (EDT, UTC-4) = 17:00Z, 1HR and 1/10: (2000 + 17) / 10, divisor 10.
    16:00 Hong Kong (UTC+8) = 08:00Z, 1HR: 2008."""
    res = backfill({"prices": hourly_prices("2024-06-10T00:00Z", 48)},
                   indices=["BTC_1500_UK", "BTC_1700_CET", "BTC_TENTH_1H_1PM_ET",
                            "BTC_1H_4PM_HKT"])
    assert levels_of(res, "BTC_1500_UK")[ns("2024-06-10T14:00Z")] == (1014.0, 1.0, "firm")
    assert levels_of(res, "BTC_1700_CET")[ns("2024-06-10T15:00Z")] == (1015.0, 1.0, "firm")
    level, divisor, status = levels_of(res, "BTC_TENTH_1H_1PM_ET")[ns("2024-06-10T17:00Z")]
    assert (level, divisor, status) == (pytest.approx(201.7, rel=1e-15), 10.0, "firm")
    assert levels_of(res, "BTC_1H_4PM_HKT")[ns("2024-06-10T08:00Z")] == (2008.0, 1.0, "firm")
    assert sorted(levels_of(res, "BTC_1500_UK")) == [ns("2024-06-10T14:00Z"),
                                                     ns("2024-06-11T14:00Z")]


def test_single_asset_starting_on_a_saturday():
    """SPEC §5, §8.6: fixes from Saturday 2024-06-08 00:00Z. BTC_UTC starts at its first
    calculation time at or after the first fix, Sunday 22:00Z (hour 46: 1046); BTC_4PM_ET at
    Sunday 16:00 EDT = 20:00Z (hour 44: 1044). Each has one constituents row: effective at
    that first level, rank 1, market value and supply null, factor and weight 1."""
    res = backfill({"prices": hourly_prices("2024-06-08T00:00Z", 72)},
                   indices=["BTC_UTC", "BTC_4PM_ET"])
    utc, et = levels_of(res, "BTC_UTC"), levels_of(res, "BTC_4PM_ET")
    assert min(utc) == ns("2024-06-09T22:00Z") and utc[min(utc)] == (1046.0, 1.0, "firm")
    assert min(et) == ns("2024-06-09T20:00Z") and et[min(et)] == (1044.0, 1.0, "firm")
    rows = {r["index"]: r for r in res.constituents.to_pylist()}
    assert rows["BTC_UTC"]["effective"].value == ns("2024-06-09T22:00Z")
    assert rows["BTC_4PM_ET"]["effective"].value == ns("2024-06-09T20:00Z")
    for r in rows.values():
        assert (r["asset"], r["rank"], r["market_value"], r["supply"], r["factor"],
                r["weight"]) == ("BTC", 1, None, None, 1.0, 1.0)


def test_single_asset_hourly_calendar_flags():
    """SPEC §5: on the hourly calendar on request every whole UTC hour has a level; those that
    are not official calculation times are indicative. BTC_UTC is official from Sunday 22:00Z
    to Friday 22:00Z (both included). Fixes from Saturday 2024-06-08 00Z (hour 0).
    Sat 06-08 10:00 (h 10): 1010 indicative. Sun 06-09 21:00 (h 45): indicative; 22:00: firm.
    Fri 06-14 22:00 (h 166): firm; 23:00 (h 167): indicative."""
    res = backfill({"prices": hourly_prices("2024-06-08T00:00Z", 24 * 8)},
                   indices=["BTC_UTC"], hourly=True)
    lv = levels_of(res, "BTC_UTC")
    assert min(lv) == ns("2024-06-08T00:00Z")  # starts at its first fix (SPEC §8.6)
    assert lv[ns("2024-06-08T10:00Z")] == (1010.0, 1.0, "indicative")
    assert lv[ns("2024-06-09T21:00Z")] == (1045.0, 1.0, "indicative")
    assert lv[ns("2024-06-09T22:00Z")] == (1046.0, 1.0, "firm")
    assert lv[ns("2024-06-14T22:00Z")] == (1166.0, 1.0, "firm")
    assert lv[ns("2024-06-14T23:00Z")] == (1167.0, 1.0, "indicative")


def test_single_asset_unusable_price_is_no_fix():
    """SPEC §8.2, §3.8: a 15m row with price 0 at Mon 2024-06-10 05:00Z (hour 5) counts as no
    price: BTC_UTC keeps the last price, 1004 from 04:00, and is indicative; 06:00 is firm
    again (1006). The manifest counts the unusable row."""
    prices = hourly_prices("2024-06-10T00:00Z", 24, override={"2024-06-10T05:00Z": 0.0})
    res = backfill({"prices": prices}, indices=["BTC_UTC"])
    lv = levels_of(res, "BTC_UTC")
    assert lv[ns("2024-06-10T05:00Z")] == (1004.0, 1.0, "indicative")
    assert lv[ns("2024-06-10T06:00Z")] == (1006.0, 1.0, "firm")
    assert res.manifest["data"]["price_rows"]["bad_price"] == 1


def ticks(start: str, prices: list[float | None], asset: str = "BTC") -> pa.Table:
    """15s rows from ``start``, one per entry; ``None`` leaves the tick out."""
    t0 = at(start)
    rows = [(t0 + dt.timedelta(seconds=15 * i), p) for i, p in enumerate(prices)
            if p is not None]
    return pa.table({"ts": pa.array([r[0] for r in rows], TS), "asset": [asset] * len(rows),
                     "window": ["15s"] * len(rows),
                     "price": pa.array([r[1] for r in rows], pa.float64())})


def test_realtime_sunday_pause_and_missing_tick():
    """SPEC §5, §3.8: ticks every 15 s except Sunday 17:00-17:15 New York time; in June that
    is 21:00-21:15Z. Ticks i = 0..69 from Sun 2024-06-09 20:59:30Z, price 100 + i, tick 66
    (21:16:00) missing. Levels at 21:00:00 (i 2: 102) and 21:15:00 (i 62: 162), none strictly
    between; at 21:16:00 the last price 165 (i 65), indicative; 21:16:15: 167, firm."""
    prices: list[float | None] = [100.0 + i for i in range(70)]
    prices[66] = None
    res = backfill({"prices": ticks("2024-06-09T20:59:30Z", prices)}, indices=["BTC_RT_USD"])
    lv = levels_of(res, "BTC_RT_USD")
    assert lv[ns("2024-06-09T21:00:00Z")] == (102.0, 1.0, "firm")
    assert lv[ns("2024-06-09T21:15:00Z")] == (162.0, 1.0, "firm")
    assert not [t for t in lv if ns("2024-06-09T21:00:00Z") < t < ns("2024-06-09T21:15:00Z")]
    assert lv[ns("2024-06-09T21:16:00Z")] == (165.0, 1.0, "indicative")
    assert lv[ns("2024-06-09T21:16:15Z")] == (167.0, 1.0, "firm")
    assert len(lv) == 70 - 59  # 59 paused ticks 21:00:15 .. 21:14:45


# --- 4. a multi-asset index through a review ------------------------------------------------
#
# CUSTOM_INFRA (sectors 702020-702050, equal weights, 15m fixes, 10:00 UTC Sunday to Friday).
# Assets: A and B (702020), N (702030), X (701010, outside the index). Supply 100 each from
# 2024-01-01. Prices: A 10, then 12 from 2024-06-24 00:00Z; B 20; N 40; X 5. Holes: A has a
# row of price 0 at 2024-04-03 10:00Z; X has no row at 2024-04-02 10:00Z; N has no row at
# 2024-06-21 10:00Z and 11:00Z. Universe: 2024-03 A, B, X; 2024-06 A, B, X, N.
#
# March review (SPEC §4.1): prices 2024-03-06 10:00Z, E = Sun 2024-03-17 10:00Z. Members A, B:
#   MV 1000, 2000; W 1/3, 2/3; equal target 1/2: f = 1.5, .75 -> scaled 1, .5 (SPEC §3.3);
#   units A 100, B 50; d = (10*100 + 20*50) / 1000 = 2 (SPEC §3.5).
# April and May resets: the same prices give the same units and d = 2.
# June review: cut-off 2024-05-31 10:00Z, prices 2024-06-12 10:00Z, C = Fri 2024-06-21 10:00Z,
#   E = Sun 2024-06-23 10:00Z. Members A, B, N: MV 1000, 2000, 4000; W 1/7, 2/7, 4/7; target
#   1/3: f = 7/3, 7/6, 7/12 -> scaled 1, 1/2, 1/4; units A 100, B 50, N 25. At C, N has no fix
#   and keeps its last price 40 (SPEC §3.8): MV_new(C) = 1000 + 1000 + 1000 = 3000,
#   MV_old(C) = 1000 + 1000 = 2000, d = 2 * 3000 / 2000 = 3.


def infra_tables() -> dict[str, pa.Table]:
    hours = []
    t = at("2024-02-20T00:00Z")
    while t <= at("2024-06-26T00:00Z"):
        hours.append(t)
        t += dt.timedelta(hours=1)
    holes = {("X", at("2024-04-02T10:00Z")), ("N", at("2024-06-21T10:00Z")),
             ("N", at("2024-06-21T11:00Z"))}
    ts, asset, price = [], [], []
    for t in hours:
        for a, p in (("A", 12.0 if t >= at("2024-06-24T00:00Z") else 10.0), ("B", 20.0),
                     ("N", 40.0), ("X", 5.0)):
            if (a, t) in holes:
                continue
            if a == "A" and t == at("2024-04-03T10:00Z"):
                p = 0.0
            ts.append(t)
            asset.append(a)
            price.append(p)
    members = {"2024-03": ["A", "B", "X"], "2024-06": ["A", "B", "X", "N"]}
    uni = [(m, a) for m, names in members.items() for a in names]
    n = len(uni)
    return {
        "prices": pa.table({"ts": pa.array(ts, TS), "asset": asset,
                            "window": ["15m"] * len(ts), "price": price}),
        "supply": pa.table({"ts": pa.array([at("2024-01-01T00:00Z")] * 4, TS),
                            "asset": ["A", "B", "N", "X"],
                            "circulating_supply": [100.0] * 4}),
        "assets": pa.table({"asset": ["A", "B", "N", "X"], "name": ["a", "b", "n", "x"],
                            "sector": ["702020", "702020", "702030", "701010"],
                            "subsector": ["70202010", "70202010", "70203010", "70101010"]}),
        "universe": pa.table({"review": [u[0] for u in uni], "asset": [u[1] for u in uni],
                              "total_cap": [True] * n, "class": ["benchmark"] * n,
                              "liquidity_pass": [True] * n, "new_entrant": [False] * n}),
    }


@pytest.fixture(scope="module")
def infra():
    return backfill(infra_tables(), indices=["CUSTOM_INFRA"])


@pytest.fixture(scope="module")
def infra_hourly():
    return backfill(infra_tables(), indices=["CUSTOM_INFRA"], hourly=True)


@pytest.mark.parametrize(("when", "level", "divisor", "status"), [
    ("2024-03-17T10:00Z", 1000.0, 2.0, "firm"),  # E of the first basket: the base value
    # X has no fix, but X is not a member: firm (SPEC §3.8 looks at constituents only)
    ("2024-04-02T10:00Z", 1000.0, 2.0, "firm"),
    # A's row of price 0 is no price (SPEC §8.2): A keeps 10, the level is indicative
    ("2024-04-03T10:00Z", 1000.0, 2.0, "indicative"),
    # C of the June review: the old basket (A, B) applies and both have fixes: firm, although
    # N, a member from E on, has none
    ("2024-06-21T10:00Z", 1000.0, 2.0, "firm"),
    ("2024-06-23T10:00Z", 1000.0, 3.0, "firm"),  # E: 3000 / 3
    # A = 12: (1200 + 50*20 + 25*40) / 3 = 3200 / 3
    ("2024-06-24T10:00Z", 3200 / 3, 3.0, "firm"),
])
def test_levels_through_a_review_with_a_stale_new_member(infra, when, level, divisor, status):
    """SPEC §3.1, §3.5, §3.8, §8.2, §8.6: levels, the divisor in force and the status, by hand
    (see the scenario above)."""
    got = levels_of(infra, "CUSTOM_INFRA")[ns(when)]
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)
    assert got[2] == status


def test_june_basket_rows(infra):
    """SPEC §8.6: at E the rows show the review-price market values and weights (1/3 each
    after equal weighting), the supply and the scaled factors 1, 1/2, 1/4."""
    rows = {r["asset"]: r for r in infra.constituents.to_pylist()
            if r["effective"].value == ns("2024-06-23T10:00Z")}
    assert set(rows) == {"A", "B", "N"}
    for a, mv, f in (("A", 1000.0, 1.0), ("B", 2000.0, 0.5), ("N", 4000.0, 0.25)):
        assert rows[a]["market_value"] == pytest.approx(mv, rel=1e-12)
        assert rows[a]["factor"] == pytest.approx(f, rel=1e-12)
        assert rows[a]["weight"] == pytest.approx(1 / 3, rel=1e-12)
        assert rows[a]["supply"] == 100.0
    actions = {r["asset"]: r["action"] for r in infra.reviews.to_pylist()
               if r["review"] == "2024-06" and r["action"] in ("add", "keep", "delete")}
    assert actions == {"A": "keep", "B": "keep", "N": "add"}


def test_hourly_calendar_matches_official_levels(infra, infra_hourly):
    """SPEC §3.5, §5: the hourly calendar uses the official baskets and divisors, so at every
    official calculation time its level equals the official level; other hours are
    indicative. After C the new basket applies: 2024-06-21 11:00Z has d = 3 and N's last
    price 40: (1000 + 1000 + 1000) / 3 = 1000."""
    official = levels_of(infra, "CUSTOM_INFRA")
    hourly = levels_of(infra_hourly, "CUSTOM_INFRA")
    assert set(official) < set(hourly)
    for t, (level, divisor, status) in official.items():
        assert hourly[t][0] == pytest.approx(level, rel=1e-12)
        assert hourly[t][1] == pytest.approx(divisor, rel=1e-12)
        assert hourly[t][2] == status
    assert all(v[2] == "indicative" for t, v in hourly.items() if t not in official)
    level, divisor, _ = hourly[ns("2024-06-21T11:00Z")]
    assert level == pytest.approx(1000.0, rel=1e-12) and divisor == pytest.approx(3.0)
    # Saturday 2024-06-22 has hourly levels only, under the June basket.
    assert hourly[ns("2024-06-22T10:00Z")][1] == pytest.approx(3.0)


# --- 5. inputs and outputs ------------------------------------------------------------------


def base_prices() -> pa.Table:
    return hourly_prices("2024-06-10T00:00Z", 30)


def with_ts(table: pa.Table, column) -> pa.Table:
    return table.set_column(table.schema.get_field_index("ts"), "ts", column)


def as_text(table: pa.Table, offset_hours: int) -> list[str]:
    zone = dt.timezone(dt.timedelta(hours=offset_hours))
    return [t.astimezone(zone).isoformat() for t in table.column("ts").to_pylist()]


@pytest.mark.parametrize("convert", [
    lambda t: t.column("ts").cast(pa.timestamp("s", tz="UTC")),
    lambda t: t.column("ts").cast(pa.timestamp("us", tz="UTC")),
    lambda t: t.column("ts").cast(pa.timestamp("ns", tz="America/New_York")),
    lambda t: pa.array(as_text(t, 2)),  # "2024-06-10T02:00:00+02:00"
    lambda t: pa.array([s.replace("+00:00", "Z") for s in as_text(t, 0)]),
], ids=["seconds", "microseconds", "new-york-zone", "offset-text", "z-text"])
def test_zoned_timestamps_of_any_unit_or_offset_are_the_same_instants(convert):
    """SPEC §1.1: every instant is UTC; inputs with a zone or an explicit offset (or Z) are
    converted, whatever their unit: the levels are those of the ns UTC table."""
    want = backfill({"prices": base_prices()}, indices=["BTC_UTC"]).levels
    got = backfill({"prices": with_ts(base_prices(), convert(base_prices()))},
                   indices=["BTC_UTC"]).levels
    assert got.equals(want)


def naive(table: pa.Table, column: str = "ts") -> pa.Table:
    i = table.schema.get_field_index(column)
    values = table.column(column).cast(TS).cast(pa.int64()).cast(pa.timestamp("ns"))
    return table.set_column(i, column, values)


@pytest.mark.parametrize("table", ["prices", "supply", "deletions"])
def test_naive_timestamps_are_rejected_in_any_table(table):
    """SPEC §1.1, §6.2: a naive timestamp is an error that says so and names the table and
    column."""
    data = infra_tables()
    data["deletions"] = pa.table({"ts": pa.array([at("2024-04-24T03:00Z")], TS),
                                  "asset": ["A"]})
    data[table] = naive(data[table])
    with pytest.raises(InputError) as err:
        backfill(data, indices=["CUSTOM_INFRA"])
    text = str(err.value)
    assert "naive" in text and table in text and "'ts'" in text


def test_naive_fx_timestamp_is_rejected_by_fixes():
    """SPEC §1.1, §6.2: the fx table too."""
    data = {"trades": trades([("2024-01-01T00:50Z", "BTC", "a", "EUR", 100, 1)]),
            "fx": naive(pa.table({"ts": pa.array([at("2024-01-01T00:00Z")], TS),
                                  "currency": ["EUR"], "usd_per_unit": [1.1]}))}
    t = ns("2024-01-01T01:00Z")
    with pytest.raises(InputError, match="naive"):
        compute_fixes(data, t, t)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: pa.concat_tables([t, t.slice(3, 1)]), "duplicate key"),
    (lambda t: t.set_column(2, "window", pa.array(["5m"] * t.num_rows)), "window"),
    (lambda t: t.set_column(3, "price", pa.array(["x"] * t.num_rows)), "price"),
    (lambda t: t.drop(["window"]), "missing column"),
])
def test_bad_prices_tables_are_errors(edit, words):
    """SPEC §6.2: a duplicate (ts, asset, window), an unknown window, a wrong type or a missing
    column is an error naming the table and the column."""
    with pytest.raises(InputError) as err:
        backfill({"prices": edit(base_prices())}, indices=["BTC_UTC"])
    assert words in str(err.value) and "prices" in str(err.value)


def test_output_column_types(infra):
    """SPEC §6.3: the columns of levels, constituents and reviews, ts and effective as
    timestamp[ns, tz=UTC]; status is firm or indicative."""
    assert infra.levels.schema == pa.schema([
        ("index", pa.string()), ("ts", TS), ("level", pa.float64()),
        ("divisor", pa.float64()), ("status", pa.string())])
    assert infra.constituents.schema.names == ["index", "effective", "asset", "rank",
                                               "market_value", "supply", "factor", "weight"]
    assert infra.constituents.schema.field("effective").type == TS
    assert infra.reviews.schema.names == ["index", "review", "asset", "action", "reason"]
    assert set(infra.levels.column("status").to_pylist()) == {"firm", "indicative"}


# --- 6. counts of skipped rows in the manifest ----------------------------------------------


def counts_under(tree, pred) -> list[tuple[str, int]]:
    """Every (key, int) of a nested manifest whose key satisfies ``pred``."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if isinstance(v, int) and not isinstance(v, bool) and pred(str(k)):
                found.append((str(k), v))
            found += counts_under(v, pred)
    elif isinstance(tree, list):
        for v in tree:
            found += counts_under(v, pred)
    return found


def test_unusable_realtime_prices_are_counted_in_the_manifest():
    """SPEC §8.2: a prices row whose price is null, not finite or not positive counts as no
    price, counted in the manifest. Three 15s rows (0, -3, NaN) and one 15m row (0): four
    unusable rows. The real-time level keeps the last price over the three (indicative)."""
    rt = ticks("2024-06-10T12:00:00Z", [100.0, 101.0, 0.0, -3.0, float("nan"), 105.0])
    hourly = hourly_prices("2024-06-10T10:00Z", 4, override={"2024-06-10T12:00Z": 0.0})
    res = backfill({"prices": pa.concat_tables([hourly, rt])},
                   indices=["BTC_RT_USD", "BTC_UTC"])
    lv = levels_of(res, "BTC_RT_USD")
    assert lv[ns("2024-06-10T12:00:45Z")] == (101.0, 1.0, "indicative")
    bad = counts_under(res.manifest, lambda k: "bad" in k)
    assert sum(n for _, n in bad) == 4, bad
    # One on the hourly grid (the 15m row at 12:00), three among the six 15s rows.
    assert res.manifest["data"]["price_rows"]["bad_price"] == 1
    assert res.manifest["data"]["realtime_rows"] == {"rows": 6, "bad_price": 3}


def test_trades_rejected_while_deriving_fixes_are_reported():
    """SPEC §8.2 derives the fixes of §2 from trades; SPEC §2.3: invalid trades are rejected
    and counted by reason in the run report; SPEC §6.2: row problems the rules cover (§2.3)
    are counted and reported, not fatal. Three invalid trades: price -1 and price NaN
    (reason price), size 0 (reason size). The levels are those without them."""
    bad = [("2024-03-04T00:55Z", "BTC", "a", "USD", -1, 1),
           ("2024-03-04T00:56Z", "BTC", "b", "USD", float("nan"), 1),
           ("2024-03-04T00:57Z", "BTC", "a", "USD", 100, 0)]
    res = backfill({"trades": trades(hourly_trades() + bad)}, indices=["BTC_UTC"])
    assert levels_of(res, "BTC_UTC")[ns("2024-03-04T01:00Z")] == (100.0, 1.0, "firm")
    price = counts_under(res.manifest, lambda k: k == "price")
    size = counts_under(res.manifest, lambda k: k == "size")
    assert ("price", 2) in price and ("size", 1) in size, res.manifest
    assert res.manifest["derived_fixes"]["rejected"]["price"] == 2
    assert res.manifest["derived_fixes"]["rejected"]["size"] == 1
