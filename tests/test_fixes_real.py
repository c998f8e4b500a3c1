"""Real-market checks of the fix engine on imported exchange bars (SPEC §2.1-§2.6, §8.1).

Skipped when the real data (``../shared/data/real``) or the fix engine is absent. Bars are
imported with :mod:`daix.bars` (one trade per bar at its open time, SPEC §2.1); expected values
come from the raw files, read here independently with pandas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from daix.bars import read_bars
from daix.timeutil import NS_PER_HOUR, NS_PER_MINUTE, parse_instant

fixes = pytest.importorskip("daix.fixes", reason="the fix engine (daix.fixes) is not available")

pytestmark = pytest.mark.real

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
HOURLY = REAL / "hourly_exchanges_2017_2020"
INTRADAY = REAL / "intraday_2023q1"
PED = 0.05  # SPEC §2.4 default

#: The seven BTC venues: file -> (exchange, quote, banner lines, date format, base volume).
BTC_FILES = {
    "Bitstamp_BTCUSD_1h.csv.gz": ("Bitstamp", "USD", 1, "%Y-%m-%d %I-%p", "Volume BTC"),
    "Kraken_BTCUSD_1h.csv.gz": ("Kraken", "USD", 1, "%Y-%m-%d %I-%p", "Volume BTC"),
    "gemini_BTCUSD_1hr.csv.gz": ("Gemini", "USD", 0, "%m/%d/%Y %H:%M", "Volume"),
    "patternchart_coinbase_BTCUSD_1h_clean.csv.gz": ("Coinbase", "USD", 0, "%Y-%m-%d %I-%p",
                                                     "Volume BTC"),
    "patternchart_bitfinex_BTCUSD_1h_clean.csv.gz": ("Bitfinex", "USD", 0, "%Y-%m-%d %I-%p",
                                                     "Volume BTC"),
    "patternchart_binance_BTCUSDT_1h_clean.csv.gz": ("Binance", "USDT", 0, "%Y-%m-%d %I-%p",
                                                     "Volume"),
    "patternchart_poloniex_BTCUSDT_1h_clean.csv.gz": ("Poloniex", "USDT", 0, "%Y-%m-%d %I-%p",
                                                      "Volume"),
}
#: Where all seven overlap (data README): Bitfinex starts 2017-10-09, Gemini ends 2018-09-05.
BTC_START, BTC_END = parse_instant("2017-10-10"), parse_instant("2018-09-06")

DEPEG_FILES = (
    "binanceus_BTCUSD_1m_20230301_20230321.csv.gz",
    "binanceus_BTCUSDT_1m_20230301_20230321.csv.gz",
    "binanceus_BTCUSDC_1m_20230301_20230321.csv.gz",
    "kraken_XBTUSD_5.csv.gz",
    "kraken_XBTUSDT_5.csv.gz",
    "kraken_XBTUSDC_5.csv.gz",
)
NOON = parse_instant("2023-03-11T12:00:00Z")
WEEK_START, WEEK_END = parse_instant("2023-03-09"), parse_instant("2023-03-16")
WINDOW_NS = {"15m": 15 * NS_PER_MINUTE, "1h": NS_PER_HOUR}


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data absent: {path}")
    return path


def _fx(*currencies: str) -> pa.Table:
    """Stablecoins at par from 2017 (SPEC §2.2: they are quotes with their own fx rows)."""
    ts = pa.array([parse_instant("2017-01-01")] * len(currencies), pa.timestamp("ns", tz="UTC"))
    return pa.table({"ts": ts, "currency": list(currencies),
                     "usd_per_unit": [1.0] * len(currencies)})


def _rows(result, window: str) -> pd.DataFrame:
    t = result.table
    frame = t.filter(pc.equal(t.column("window"), window)).to_pandas()
    frame["t"] = frame["ts"].to_numpy("datetime64[ns]").astype(np.int64)
    return frame.set_index("t")


# --- 1. BTC hourly fixes from seven exchanges ----------------------------------------------


def _raw_hourly_bars() -> pd.DataFrame:
    """Every BTC bar of the seven files, read with pandas (naive dates are UTC)."""
    frames = []
    for name, (exchange, quote, banner, fmt, volume) in BTC_FILES.items():
        raw = pd.read_csv(_need(HOURLY / name), skiprows=banner)
        ts = pd.to_datetime(raw["Date"], format=fmt).to_numpy("datetime64[ns]").astype(np.int64)
        frames.append(pd.DataFrame({
            "exchange": exchange, "quote": quote, "open": ts, "high": raw["High"],
            "low": raw["Low"], "close": raw["Close"], "volume": raw[volume]}))
    bars = pd.concat(frames, ignore_index=True)
    # Zero-volume padding bars are no trades; a zero low is a bad bar (neither is imported).
    return bars[(bars["volume"] > 0) & (bars["low"] > 0)]


@pytest.fixture(scope="module")
def btc_hourly():
    trades = pa.concat_tables([read_bars(_need(HOURLY / name)) for name in BTC_FILES])
    result = fixes.compute_fixes({"trades": trades, "fx": _fx("USDT")}, BTC_START, BTC_END,
                                 windows=("15m", "1h"), ped=PED)
    return result, _expected_hourly(_raw_hourly_bars())


def _expected_hourly(bars: pd.DataFrame) -> pd.DataFrame:
    """Per fix time T: the SPEC §2.4 screen over the bars opening at T - 1 h, one per market.

    A market's VWAP is its bar's typical price (one bar, one trade, SPEC §2.1); pandas' median
    of an even count is the mean of the two middle values, as SPEC §2.4 says.
    """
    bars = bars.assign(T=bars["open"] + NS_PER_HOUR,
                       tp=(bars["high"] + bars["low"] + bars["close"]) / 3.0)
    bars = bars[(bars["T"] >= BTC_START) & (bars["T"] <= BTC_END)]
    by_hour = bars.groupby("T")["tp"]
    n, median = by_hour.transform("size"), by_hour.transform("median")
    keep = (n < 3) | ((bars["tp"] / median - 1.0).abs() <= PED)
    kept = bars[keep].assign(pv=lambda f: f["tp"] * f["volume"]).groupby("T")
    out = pd.DataFrame({
        "pv": kept["pv"].sum(), "v": kept["volume"].sum(), "n_markets": kept.size(),
        "low": kept["low"].min(), "high": kept["high"].max()})
    out["price"] = out["pv"] / out["v"]
    out["n_excluded"] = bars.groupby("T").size() - out["n_markets"]
    return out


def test_hourly_bars_leave_15m_windows_stale(btc_hourly) -> None:
    """SPEC §8.1: bars stamped at whole hours never fall in [T - 15 min, T): stale, null."""
    result, _ = btc_hourly
    quarter = _rows(result, "15m")
    hours = (BTC_END - BTC_START) // NS_PER_HOUR + 1  # S <= T <= E (SPEC §8.1)
    assert len(quarter) == hours, "the grid must hold every whole hour, T = E included"
    assert quarter["stale"].all() and quarter["price"].isna().all()
    assert (quarter["volume"] == 0).all() and (quarter["n_markets"] == 0).all()


def test_hourly_fix_lies_in_the_kept_bars_range(btc_hourly) -> None:
    """Every fresh 1 h fix lies in [min low, max high] of the kept exchanges' bars (SPEC §2.4)."""
    result, expected = btc_hourly
    hour = _rows(result, "1h")
    fresh = hour[~hour["stale"]]
    assert len(fresh) > 7000  # about 8,000 hours in the overlap
    # Every grid hour with a bar in its window has a fresh fix, and no other.
    assert set(fresh.index) == set(expected.index) & set(hour.index)
    exp = expected.loc[fresh.index]
    assert (fresh["price"] >= exp["low"] * (1 - 1e-12)).all()
    assert (fresh["price"] <= exp["high"] * (1 + 1e-12)).all()
    np.testing.assert_allclose(fresh["price"], exp["price"], rtol=1e-9)
    assert (fresh["n_markets"] == exp["n_markets"]).all()
    assert (fresh["n_excluded"] == exp["n_excluded"]).all()


