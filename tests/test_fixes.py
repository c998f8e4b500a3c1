"""Reference price fixes (SPEC §1.3, §2, §8.1): hand-computed cases, the naive reference, CLI.

Times are on 2024-01-01 UTC unless said otherwise: ``at(0, 50)`` is 00:50. With the grid
S = 00:00, E = 01:00 the fix at 01:00 has the 15m window [00:45, 01:00) and the 1h window
[00:00, 01:00) (SPEC §1.3, §2.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import naive
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.errors import ConfigError, InputError
from daix.fixes import compute_fixes, fix_grid
from daix.schemas import arrow_schema
from daix.timeutil import NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND, parse_instant

T0 = parse_instant("2024-01-01T00:00:00Z")
H = NS_PER_HOUR
M = NS_PER_MINUTE
S = NS_PER_SECOND
TZ = pa.timestamp("ns", tz="UTC")
WINDOWS = {"15m": 15 * M, "1h": H}
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def at(hour: int, minute: int = 0, second: int = 0) -> int:
    return T0 + hour * H + minute * M + second * S


def trades_table(rows) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 6
    return pa.table({
        "ts": pa.array(list(cols[0]), TZ),
        "asset": pa.array(list(cols[1]), pa.string()),
        "exchange": pa.array(list(cols[2]), pa.string()),
        "quote": pa.array(list(cols[3]), pa.string()),
        "price": pa.array(list(cols[4]), pa.float64()),
        "size": pa.array(list(cols[5]), pa.float64()),
    })


def fx_table(rows) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 3
    return pa.table({"ts": pa.array(list(cols[0]), TZ),
                     "currency": pa.array(list(cols[1]), pa.string()),
                     "usd_per_unit": pa.array(list(cols[2]), pa.float64())})


def exchanges_table(rows) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 3
    return pa.table({"exchange": pa.array(list(cols[0]), pa.string()),
                     "valid_from": pa.array(list(cols[1]), TZ),
                     "valid_to": pa.array(list(cols[2]), TZ)})


def tables(trades, fx=(), exchanges=None) -> dict:
    data = {"trades": trades_table(trades)}
    if fx:
        data["fx"] = fx_table(fx)
    if exchanges is not None:
        data["exchanges"] = exchanges_table(exchanges)
    return data


def result_rows(table: pa.Table) -> list[tuple]:
    """The fixes table as naive-style tuples, ts as int ns."""
    out = []
    for r in table.to_pylist():
        ts = r["ts"]
        ns = int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000
        out.append((ns, r["asset"], r["window"], r["price"], r["volume"], r["n_trades"],
                    r["n_markets"], r["n_excluded"], r["stale"]))
    return out


def assert_rows_match(got: list[tuple], want: list[tuple], rel: float = 1e-12) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:3] == w[:3], (g, w)
        if w[3] is None:
            assert g[3] is None, (g, w)
        else:
            assert g[3] == pytest.approx(w[3], rel=rel), (g, w)
        assert g[4] == pytest.approx(w[4], rel=rel), (g, w)
        assert g[5:] == w[5:], (g, w)


def run_checked(trades, fx=(), exchanges=None, start=T0, end=T0 + H, ped=0.05,
                realtime=False, **kw):
    """compute_fixes, checked row by row against the naive reference; rows keyed for lookups."""
    result = compute_fixes(tables(trades, fx, exchanges), start, end, ped=ped,
                           realtime=realtime, **kw)
    windows = {"15s": 15 * S} if realtime else WINDOWS
    grid = naive.fix_grid_naive(start, end, 15 * S if realtime else H)
    ref = naive.fixes_naive(trades, list(fx), grid, windows, ped=ped, exchanges=exchanges)
    got = result_rows(result.table)
    assert_rows_match(got, ref["rows"])
    assert result.report["rejected"] == ref["rejected"]
    want_excluded: dict = {}
    for (ex, quote), n in ref["markets_excluded"].items():
        want_excluded.setdefault(ex, {})[quote] = n
    assert result.report["markets_excluded"] == want_excluded
    keyed = {(r[2], r[1], r[0]): r for r in got}
    return result, keyed


def fix_at(keyed, window: str, asset: str, ts: int) -> dict:
    r = keyed[(window, asset, ts)]
    names = ("ts", "asset", "window", "price", "volume", "n_trades", "n_markets", "n_excluded",
             "stale")
    return dict(zip(names, r, strict=True))


# --- the estimator (SPEC §2.4) -----------------------------------------------------------------


def test_one_trade():
    # one trade of 2 BTC at 100 USD at 00:50: both windows of the 01:00 fix hold it
    result, k = run_checked([(at(0, 50), "BTC", "a", "USD", 100.0, 2.0)])
    for w in ("15m", "1h"):
        f = fix_at(k, w, "BTC", at(1))
        assert (f["price"], f["volume"], f["n_trades"], f["n_markets"], f["n_excluded"],
                f["stale"]) == (100.0, 2.0, 1, 1, 0, False)
        # the 00:00 fix has no previous fix: null and stale (SPEC §2.6)
        f0 = fix_at(k, w, "BTC", at(0))
        assert f0["price"] is None and f0["stale"] and f0["volume"] == 0.0
    assert result.report["fixes_written"] == 4
    assert result.report["null_fixes"] == 2 and result.report["stale_fixes"] == 2


def test_one_exchange_vwap():
    # (100 * 1 + 110 * 3) / (1 + 3) = 430 / 4 = 107.5
    _, k = run_checked([(at(0, 50), "BTC", "a", "USD", 100.0, 1.0),
                        (at(0, 55), "BTC", "a", "USD", 110.0, 3.0)])
    f = fix_at(k, "15m", "BTC", at(1))
    assert f["price"] == 107.5 and f["volume"] == 4.0 and f["n_trades"] == 2
    assert f["n_markets"] == 1


def test_two_markets_far_apart_not_screened():
    # 1 or 2 markets: nothing excluded, (100 + 200) / 2 = 150
    _, k = run_checked([(at(0, 50), "BTC", "a", "USD", 100.0, 1.0),
                        (at(0, 51), "BTC", "b", "USD", 200.0, 1.0)])
    f = fix_at(k, "15m", "BTC", at(1))
    assert (f["price"], f["n_markets"], f["n_excluded"]) == (150.0, 2, 0)


@pytest.mark.parametrize(("third", "price", "kept", "dropped"), [
    # median 100; 106 / 100 - 1 = 0.06 > 0.05: excluded, price (100 + 100) / 2 = 100
    (106.0, 100.0, 2, 1),
    # 104 / 100 - 1 = 0.04 <= 0.05: kept, price (100 + 100 + 104) / 3 = 304 / 3
    (104.0, 304.0 / 3.0, 3, 0),
])
def test_three_markets_screen(third, price, kept, dropped):
    trades = [(at(0, 50), "BTC", "a", "USD", 100.0, 1.0),
              (at(0, 51), "BTC", "b", "USD", 100.0, 1.0),
              (at(0, 52), "BTC", "c", "USD", third, 1.0)]
    result, k = run_checked(trades)
    f = fix_at(k, "15m", "BTC", at(1))
    assert f["price"] == pytest.approx(price, rel=1e-15)
    assert (f["n_markets"], f["n_excluded"], f["volume"]) == (kept, dropped, float(kept))
    if dropped:  # both windows screened c/USD out once
        assert result.report["markets_excluded"] == {"c": {"USD": 2}}


def test_stablecoin_market_screened_alone():
    # exchange x quotes BTC in USD (100) and USDC (108 USDC at 1.0 USD = 108 USD); y in USD
    # (100). Markets are (exchange, quote): median of {100, 108, 100} = 100, x/USDC is
    # 8% off and excluded on its own, x/USD stays: price (100 + 100) / 2 = 100.
    trades = [(at(0, 50), "BTC", "x", "USD", 100.0, 1.0),
              (at(0, 51), "BTC", "x", "USDC", 108.0, 1.0),
              (at(0, 52), "BTC", "y", "USD", 100.0, 1.0)]
    fx = [(at(0), "USDC", 1.0)]
    result, k = run_checked(trades, fx)
    f = fix_at(k, "15m", "BTC", at(1))
    assert (f["price"], f["n_markets"], f["n_excluded"]) == (100.0, 2, 1)
    assert result.report["markets_excluded"] == {"x": {"USDC": 2}}


def test_even_count_median():
    # vwaps 100, 102, 110, 111: median (102 + 110) / 2 = 106.
    # 100/106 - 1 = -5.66% (out); 102/106 - 1 = -3.77%, 110/106 - 1 = 3.77%,
    # 111/106 - 1 = 4.72% (in): price (102 + 110 + 111) / 3 = 323 / 3
    trades = [(at(0, 50), "BTC", ex, "USD", p, 1.0)
              for ex, p in (("a", 100.0), ("b", 102.0), ("c", 110.0), ("d", 111.0))]
    _, k = run_checked(trades)
    f = fix_at(k, "15m", "BTC", at(1))
    assert f["price"] == pytest.approx(323.0 / 3.0, rel=1e-15)
    assert (f["n_markets"], f["n_excluded"], f["n_trades"]) == (3, 1, 3)


def test_all_markets_excluded_is_stale():
    # a fix of 120 at 00:00 (trade at 23:50 the day before); at 01:00 four markets
    # 100, 100, 200, 200: median 150, each 33% off, all excluded -> previous fix, stale,
    # volume and counts 0 (SPEC §8.1); the report still counts the four screened markets.
    trades = [(at(-1, 50), "BTC", "a", "USD", 120.0, 1.0)]
    trades += [(at(0, 50), "BTC", ex, "USD", p, 1.0)
               for ex, p in (("a", 100.0), ("b", 100.0), ("c", 200.0), ("d", 200.0))]
    result, k = run_checked(trades)
    f = fix_at(k, "15m", "BTC", at(1))
    assert (f["price"], f["stale"], f["volume"], f["n_trades"], f["n_markets"],
            f["n_excluded"]) == (120.0, True, 0.0, 0, 0, 0)
    assert result.report["markets_excluded"] == {
        "a": {"USD": 2}, "b": {"USD": 2}, "c": {"USD": 2}, "d": {"USD": 2}}


def test_empty_window_carries_previous_fix():
    # 15m: 00:00 fix from the 23:50 trade (50); 01:00 window [00:45, 01:00) is empty -> 50,
    # stale. 1h: the 01:00 window [00:00, 01:00) holds the 00:10 trade (70).
    trades = [(at(-1, 50), "ETH", "a", "USD", 50.0, 1.0),
              (at(0, 10), "ETH", "a", "USD", 70.0, 1.0)]
    _, k = run_checked(trades)
    assert fix_at(k, "15m", "ETH", at(0))["price"] == 50.0
    f = fix_at(k, "15m", "ETH", at(1))
    assert (f["price"], f["stale"], f["volume"], f["n_trades"]) == (50.0, True, 0.0, 0)
    f = fix_at(k, "1h", "ETH", at(1))
    assert (f["price"], f["stale"]) == (70.0, False)


def test_zero_volume_only_window_is_empty():
    # the only trades of [00:45, 01:00) have size 0: rejected (size), the window is empty
    trades = [(at(-1, 50), "BTC", "a", "USD", 50.0, 1.0),
              (at(0, 50), "BTC", "a", "USD", 60.0, 0.0),
              (at(0, 55), "BTC", "b", "USD", 61.0, 0.0)]
    result, k = run_checked(trades)
    f = fix_at(k, "15m", "BTC", at(1))
    assert (f["price"], f["stale"], f["n_trades"]) == (50.0, True, 0)
    assert result.report["rejected"]["size"] == 2


# --- windows (SPEC §1.3, §2.5) ----------------------------------------------------------------


def test_window_edges_half_open():
    # 15m at 01:00 is [00:45, 01:00): the 00:45:00 trade (100) is in, the 01:00:00 one (999)
    # is not (it is after E = 01:00: outside the run). 1h at 01:00 is [00:00, 01:00): the
    # 00:00:00 trade (80) is in it, and not in the 1h window of 00:00, [23:00, 00:00).
    trades = [(at(0, 0), "BTC", "a", "USD", 80.0, 1.0),
              (at(0, 45), "BTC", "a", "USD", 100.0, 1.0),
              (at(1, 0), "BTC", "a", "USD", 999.0, 1.0)]
    result, k = run_checked(trades)
    assert fix_at(k, "15m", "BTC", at(1))["price"] == 100.0
    assert fix_at(k, "1h", "BTC", at(1))["price"] == 90.0  # (80 + 100) / 2
    assert fix_at(k, "1h", "BTC", at(0))["price"] is None
    assert result.report["trades_outside_range"] == 1
    assert result.report["trades_used"] == 2


def test_trade_one_ns_before_window_start_is_out():
    # 00:44:59.999999999 is before [00:45, 01:00): only the 1h window holds it
    trades = [(at(0, 45) - 1, "BTC", "a", "USD", 100.0, 1.0)]
    _, k = run_checked(trades)
    assert fix_at(k, "15m", "BTC", at(1))["price"] is None
    assert fix_at(k, "1h", "BTC", at(1))["price"] == 100.0


def test_realtime_stream():
    # ticks every 15 s; the tick at t uses [t - 15 s, t). S = 00:00:05 -> first tick 00:00:15.
    trades = [(at(0, 0, 0), "BTC", "a", "USD", 100.0, 1.0),    # tick 00:00:15
              (at(0, 0, 14) + 999, "BTC", "a", "USD", 102.0, 1.0),  # tick 00:00:15
              (at(0, 0, 15), "BTC", "a", "USD", 110.0, 2.0),   # tick 00:00:30
              (at(0, 0, 45), "BTC", "a", "USD", 120.0, 1.0)]   # tick 00:01:00
    result, k = run_checked(trades, start=at(0, 0, 5), end=at(0, 1, 0), realtime=True)
    assert [r[0] for r in result_rows(result.table)] == [at(0, 0, 15), at(0, 0, 30),
                                                         at(0, 0, 45), at(0, 1, 0)]
    assert set(result.table.column("window").to_pylist()) == {"15s"}
    assert fix_at(k, "15s", "BTC", at(0, 0, 15))["price"] == 101.0  # (100 + 102) / 2
    assert fix_at(k, "15s", "BTC", at(0, 0, 30))["price"] == 110.0
    f = fix_at(k, "15s", "BTC", at(0, 0, 45))  # [00:00:30, 00:00:45) empty: carry 110
    assert (f["price"], f["stale"]) == (110.0, True)
    assert fix_at(k, "15s", "BTC", at(0, 1, 0))["price"] == 120.0


@pytest.mark.parametrize("day", ["2024-03-10", "2024-11-03"])
def test_dst_days_have_24_hourly_fixes(day):
    # SPEC §2.7/§8.1: the grid is UTC; US DST changes on these days do not affect it
    start = parse_instant(day)
    end = start + 24 * H - 1
    trades = [(start + 30 * M, "BTC", "a", "USD", 100.0, 1.0)]
    result = compute_fixes(tables(trades), start, end)
    ts = result.table.filter(pc.equal(result.table.column("window"), "1h")).column("ts")
    hours = [t.value for t in ts]
    assert hours == [start + i * H for i in range(24)]


def test_grid_bounds():
    # S <= T <= E on whole hours: 00:30 .. 03:00 -> 01:00, 02:00, 03:00
    assert list(fix_grid(at(0, 30), at(3), H)) == [at(1), at(2), at(3)]
    assert list(fix_grid(at(0, 30), at(0, 59), H)) == []
    # E itself is on the grid, also over a long span: (E - S) / 1 h + 1 = 7945 hours
    start, end = parse_instant("2017-10-10"), parse_instant("2018-09-06")
    grid = fix_grid(start, end, H)
    assert len(grid) == 7945 and grid[-1] == end


def test_empty_grid_still_reads_and_reports():
    result = compute_fixes(tables([(at(0, 10), "BTC", "a", "USD", 1.0, 1.0)]), at(0, 20),
                           at(0, 40))
    assert result.table.num_rows == 0
    assert result.table.schema == arrow_schema("fixes", outputs=True)
    assert result.report["trades_read"] == 1 and result.report["trades_outside_range"] == 1


# --- USD conversion (SPEC §2.2) ---------------------------------------------------------------


def test_eur_converted_as_of():
    # EUR rows: 00:00 -> 1.10, 00:50 -> 1.20, 00:56 -> 1.50.
    # 00:49 trade uses 1.10, 00:50 uses 1.20 (at or before), 00:55 uses 1.20 (the 00:56 row
    # is after it). 15m vwap = (100*1.1*1 + 100*1.2*1 + 100*1.2*2) / 4
    trades = [(at(0, 49), "BTC", "k", "EUR", 100.0, 1.0),
              (at(0, 50), "BTC", "k", "EUR", 100.0, 1.0),
              (at(0, 55), "BTC", "k", "EUR", 100.0, 2.0)]
    fx = [(at(0), "EUR", 1.10), (at(0, 50), "EUR", 1.20), (at(0, 56), "EUR", 1.50)]
    _, k = run_checked(trades, fx)
    f = fix_at(k, "15m", "BTC", at(1))
    assert f["price"] == pytest.approx((110.0 + 120.0 + 240.0) / 4.0, rel=1e-12)
    assert f["volume"] == 4.0


def test_trade_before_first_fx_row_rejected():
    # USDT rows start at 00:30: the 00:20 trade is rejected (counted), the 00:40 one is used
    trades = [(at(0, 20), "BTC", "a", "USDT", 100.0, 1.0),
              (at(0, 40), "BTC", "a", "USDT", 101.0, 1.0)]
    fx = [(at(0, 30), "USDT", 0.999)]
    result, k = run_checked(trades, fx)
    assert result.report["rejected"]["before_first_fx"] == 1
    assert fix_at(k, "1h", "BTC", at(1))["price"] == pytest.approx(101.0 * 0.999, rel=1e-15)


@pytest.mark.parametrize("fx", [[], [(T0, "EUR", 1.1)]])
def test_unknown_quote_is_an_input_error(fx):
    trades = [(at(0, 10), "BTC", "a", "USD", 1.0, 1.0),
              (at(0, 11), "BTC", "a", "GBP", 1.0, 1.0),
              (at(0, 12), "BTC", "b", "GBP", float("nan"), 1.0)]
    with pytest.raises(InputError) as err:
        compute_fixes(tables(trades, fx), T0, T0 + H)
    assert err.value.column == "quote"
    assert "GBP" in str(err.value) and "trades" in str(err.value)
    assert len(err.value.rows) == 2 and err.value.rows[0].startswith("row 2:")


def test_bad_fx_rate_is_an_input_error():
    trades = [(at(0, 10), "BTC", "a", "EUR", 1.0, 1.0)]
    with pytest.raises(InputError) as err:
        compute_fixes(tables(trades, [(T0, "EUR", 0.0)]), T0, T0 + H)
    assert err.value.column == "usd_per_unit"


# --- rejections (SPEC §2.3, §8.1) --------------------------------------------------------------


def test_invalid_trades_counted_once_by_first_reason():
    nan, inf = float("nan"), float("inf")
    trades = [
        (at(0, 50), "BTC", "a", "USD", nan, 0.0),     # price (size also bad)
        (at(0, 50), "BTC", "a", "USD", 0.0, 1.0),     # price
        (at(0, 50), "BTC", "a", "USD", -5.0, 1.0),    # price
        (at(0, 50), "BTC", "zz", "USD", inf, 1.0),    # price (exchange also unknown)
        (at(0, 50), "BTC", "a", "USD", 100.0, nan),   # size
        (at(0, 50), "BTC", "a", "USD", 100.0, -1.0),  # size
        (at(0, 50), "BTC", "a", "USD", 100.0, 0.0),   # size
        (at(0, 50), "BTC", "zz", "EUR", 100.0, 1.0),  # unknown exchange (and before fx)
        (at(0, 50), "BTC", "a", "USD", 100.0, 1.0),   # valid
    ]
    fx = [(at(0, 55), "EUR", 1.1)]
    result, k = run_checked(trades, fx, exchanges=[("a", None, None)])
    assert result.report["rejected"] == {"price": 4, "size": 3, "unknown_exchange": 1,
                                         "outside_vetted_period": 0, "before_first_fx": 0}
    assert result.report["trades_read"] == 9 and result.report["trades_used"] == 1
    assert fix_at(k, "15m", "BTC", at(1))["price"] == 100.0


def test_vetted_periods_half_open():
    # exchange a: [00:30, 00:50) and [00:55, open); b: not listed; c: [open, 00:40)
    exchanges = [("a", at(0, 30), at(0, 50)), ("a", at(0, 55), None), ("c", None, at(0, 40))]
    trades = [
        (at(0, 20), "BTC", "a", "USD", 1.0, 1.0),   # outside (before valid_from)
        (at(0, 30), "BTC", "a", "USD", 2.0, 1.0),   # in (valid_from inclusive)
        (at(0, 50), "BTC", "a", "USD", 3.0, 1.0),   # outside (valid_to exclusive)
        (at(0, 56), "BTC", "a", "USD", 4.0, 1.0),   # in (second period, no end)
        (at(0, 31), "BTC", "b", "USD", 5.0, 1.0),   # unknown exchange
        (at(0, 39), "BTC", "c", "USD", 6.0, 1.0),   # in (no start)
        (at(0, 40), "BTC", "c", "USD", 7.0, 1.0),   # outside
    ]
    result, k = run_checked(trades, exchanges=exchanges)
    assert result.report["rejected"]["outside_vetted_period"] == 3
    assert result.report["rejected"]["unknown_exchange"] == 1
    # 1h window: markets a {2, 4} vwap 3 and c {6}; two markets, no screen: (2 + 4 + 6) / 3
    assert fix_at(k, "1h", "BTC", at(1))["price"] == 4.0


def test_asset_with_only_rejected_trades_gets_null_rows():
    trades = [(at(0, 50), "BTC", "a", "USD", 100.0, 1.0),
              (at(0, 50), "DOGE", "a", "USD", float("nan"), 1.0)]
    result, k = run_checked(trades)
    assert fix_at(k, "15m", "DOGE", at(1))["price"] is None
    assert result.report["assets"] == 2


def test_null_price_or_size_rejected_and_null_key_is_an_error():
    trades = [(at(0, 50), "BTC", "a", "USD", None, 1.0), (at(0, 51), "BTC", "a", "USD", 1.0,
                                                            None)]
    result = compute_fixes(tables(trades), T0, T0 + H)
    assert result.report["rejected"]["price"] == 1 and result.report["rejected"]["size"] == 1
    with pytest.raises(InputError) as err:
        compute_fixes(tables([(at(0, 50), "BTC", None, "USD", 1.0, 1.0)]), T0, T0 + H)
    assert err.value.column == "exchange" and err.value.rows


# --- the table and the report -----------------------------------------------------------------


def test_table_schema_order_and_report():
    trades = [(at(0, 50), "ETH", "a", "USD", 10.0, 1.0),
              (at(1, 50), "BTC", "a", "USD", 20.0, 1.0),
              (at(1, 51), "BTC", "b", "USD", 22.0, 1.0)]
    result, k = run_checked(trades, end=at(2))
    table = result.table
    assert table.schema == arrow_schema("fixes", outputs=True)
    keys = [(w, a, t.value) for w, a, t in zip(table.column("window").to_pylist(),
                                               table.column("asset").to_pylist(),
                                               table.column("ts"), strict=True)]
    assert keys == sorted(keys)  # by window, asset, ts
    assert len(keys) == 2 * 2 * 3  # windows x assets x grid times (00:00, 01:00, 02:00)
    rep = result.report
    assert rep["trades_read"] == 3 and rep["trades_used"] == 3
    assert rep["fixes_written"] == 12
    # null: BTC 00:00 and 01:00 in both windows, ETH 00:00 in both -> 6; stale adds
    # ETH 15m at 02:00 (carry 10) -> 7 ... and ETH 1h at 02:00 ([01:00, 02:00) empty) -> 8
    assert rep["null_fixes"] == 6 and rep["stale_fixes"] == 8
    assert set(rep["seconds"]) >= {"read", "accumulate", "windows", "table"}
    assert fix_at(k, "1h", "BTC", at(2))["price"] == 21.0


def test_several_assets_and_windows_subset():
    trades = [(at(0, 50), "BTC", "a", "USD", 100.0, 1.0),
              (at(0, 50), "ETH", "a", "USD", 5.0, 1.0)]
    result = compute_fixes(tables(trades), T0, T0 + H, windows=("1h",))
    assert set(result.table.column("window").to_pylist()) == {"1h"}
    prices = dict(zip(result.table.column("asset").to_pylist(),
                      result.table.column("price").to_pylist(), strict=True))
    assert prices == {"BTC": 100.0, "ETH": 5.0}  # the last row per asset is 01:00


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"start_ns": T0 + H, "end_ns": T0}, "after end"),
    ({"windows": ("5m",)}, "window"),
    ({"ped": -0.1}, "ped"),
    ({"ped": float("nan")}, "ped"),
    ({"batch_rows": 0}, "batch_rows"),
])
def test_bad_arguments(kwargs, words):
    args = {"start_ns": T0, "end_ns": T0 + H, **kwargs}
    with pytest.raises(ConfigError, match=words):
        compute_fixes(tables([(at(0, 1), "BTC", "a", "USD", 1.0, 1.0)]), **args)


# --- files, batches and ordering --------------------------------------------------------------


def _mixed_trades():
    trades = []
    for i in range(60):
        ex = "abcd"[i % 4]
        quote = ("USD", "EUR", "USDT")[i % 3]
        price = 100.0 + (i * 7) % 13 + (9.0 if ex == "d" else 0.0)
        trades.append((at(0, (i * 37) % 120 - 30, i % 60), "BTC" if i % 5 else "ETH", ex,
                       quote, price, 0.5 + (i % 7)))
    trades.append((at(0, 10), "BTC", "a", "USD", float("nan"), 1.0))
    return trades


_MIXED_FX = [(at(-1), "EUR", 1.08), (at(0, 30), "EUR", 1.09), (at(-1), "USDT", 0.999)]


def test_mixed_against_naive_and_batches(tmp_path):
    trades = _mixed_trades()
    whole, _ = run_checked(trades, _MIXED_FX, start=at(-1), end=at(2))
    for rows in (1, 7, 1000):
        batched = compute_fixes(tables(trades, _MIXED_FX), at(-1), at(2), batch_rows=rows)
        assert batched.table.equals(whole.table)  # bit for bit
    pq.write_table(trades_table(trades), tmp_path / "trades.parquet", row_group_size=11)
    pcsv.write_csv(fx_table(_MIXED_FX), tmp_path / "fx.csv")
    from_file = compute_fixes(str(tmp_path), at(-1), at(2), batch_rows=5)
    assert from_file.table.equals(whole.table)
    assert from_file.report["rejected"] == whole.report["rejected"]


def test_csv_trades_file(tmp_path):
    trades = _mixed_trades()
    pcsv.write_csv(trades_table(trades), tmp_path / "trades.csv")
    pcsv.write_csv(fx_table(_MIXED_FX), tmp_path / "fx.csv")
    whole = compute_fixes(tables(trades, _MIXED_FX), at(-1), at(2))
    from_csv = compute_fixes(str(tmp_path), at(-1), at(2))
    assert from_csv.table.equals(whole.table)


def test_dictionary_columns_and_unsorted_input():
    trades = _mixed_trades()
    table = trades_table(trades)
    order = sorted(range(len(trades)), key=lambda i: (-i * 7919) % len(trades))
    shuffled = table.take(order)
    dict_table = shuffled.set_column(1, "asset", shuffled.column("asset").dictionary_encode())
    base = compute_fixes({"trades": table, "fx": fx_table(_MIXED_FX)}, at(-1), at(2))
    other = compute_fixes({"trades": dict_table, "fx": fx_table(_MIXED_FX)}, at(-1), at(2))
    assert_rows_match(result_rows(other.table), result_rows(base.table))


def test_used_series_path_and_unused_dictionary_values(monkeypatch):
    # dictionaries may carry values no row uses (a slice keeps its parent's dictionary): such
    # an asset gets no rows. Large dictionaries take the path that looks for the used
    # (asset, exchange, quote) triples; forcing it gives the same table.
    trades = _mixed_trades()
    table = trades_table([*trades, (at(0, 1), "ZZZ", "a", "USD", 1.0, 1.0)])
    table = table.set_column(1, "asset", table.column("asset").dictionary_encode())
    table = table.slice(0, len(trades))  # ZZZ stays in the dictionary only
    data = {"trades": table, "fx": fx_table(_MIXED_FX)}
    dense = compute_fixes(data, at(-1), at(2))
    assert set(dense.table.column("asset").to_pylist()) == {"BTC", "ETH"}
    monkeypatch.setattr("daix.fixes.DENSE_SERIES", 0)
    sparse = compute_fixes(data, at(-1), at(2))
    assert sparse.table.equals(dense.table)
    assert sparse.report["rejected"] == dense.report["rejected"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_thread_count_changes_nothing(shuffle, monkeypatch):
    # threads own whole buckets (sorted input) or whole runs of buckets after the counting
    # sort (unsorted): bit-identical. Even this small batch runs on every thread here.
    import numba

    trades = sorted(_mixed_trades(), key=lambda t: t[0])
    if shuffle:
        trades = trades[1::2] + trades[::2]
    data = tables(trades, _MIXED_FX)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = compute_fixes(data, at(-1), at(2))
    finally:
        numba.set_num_threads(before)
    monkeypatch.setattr("daix.fixes.PARALLEL_ROWS", 0)
    monkeypatch.setattr("daix.fixes_input.PARALLEL_ENCODE_ROWS", 1)
    many = compute_fixes(data, at(-1), at(2))
    assert one.table.equals(many.table)
    assert one.report["rejected"] == many.report["rejected"]


def test_far_timestamps_are_outside_not_lost():
    # the earliest and latest instants Arrow can hold are read, validated and counted
    low, high = -(2**63) + 1, 2**63 - 1
    trades = [(low, "BTC", "a", "USD", 1.0, 1.0), (high, "BTC", "a", "USD", 1.0, 1.0),
              (high, "BTC", "a", "EUR", 1.0, 1.0), (at(0, 50), "BTC", "a", "USD", 5.0, 1.0)]
    result = compute_fixes(tables(trades, [(T0, "EUR", 1.1)]), T0, T0 + H)
    assert result.report["trades_read"] == 4
    assert result.report["trades_outside_range"] == 3
    assert result.report["trades_used"] == 1


def test_dataset_directory(tmp_path):
    # a directory trades/ of Parquet files is one table, read in file order
    trades = sorted(_mixed_trades(), key=lambda t: t[0])
    (tmp_path / "trades").mkdir()
    table = trades_table(trades)
    pq.write_table(table.slice(0, 30), tmp_path / "trades" / "part-0.parquet")
    pq.write_table(table.slice(30), tmp_path / "trades" / "part-1.parquet")
    pq.write_table(fx_table(_MIXED_FX), tmp_path / "fx.parquet")
    got = compute_fixes(str(tmp_path), at(-1), at(2))
    want = compute_fixes(tables(trades, _MIXED_FX), at(-1), at(2))
    assert got.table.equals(want.table)


def test_bucket_memory_limit(monkeypatch):
    # the dense sums are series x buckets x 24 bytes; a run that would pass the limit stops
    # with a clear message instead of exhausting memory
    monkeypatch.setattr("daix.fixes.MAX_BUCKET_BYTES", 1000)
    trades = [(at(0, 50), "BTC", "a", "USD", 1.0, 1.0)]
    with pytest.raises(ConfigError, match="shorter range"):
        compute_fixes(tables(trades), T0, T0 + 24 * H)


# --- CLI ---------------------------------------------------------------------------------------


def _write_dir(path: Path, trades, fx=()) -> Path:
    path.mkdir()
    pq.write_table(trades_table(trades), path / "trades.parquet")
    if fx:
        pq.write_table(fx_table(fx), path / "fx.parquet")
    return path


def test_cli_writes_file_and_prints_report(tmp_path):
    from daix.cli import main

    trades = [(at(0, 50), "BTC", "a", "USD", 100.0, 1.0),
              (at(0, 51), "BTC", "b", "USDC", 120.0, 1.0),
              (at(0, 52), "BTC", "c", "USD", 100.0, 1.0),
              (at(0, 53), "BTC", "c", "USD", float("nan"), 1.0)]
    data = _write_dir(tmp_path / "data", trades, [(T0, "USDC", 1.0)])
    out = tmp_path / "fixes.parquet"
    res = CliRunner().invoke(main, ["fix", str(data), "--out", str(out), "--start",
                                    "2024-01-01", "--end", "2024-01-01"])
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    # a bare --end date is the end of that day: 24 hourly fixes per window
    assert table.num_rows == 2 * 24
    assert "trades read" in res.output and "price 1" in res.output
    assert "b/USDC 2" in res.output  # screened out in both windows at 01:00
    csv_out = tmp_path / "fixes.csv"
    res = CliRunner().invoke(main, ["fix", str(data), "--out", str(csv_out), "--start",
                                    "2024-01-01T00:00:00Z", "--end", "2024-01-01T00:00:15Z",
                                    "--realtime", "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.output == "" and csv_out.exists()
    assert pcsv.read_csv(csv_out).num_rows == 2  # ticks 00:00:00 and 00:00:15
    again = tmp_path / "again.parquet"
    res = CliRunner().invoke(main, ["fix", str(data), "--out", str(again), "--start",
                                    "2024-01-01", "--end", "2024-01-01", "--batch-rows", "1",
                                    "--ped", "0.5", "--quiet"])
    assert res.exit_code == 0, res.output
    # ped 0.5 keeps b/USDC (120 vs median 100): the 01:00 fix is (100 + 120 + 100) / 3
    fixes = pq.read_table(again).to_pylist()
    at_one = [r["price"] for r in fixes if r["ts"].hour == 1 and r["window"] == "15m"]
    assert at_one == [pytest.approx(320.0 / 3.0, rel=1e-15)]


def test_cli_bad_quote_fails_cleanly(tmp_path):
    from daix.cli import main

    data = _write_dir(tmp_path / "data", [(at(0, 50), "BTC", "a", "JPY", 100.0, 1.0)])
    out = tmp_path / "fixes.parquet"
    res = CliRunner().invoke(main, ["fix", str(data), "--out", str(out), "--start",
                                    "2024-01-01", "--end", "2024-01-01"])
    assert res.exit_code != 0
    assert "column 'quote'" in res.output and "JPY" in res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == [data]  # no output, no temporary file


def test_cli_help_says_bare_end_date_is_inclusive():
    from daix.cli import main

    res = CliRunner().invoke(main, ["fix", "--help"])
    assert res.exit_code == 0 and "end of that day" in res.output


# --- real data --------------------------------------------------------------------------------


@pytest.mark.real
def test_real_usdc_depeg_screened_out():
    """Binance.US BTC 1-minute bars in USD, USDT and USDC around the March 2023 USDC de-peg.

    Bars become trades at their typical price, stamped at their open (SPEC §2.1). The fx
    table holds the nominal pegs (USDT = USDC = 1.0), so on 2023-03-11 BTC/USDC looks ~10%
    dear and the screen must drop that market alone, while on 2023-03-05 nothing is dropped.
    """
    folder = REAL / "intraday_2023q1"
    if not folder.is_dir():
        pytest.skip("real data not available")

    parts = []
    for quote in ("USD", "USDT", "USDC"):
        raw = pcsv.read_csv(folder / f"binanceus_BTC{quote}_1m_20230301_20230321.csv.gz")
        ts = raw.column("open_time").cast(TZ)  # read as timestamp[s, tz=UTC]
        typical = pc.divide(pc.add(pc.add(raw.column("high"), raw.column("low")),
                                   raw.column("close")), 3.0)
        parts.append(pa.table({
            "ts": ts, "asset": pa.array(["BTC"] * raw.num_rows),
            "exchange": pa.array(["binanceus"] * raw.num_rows),
            "quote": pa.array([quote] * raw.num_rows), "price": typical,
            "size": raw.column("volume").cast(pa.float64())}))
    trades = pa.concat_tables(parts)
    fx = fx_table([(parse_instant("2023-03-01"), "USDT", 1.0),
                   (parse_instant("2023-03-01"), "USDC", 1.0)])
    noon = parse_instant("2023-03-11T12:00:00Z")
    calm = parse_instant("2023-03-05T12:00:00Z")
    result = compute_fixes({"trades": trades, "fx": fx}, calm - 2 * H, noon + 2 * H)
    rows = {(r["window"], r["ts"].timestamp()): r for r in result.table.to_pylist()}
    for window in ("15m", "1h"):
        depeg = rows[(window, noon / 1e9)]
        assert depeg["n_excluded"] == 1 and depeg["n_markets"] == 2
        assert 19_000 < depeg["price"] < 21_000  # BTC/USD traded about 20,190
        assert rows[(window, calm / 1e9)]["n_excluded"] == 0
    assert result.report["markets_excluded"]["binanceus"].get("USDC", 0) > 0
    assert "USD" not in result.report["markets_excluded"]["binanceus"]
    assert result.report["rejected"]["size"] > 0  # zero-volume minutes are rejected

    # a few hours against the naive reference
    lo, hi = noon - 2 * H, noon + H
    window = trades.filter(pc.and_(pc.greater_equal(trades.column("ts").cast(pa.int64()),
                                                    lo - H),
                                   pc.less(trades.column("ts").cast(pa.int64()), hi)))
    cols = [window.column(c).to_pylist() for c in ("asset", "exchange", "quote", "price",
                                                   "size")]
    ts = window.column("ts").cast(pa.int64()).to_pylist()
    plain = [(t, *rest) for t, *rest in zip(ts, *cols, strict=True)]
    fx_rows = [(parse_instant("2023-03-01"), "USDT", 1.0),
               (parse_instant("2023-03-01"), "USDC", 1.0)]
    ref = naive.fixes_naive(plain, fx_rows, naive.fix_grid_naive(lo, hi, H), WINDOWS)
    got = compute_fixes({"trades": window, "fx": fx}, lo, hi)
    assert_rows_match(result_rows(got.table), ref["rows"], rel=1e-9)
    assert not math.isnan(got.table.column("price")[-1].as_py())