def test_some_exchange_hours_are_screened_out(btc_hourly) -> None:
    result, expected = btc_hourly
    hour = _rows(result, "1h")
    excluded = int(hour["n_excluded"].sum())
    hours = int((hour["n_excluded"] > 0).sum())
    print(f"\nBTC 1h fixes: {excluded} exchange-hours screened out in {hours} of {len(hour)} "
          "hours (SPEC §2.4)")
    assert excluded > 0
    assert excluded == expected.loc[expected.index.isin(hour.index), "n_excluded"].sum()
    assert (hour.loc[~hour["stale"], "n_markets"] > 0).all()  # the screen never empties a window
    by_market = result.report["markets_excluded"]
    assert sum(n for quotes in by_market.values() for n in quotes.values()) == excluded


# --- 2. The March 2023 USDC de-peg -----------------------------------------------------------


@pytest.fixture(scope="module")
def depeg():
    trades = pa.concat_tables([read_bars(_need(INTRADAY / name)) for name in DEPEG_FILES])
    data = {"trades": trades, "fx": _fx("USDT", "USDC")}
    week = fixes.compute_fixes(data, WEEK_START, WEEK_END, windows=("15m", "1h"), ped=PED)
    return trades.to_pandas(), week, data


def _vwap(trades: pd.DataFrame, end: int, window: str, quote: str) -> float:
    """The VWAP of one quote's markets in [end - w, end) (SPEC §1.3), USDT/USDC at par."""
    ts = trades["ts"].to_numpy("datetime64[ns]").astype(np.int64)
    sel = (ts >= end - WINDOW_NS[window]) & (ts < end) & (trades["quote"] == quote).to_numpy()
    price, size = trades["price"].to_numpy()[sel], trades["size"].to_numpy()[sel]
    return float((price * size).sum() / size.sum())


@pytest.mark.parametrize("window", ["15m", "1h"])
def test_depeg_usdc_markets_screened_at_noon(depeg, window: str) -> None:
    trades, week, _ = depeg
    row = _rows(week, window).loc[NOON]
    usd, usdc = _vwap(trades, NOON, window, "USD"), _vwap(trades, NOON, window, "USDC")
    assert not row["stale"]
    assert row["n_excluded"] >= 1 and row["n_markets"] + row["n_excluded"] == 6
    assert abs(usdc / row["price"] - 1) > 0.05  # BTC/USDC ~10 % above BTC/USD that day
    assert abs(row["price"] / usd - 1) < 0.01


def test_depeg_screen_keeps_the_fix_on_the_usd_market(depeg) -> None:
    """Without the screen (ped = 1) the USDC markets pull the noon fix away from USD."""
    trades, week, data = depeg
    loose = fixes.compute_fixes(data, NOON, NOON, windows=("1h",), ped=1.0)
    unscreened = _rows(loose, "1h").loc[NOON]
    screened = _rows(week, "1h").loc[NOON]
    usd = _vwap(trades, NOON, "1h", "USD")
    assert unscreened["n_excluded"] == 0 and unscreened["n_markets"] == 6
    assert abs(unscreened["price"] / usd - 1) > abs(screened["price"] / usd - 1)


def test_depeg_week_fixes_are_sensible(depeg) -> None:
    """2023-03-09 .. 03-16: every fix within 2 % of the Binance.US BTC/USD close at T and
    within 1 % of the USD markets' VWAP; only USDC markets are ever screened out."""
    trades, week, _ = depeg
    raw = pd.read_csv(_need(INTRADAY / DEPEG_FILES[0]))
    opens = pd.to_datetime(raw["open_time"]).to_numpy("datetime64[ns]").astype(np.int64)
    close_at = dict(zip(opens + NS_PER_MINUTE, raw["close"], strict=True))  # close of [T-1m, T)
    for window in ("15m", "1h"):
        rows = _rows(week, window)
        assert len(rows) == 7 * 24 + 1 and not rows["stale"].any()
        usd = np.array([_vwap(trades, t, window, "USD") for t in rows.index])
        assert np.all(np.abs(rows["price"].to_numpy() / usd - 1) < 0.01)
        assert rows["n_excluded"].sum() > 0
        if window == "15m":  # a 1 h VWAP lags fast moves (2.5 % at the 14 March CPI hour)
            close = np.array([close_at[t] for t in rows.index])
            assert np.all(np.abs(rows["price"].to_numpy() / close - 1) < 0.02)
    assert set(week.report["markets_excluded"]) <= {"BinanceUS", "Kraken"}
    assert {q for quotes in week.report["markets_excluded"].values() for q in quotes} == {"USDC"}
