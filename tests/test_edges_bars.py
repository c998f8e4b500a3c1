"""Bar files at their edges; fixes from imported bars by hand (SPEC §1.3, §2.1-§2.6, §8.1).

Groups:

1. CryptoDataDownload files (SPEC §2.1): the first and last rows of real files (newest first,
   banner and header lines), the base volume of a crypto-quoted pair, Unix times in seconds and
   milliseconds in one file, a spreadsheet-mangled Unix column, zero-volume bars at the edges.
2. Plain OHLCV files (SPEC §2.1, §2.3): tab-separated hourly bars with missing hours, zoned
   minute bars with zero volume, VWAP columns and which volume column is the base volume.
3. Kraken OHLCVT and Binance klines (SPEC §1.1, §2.1): missing 5-minute bars, open times in
   seconds, milliseconds and microseconds (Binance since 2025), duplicated hours.
4. ``daix import-bars`` on a slice of a real file (SPEC §2.1, §2.3, §6.1).
5. Fixes from imported bars (SPEC §1.3, §2.4-§2.6, §8.1): two exchanges, a gap of missing hours,
   the screen of three quotes of one exchange, 15-minute windows from hourly and 5-minute bars.

Expected values come from the raw lines of the files, read here with the ``csv`` module, and the
SPEC's words: one trade per bar at its open time, priced at its VWAP where the file gives one or
else at (high + low + close) / 3, sized by the bar's volume in units of the asset.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.bars import read_bar_file, read_bars
from daix.cli import main
from daix.fixes import compute_fixes

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
HOURLY = REAL / "hourly_exchanges_2017_2020"
H1 = REAL / "hourly_binance_usdt_2017_2023"
INTRADAY = REAL / "intraday_2023q1"
SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
REL = 1e-12


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> int:
    """ns since the epoch of a UTC date-time."""
    return int(dt.datetime(y, m, d, h, mi, tzinfo=dt.timezone.utc).timestamp()) * SECOND


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data absent: {path}")
    return path


def head(path: Path, n: int, *, skip: int = 0, delimiter: str = ",") -> list[list[str]]:
    """The first n csv rows after `skip` raw lines."""
    with gzip.open(path, "rt", newline="") as f:
        return list(itertools.islice(csv.reader(itertools.islice(f, skip, None),
                                                delimiter=delimiter), n))


def rows_of(path: Path, *, skip: int = 0, delimiter: str = ",", last: int | None = None):
    """Every csv row after `skip` raw lines (or only the last `last` of them)."""
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.reader(itertools.islice(f, skip, None), delimiter=delimiter)
        return list(collections.deque(reader, maxlen=last))


def typical(high: str, low: str, close: str) -> float:
    """SPEC §2.1: (high + low + close) / 3."""
    return (float(high) + float(low) + float(close)) / 3


def cdd_hour(label: str) -> int:
    """A CDD label like '2017-07-01 11-AM' as ns: 12-AM is midnight, 12-PM is noon."""
    day, clock = label.split(" ")
    hh, half = clock.split("-")
    y, m, d = (int(x) for x in day.split("-"))
    return utc(y, m, d, int(hh) % 12 + (12 if half == "PM" else 0))


def trades(table) -> list[tuple[int, float, float]]:
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    return list(zip(ts, table.column("price").to_pylist(), table.column("size").to_pylist(),
                    strict=True))


def same_trade(got: tuple[int, float, float], ts: int, price: float, size: float) -> None:
    assert got[0] == ts
    assert got[1] == pytest.approx(price, rel=REL)
    assert got[2] == size


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- 1. CryptoDataDownload files -------------------------------------------------------------


@pytest.mark.real
def test_cdd_first_and_last_rows_newest_first() -> None:
    """SPEC §2.1: the file's last line (its oldest bar) is the first trade, at its open time."""
    path = need(HOURLY / "Bitstamp_BTCUSD_1h.csv.gz")
    assert "CryptoDataDownload" in head(path, 1)[0][1]
    header = head(path, 1, skip=1)[0]
    base = header.index("Volume BTC")
    top, bottom = head(path, 2, skip=2), rows_of(path, last=2)
    bars = read_bar_file(path)
    got = trades(bars.table)
    # oldest line: 2017-07-01 11-AM, H 2510.62 L 2495.5 C 2500, 208.52 BTC -> 7506.12 / 3
    assert bottom[-1][0] == "2017-07-01 11-AM"
    same_trade(got[0], utc(2017, 7, 1, 11), 2502.04, 208.52)
    for trade, row in ((got[1], bottom[-2]), (got[-2], top[1]), (got[-1], top[0])):
        same_trade(trade, cdd_hour(row[0]), typical(*row[3:6]), float(row[base]))
    assert got[1][0] == utc(2017, 7, 1, 12)  # '12-PM' is noon
    assert got[-2][0] == utc(2020, 2, 13, 0) and got[-1][0] == utc(2020, 2, 13, 1)  # '12-AM'
    assert bars.bars == 21750 and bars.rows == bars.bars  # the header is no bar


@pytest.mark.real
def test_cdd_base_volume_of_a_crypto_quoted_pair() -> None:
    """SPEC §2.1, §2.3: LTC/BTC sizes are the LTC volume; zero-volume bars counted, not kept."""
    path = need(HOURLY / "Bitstamp_LTCBTC_1h.csv.gz")
    header = head(path, 1, skip=1)[0]
    assert header[6:8] == ["Volume LTC", "Volume BTC"]
    rows = rows_of(path, skip=2)
    bars = read_bar_file(path)
    assert (bars.asset, bars.quote, bars.exchange) == ("LTC", "BTC", "Bitstamp")
    # The newest bar (2020-02-13 01-AM) traded nothing: the last trade is the 12-AM bar,
    # (0.007964 + 0.007851 + 0.007964) / 3 BTC per LTC, 14.46 LTC (not 0.1149 BTC).
    assert rows[0][0] == "2020-02-13 01-AM" and float(rows[0][6]) == 0.0
    same_trade(trades(bars.table)[-1], utc(2020, 2, 13, 0), 0.023779 / 3, 14.46)
    zero = sum(float(r[6]) == 0 for r in rows)
    assert zero == 846  # data README
    assert bars.skipped["zero_volume"] == zero and bars.rows == len(rows) - zero


@pytest.mark.real
def test_cdd_created_on_banner_with_unix_seconds_and_milliseconds() -> None:
    """SPEC §2.1: Gemini ETH/USD, 'Created on' banner; Unix ms (newest) and s (oldest)."""
    path = need(HOURLY / "gemini_ETHUSD_1hr.csv.gz")
    assert head(path, 1)[0][0].startswith("Created on")
    assert head(path, 1, skip=1)[0][:2] == ["Unix Timestamp", "Date"]
    top, bottom = head(path, 1, skip=2)[0], rows_of(path, last=2)
    bars = read_bar_file(path)
    got = trades(bars.table)
    # newest: 1564444800000 ms = 2019-07-30 00:00 UTC, as its date label says
    assert top[:2] == ["1564444800000", "2019-07-30 00:00:00"]
    same_trade(got[-1], 1564444800000 * 10**6, typical(*top[4:7]), float(top[7]))
    assert got[-1][0] == utc(2019, 7, 30)
    # oldest: 1462798800 s, low 0.0 -> a bad price; the next, 1462802400 s = 2016-05-09 14:00,
    # is the first trade: (10.0 + 9.55 + 10.0) / 3 = 9.85, plain 'Volume' is ETH.
    assert bottom[-1][0] == "1462798800" and float(bottom[-1][5]) == 0.0
    assert bottom[-2][:2] == ["1462802400", "2016-05-09 14:00:00"]
    same_trade(got[0], utc(2016, 5, 9, 14), 9.85, 235.7740748)
    assert bars.skipped["bad_price"] == 1 and not bars.naive_utc


@pytest.mark.real
def test_cdd_spreadsheet_mangled_unix_uses_the_date_label() -> None:
    """SPEC §2.1: '1.53618E+12' is no time; the 'm/d/Y H:M' date label is the bar's open."""
    path = need(HOURLY / "gemini_BTCUSD_1hr.csv.gz")
    top, bottom = head(path, 2, skip=1), rows_of(path, last=2)
    assert bottom[-1][:2] == ["1.53619E+12", "9/5/2018 23:00"]
    rows = rows_of(path, skip=1)
    bars = read_bar_file(path)
    got = trades(bars.table)
    assert bars.time_column == "Date"
    # 9/5/2018 23:00: (6900 + 6899.96 + 6899.96) / 3, 1.45260794 BTC
    same_trade(got[-1], utc(2018, 9, 5, 23), 20699.92 / 3, 1.45260794)
    same_trade(got[-2], utc(2018, 9, 5, 22), typical(*bottom[0][4:7]), float(bottom[0][7]))
    # first line: 10/8/2015 13:00 with open and low 0: bad price; 14:00 is the first trade
    assert top[0][1] == "10/8/2015 13:00" and float(top[0][5]) == 0
    same_trade(got[0], utc(2015, 10, 8, 14), (245 + 244.5 + 245) / 3, 4.453648931)
    zero = sum(float(r[7]) == 0 for r in rows)
    assert bars.skipped["zero_volume"] == zero == 1020 and bars.skipped["bad_price"] == 1


@pytest.mark.real
@pytest.mark.parametrize(("name", "banner", "volume"), [
    ("Bittrex_ETHUSD_1h.csv.gz", 1, "Volume ETH"),
    ("patternchart_bitfinex_BTCUSD_1h_clean.csv.gz", 0, "Volume BTC"),  # 'Volume' is USD
])
def test_newest_bar_with_zero_volume_is_dropped(name: str, banner: int, volume: str) -> None:
    """SPEC §2.1, §2.3: a zero-volume newest bar is no trade; the next line is the last trade."""
    path = need(HOURLY / name)
    header = head(path, 1, skip=banner)[0]
    top = head(path, 2, skip=banner + 1)
    col = header.index(volume)
    assert float(top[0][col]) == 0.0 and float(top[1][col]) > 0
    cols = [header.index(c) for c in ("High", "Low", "Close")]
    bars = read_bar_file(path)
    same_trade(trades(bars.table)[-1], cdd_hour(top[1][0]),
               typical(*(top[1][c] for c in cols)), float(top[1][col]))


@pytest.mark.real
def test_plain_volume_alone_is_the_base_volume() -> None:
    """SPEC §2.1: patternchart Binance BTC/USDT gives one 'Volume' (BTC: 763 BTC an hour)."""
    path = need(HOURLY / "patternchart_binance_BTCUSDT_1h_clean.csv.gz")
    assert head(path, 1)[0] == ["Date", "Open", "High", "Low", "Close", "Volume"]
    top, oldest = head(path, 1, skip=1)[0], rows_of(path, last=1)[0]
    got = trades(read_bars(path))
    same_trade(got[-1], utc(2020, 1, 22, 1), typical(*top[2:5]), 763.08)
    # The listing bar opens at 16199.91 = its high: kept, (16199.91 + 4261.32 + 4308.83) / 3.
    assert oldest[0] == "2017-08-17 04-AM"
    same_trade(got[0], utc(2017, 8, 17, 4), 24770.06 / 3, 44.51)


# --- 2. Plain OHLCV files --------------------------------------------------------------------


@pytest.mark.real
def test_tab_separated_hourly_first_and_last_rows() -> None:
    """SPEC §2.1: ascending tab-separated bars; the last line has no line end."""
    path = need(H1 / "ETHUSDT_H1.csv.gz")
    assert not gzip.decompress(path.read_bytes()).endswith(b"\n")
    first, last = head(path, 1, skip=1, delimiter="\t")[0], rows_of(path, last=1,
                                                                      delimiter="\t")[0]
    bars = read_bar_file(path, exchange="Binance")
    got = trades(bars.table)
    assert first[0] == "2017-08-17 04:00:00" and last[0] == "2023-09-11 11:00:00"
    same_trade(got[0], utc(2017, 8, 17, 4), (302.57 + 298 + 301.61) / 3, 127.0)
    same_trade(got[-1], utc(2023, 9, 11, 11), (1590.13 + 1586 + 1587.43) / 3, 10.0)
    assert bars.naive_utc and bars.rows == bars.bars == 53059


@pytest.mark.real
def test_zoned_minute_bars_and_zero_volume_counts() -> None:
    """SPEC §1.1, §2.1, §2.3: '+00:00' times are UTC; zero-volume minutes are counted."""
    path = need(INTRADAY / "binanceus_BTCUSDC_1m_20230301_20230321.csv.gz")
    rows = rows_of(path, skip=1)
    bars = read_bar_file(path)
    assert not bars.naive_utc and bars.interval_ns == MINUTE
    zero = sum(float(r[5]) == 0 for r in rows)
    assert zero > 0 and bars.skipped["zero_volume"] == zero and bars.rows == len(rows) - zero
    got = trades(bars.table)
    assert rows[0][0] == "2023-03-01 00:00:00+00:00"
    same_trade(got[0], utc(2023, 3, 1), (23152.65 + 23140.02 + 23152.65) / 3, 0.26395)
    assert rows[-1][0] == "2023-03-21 23:59:00+00:00"
    same_trade(got[-1], utc(2023, 3, 21, 23, 59), (28188.67 + 28181.27 + 28181.27) / 3, 0.046)


def test_vwap_column_given_and_non_positive_vwap_rejected(tmp_path: Path) -> None:
    """SPEC §2.1, §2.3: a given VWAP is the price; a VWAP <= 0 is a bad price, counted."""
    text = ("open_time,open,high,low,close,volume,vwap\n"
            "2023-03-01T00:00:00Z,10,12,8,11,2,9.25\n"
            "2023-03-01T01:00:00Z,10,12,8,11,2,0\n"
            "2023-03-01T02:00:00Z,10,12,8,11,2,-3\n"
            "2023-03-01T03:00:00Z,10,12,8,11,4,\n")
    bars = read_bar_file(write(tmp_path / "bars.csv", text), asset="BTC", exchange="X",
                         quote="USD")
    got = trades(bars.table)
    assert [g[0] for g in got] == [utc(2023, 3, 1, 0), utc(2023, 3, 1, 3)]
    same_trade(got[0], utc(2023, 3, 1, 0), 9.25, 2.0)
    same_trade(got[1], utc(2023, 3, 1, 3), 31 / 3, 4.0)  # no VWAP: (12 + 8 + 11) / 3
    assert bars.skipped["bad_price"] == 2 and bars.price_basis == "vwap"


def test_weighted_price_column_is_the_bar_vwap(tmp_path: Path) -> None:
    """SPEC §2.1: 'one trade at its VWAP' where given; bitcoincharts daily layout.

    Weighted Price = Volume (Currency) / Volume (BTC) = 1810 / 2 = 905, not (941 + 875 +
    912.5) / 3 = 909.5.
    """
    text = ("Date,Open,High,Low,Close,Volume (BTC),Volume (Currency),Weighted Price\n"
            "2013-12-12,908,941.0,875.0,912.5,2.0,1810.0,905.0\n")
    t = read_bars(write(tmp_path / "bitstampUSD_1d.csv", text), asset="BTC",
                  exchange="Bitstamp", quote="USD")
    same_trade(trades(t)[0], utc(2013, 12, 12), 905.0, 2.0)


def test_poloniex_chart_size_is_the_asset_volume(tmp_path: Path) -> None:
    """SPEC §2.1: size = the bar's base volume, in units of the asset (XMR, not BTC).

    The row's own VWAP says which is which: 44 BTC / 10000 XMR = 0.0044 BTC per XMR.
    """
    text = ("date,high,low,open,close,volume,quoteVolume,weightedAverage\n"
            "1405699200,0.0046,0.0040,0.0041,0.0043,44.0,10000.0,0.0044\n")
    t = read_bars(write(tmp_path / "poloniex_chart.csv", text), asset="XMR",
                  exchange="Poloniex", quote="BTC")
    same_trade(trades(t)[0], utc(2014, 7, 18, 16), 0.0044, 10000.0)


# --- 3. Kraken OHLCVT and Binance klines -----------------------------------------------------


@pytest.mark.real
def test_kraken_5m_missing_bars_are_not_invented() -> None:
    """SPEC §2.1: one trade per bar in the file, at its Unix open time; gaps stay empty."""
    path = need(INTRADAY / "kraken_XBTUSDC_5.csv.gz")
    rows = rows_of(path)
    bars = read_bar_file(path)
    assert (bars.format, bars.asset, bars.quote, bars.exchange) == ("kraken", "BTC", "USDC",
                                                                     "Kraken")
    assert bars.bars == len(rows) == 22893 and bars.interval_ns == 5 * MINUTE
    traded = [r for r in rows if float(r[5]) > 0]
    got = trades(bars.table)
    assert [g[0] for g in got] == [int(r[0]) * SECOND for r in traded]
    assert [g[2] for g in got] == [float(r[5]) for r in traded]
    same_trade(got[0], utc(2023, 1, 1), (16535.97 + 16522.66 + 16522.66) / 3, 0.01429883)
    assert rows[-1][0] == "1680306900"  # 2023-03-31 23:55 UTC
    same_trade(got[-1], utc(2023, 3, 31, 23, 55), (28485.09 + 28479.68 + 28485.09) / 3,
               0.05123725)


def test_binance_klines_milliseconds_then_microseconds(tmp_path: Path) -> None:
    """SPEC §2.1: open times in ms up to 2024, µs from 2025; VWAP = quote volume / volume."""
    header = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
              "taker_buy_volume,taker_buy_quote_volume,ignore\n")
    text = header + (
        "1735686000000,100,110,90,105,2,1735689599999,204,5,1,102,0\n"  # 2024-12-31 23:00
        "1735689600000000,105,106,100,101,4,1735693199999999,412,6,2,206,0\n"  # 2025-01-01 00:00
        "1735693200000000,101,101,101,101,0,1735696799999999,0,0,0,0,0\n")  # 01:00, no trade
    bars = read_bar_file(write(tmp_path / "BTCUSDT-1h-2025-01.csv", text), exchange="Binance")
    got = trades(bars.table)
    assert bars.format == "binance" and (bars.asset, bars.quote) == ("BTC", "USDT")
    same_trade(got[0], utc(2024, 12, 31, 23), 102.0, 2.0)  # 204 / 2
    same_trade(got[1], utc(2025, 1, 1, 0), 103.0, 4.0)  # 412 / 4, stamped at the open
    assert len(got) == 2 and bars.skipped["zero_volume"] == 1 and bars.skipped["bad_price"] == 0


def test_cdd_unix_seconds_milliseconds_and_microseconds(tmp_path: Path) -> None:
    """SPEC §2.1: the three Unix units in one newest-first CDD file come out ascending."""
    text = ("https://www.CryptoDataDownload.com\n"
            "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount\n"
            "1735693200000000,2025-01-01 01:00:00,BTC/USDT,3,4,2,3,1.5,4.5,9\n"
            "1735689600000,2025-01-01 00:00:00,BTC/USDT,3,6,3,3,2.5,10,9\n"
            "1735686000,2024-12-31 23:00:00,BTC/USDT,3,9,3,6,3.5,21,9\n")
    bars = read_bar_file(write(tmp_path / "Binance_BTCUSDT_1h.csv", text))
    assert [g[0] for g in trades(bars.table)] == [utc(2024, 12, 31, 23), utc(2025, 1, 1, 0),
                                                 utc(2025, 1, 1, 1)]
    assert [g[1] for g in trades(bars.table)] == pytest.approx([6.0, 4.0, 3.0], rel=REL)
    assert [g[2] for g in trades(bars.table)] == [3.5, 2.5, 1.5]  # Volume BTC, not USDT


def test_cdd_duplicated_hour_keeps_the_last_line(tmp_path: Path) -> None:
    """SPEC §2.1: one trade per open time; a repeated hour is dropped and counted once."""
    text = ("https://www.CryptoDataDownload.com\n"
            "Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD\n"
            "2020-01-01 02-AM,BTCUSD,10,12,9,12,1,10\n"
            "2020-01-01 01-AM,BTCUSD,10,13,9,11,2,20\n"
            "2020-01-01 01-AM,BTCUSD,10,16,9,11,3,30\n"
            "2020-01-01 12-AM,BTCUSD,10,19,9,11,4,40\n")
    bars = read_bar_file(write(tmp_path / "Bitstamp_BTCUSD_1h.csv", text))
    got = trades(bars.table)
    assert [g[0] for g in got] == [utc(2020, 1, 1, h) for h in (0, 1, 2)]
    same_trade(got[1], utc(2020, 1, 1, 1), 12.0, 3.0)  # the later line: (16 + 9 + 11) / 3
    assert bars.skipped["duplicate"] == 1 and bars.rows + 1 == bars.bars == 4


# --- 4. The command line ---------------------------------------------------------------------


@pytest.mark.real
def test_cli_imports_a_slice_of_a_real_file(tmp_path: Path) -> None:
    """SPEC §2.1, §2.3, §6.1: the newest three LTC/BTC bars, one of them with zero volume."""
    src = need(HOURLY / "Bitstamp_LTCBTC_1h.csv.gz")
    with gzip.open(src, "rt", newline="") as f:
        lines = list(itertools.islice(f, 5))  # banner, header, three bars
    rows = list(csv.reader(lines[2:]))
    sliced = tmp_path / "Bitstamp_LTCBTC_1h.csv.gz"
    sliced.write_bytes(gzip.compress("".join(lines).encode()))
    out = tmp_path / "trades.parquet"
    result = CliRunner().invoke(main, ["import-bars", str(sliced), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "LTC/BTC on Bitstamp" in result.output and "zero_volume 1" in result.output
    t = pq.read_table(out)
    got = trades(t)
    assert len(got) == 2 and set(t.column("asset").to_pylist()) == {"LTC"}
    for trade, row in zip(got, [rows[2], rows[1]], strict=True):  # ascending: oldest first
        same_trade(trade, cdd_hour(row[0]), typical(*row[3:6]), float(row[6]))
    # The same bars under a name that says nothing: names given on the command line.
    plain = tmp_path / "slice.csv"
    plain.write_text("".join(lines))
    out2 = tmp_path / "trades2.parquet"
    args = ["import-bars", str(plain), "--asset", "LTC", "--exchange", "Bitstamp", "--quote",
            "BTC", "--out", str(out2)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert pq.read_table(out2).equals(t)


# --- 5. Fixes from imported bars -------------------------------------------------------------


def fix_rows(result) -> dict[tuple[str, int], dict]:
    t = result.table
    ts = t.column("ts").cast(pa.int64()).to_pylist()
    return {(r["window"], when): r for r, when in zip(t.to_pylist(), ts, strict=True)}


def par_fx(*currencies: str) -> pa.Table:
    """Stablecoins at 1 USD from 2017 (SPEC §2.2: quotes with their own fx rows)."""
    ts = pa.array([utc(2017, 1, 1)] * len(currencies), pa.int64()).cast(
        pa.timestamp("ns", tz="UTC"))
    return pa.table({"ts": ts, "currency": list(currencies),
                     "usd_per_unit": [1.0] * len(currencies)})


def assert_stale(row: dict, price: float | None) -> None:
    """SPEC §2.6, §8.1: the previous fix of the window (or null), volume 0, zero counts."""
    assert row["stale"]
    assert row["price"] == (None if price is None else pytest.approx(price, rel=REL))
    assert row["volume"] == 0 and row["n_trades"] == row["n_markets"] == row["n_excluded"] == 0


@pytest.mark.real
def test_fix_from_two_exchanges_worked_by_hand() -> None:
    """SPEC §1.3, §2.4, §2.5, §8.1: Kraken and Bitstamp BTC/USD 1h fixes at 20:00 and 21:00."""
    kraken, bitstamp = need(HOURLY / "Kraken_BTCUSD_1h.csv.gz"), need(
        HOURLY / "Bitstamp_BTCUSD_1h.csv.gz")
    k = {r[0]: r for r in head(kraken, 2, skip=2)}  # the file ends with the 07-PM bar
    b = {r[0]: r for r in head(bitstamp, 1500, skip=2) if r[0].startswith("2019-12-15")}
    k7, b7, b8 = k["2019-12-15 07-PM"], b["2019-12-15 07-PM"], b["2019-12-15 08-PM"]
    tp_k, tp_b7, tp_b8 = typical(*k7[3:6]), typical(*b7[3:6]), typical(*b8[3:6])
    assert tp_k == pytest.approx(7108.2) and tp_b7 == pytest.approx(7105.91)
    v_k, v_b7, v_b8 = float(k7[6]), float(b7[6]), float(b8[6])  # 34.22, 64.1, 31.52 BTC
    table = pa.concat_tables([read_bars(kraken), read_bars(bitstamp)])
    t20, t21 = utc(2019, 12, 15, 20), utc(2019, 12, 15, 21)
    fixes = fix_rows(compute_fixes({"trades": table}, t20, t21, windows=("15m", "1h")))
    # 20:00: the two 19:00 bars ([19:00, 20:00)); Bitstamp's 20:00 bar waits for 21:00.
    row = fixes[("1h", t20)]
    assert not row["stale"] and row["n_trades"] == row["n_markets"] == 2
    assert row["price"] == pytest.approx((tp_k * v_k + tp_b7 * v_b7) / (v_k + v_b7), rel=REL)
    assert row["volume"] == pytest.approx(v_k + v_b7, rel=REL) and row["n_excluded"] == 0
    # 21:00: Kraken's file has ended; Bitstamp alone.
    row = fixes[("1h", t21)]
    assert row["price"] == pytest.approx(tp_b8, rel=REL) and row["volume"] == v_b8
    assert row["n_markets"] == 1 and not row["stale"]
    for t in (t20, t21):  # hourly bars never fall in [T - 15 min, T): stale, no previous fix
        assert_stale(fixes[("15m", t)], None)


@pytest.mark.real
def test_missing_hours_give_stale_fixes() -> None:
    """SPEC §2.6, §8.1: Binance ETH/USDT has no bars 2017-09-06 16:00 .. 22:00."""
    path = need(H1 / "ETHUSDT_H1.csv.gz")
    rows = head(path, 600, skip=1, delimiter="\t")
    i = [r[0] for r in rows].index("2017-09-06 15:00:00")
    before, after = rows[i], rows[i + 1]
    assert after[0] == "2017-09-06 23:00:00"
    table = read_bars(path, exchange="Binance")
    opens = table.column("ts").cast(pa.int64()).to_pylist()
    assert not [t for t in opens if utc(2017, 9, 6, 16) <= t < utc(2017, 9, 6, 23)]
    start, end = utc(2017, 9, 6, 16), utc(2017, 9, 7, 0)
    fixes = fix_rows(compute_fixes({"trades": table, "fx": par_fx("USDT")}, start, end,
                                   windows=("15m", "1h")))
    assert len(fixes) == 2 * 9  # S <= T <= E, every hour, both windows
    first = fixes[("1h", start)]
    assert not first["stale"] and first["volume"] == float(before[5]) == 433.0
    assert first["price"] == pytest.approx(typical(*before[2:5]), rel=REL)
    for hour in range(17, 24):
        assert_stale(fixes[("1h", utc(2017, 9, 6, hour))], typical(*before[2:5]))
    last = fixes[("1h", end)]
    assert not last["stale"] and last["volume"] == float(after[5]) == 210.0
    assert last["price"] == pytest.approx(typical(*after[2:5]), rel=REL)
    for t in range(start, end + 1, HOUR):
        assert_stale(fixes[("15m", t)], None)


@pytest.mark.real
def test_three_quotes_screened_by_hand_at_the_depeg() -> None:
    """SPEC §2.4: Kraken BTC in USD, USDT, USDC, 1h fix at 2023-03-11 12:00 (USDC de-peg)."""
    t12 = utc(2023, 3, 11, 12)
    open_s = str((t12 - HOUR) // SECOND)  # the 11:00 bars, 1678532400
    bars, tables = {}, []
    for quote in ("USD", "USDT", "USDC"):
        path = need(INTRADAY / f"kraken_XBT{quote}_60.csv.gz")
        bars[quote] = next(r for r in rows_of(path) if r[0] == open_s)
        tables.append(read_bars(path))
    tp = {q: typical(*r[2:5]) for q, r in bars.items()}
    vol = {q: float(r[5]) for q, r in bars.items()}
    median = sorted(tp.values())[1]
    assert median == tp["USD"]  # 60512.6 / 3 = 20170.87
    assert abs(tp["USDC"] / median - 1) > 0.05  # 66637.49 / 3 = 22212.50: 10 % above
    assert abs(tp["USDT"] / median - 1) <= 0.05
    fixes = fix_rows(compute_fixes({"trades": pa.concat_tables(tables),
                                    "fx": par_fx("USDT", "USDC")}, t12, t12,
                                   windows=("15m", "1h")))
    row = fixes[("1h", t12)]
    kept = ("USD", "USDT")
    assert row["n_markets"] == 2 and row["n_excluded"] == 1 and row["n_trades"] == 2
    assert row["price"] == pytest.approx(sum(tp[q] * vol[q] for q in kept)
                                         / sum(vol[q] for q in kept), rel=REL)
    assert row["volume"] == pytest.approx(sum(vol[q] for q in kept), rel=REL)
    assert_stale(fixes[("15m", t12)], None)


@pytest.mark.real
def test_five_minute_bars_fill_and_miss_15m_windows() -> None:
    """SPEC §1.3, §2.5, §2.6: Kraken BTC/USDC 5m bars, 2023-01-05 02:00 and 03:00.

    [01:45, 02:00) holds bars; [02:45, 03:00) holds none: the 03:00 15m fix is the 02:00 one,
    stale, while the 03:00 1h fix uses the bars opening in [02:00, 03:00).
    """
    path = need(INTRADAY / "kraken_XBTUSDC_5.csv.gz")
    t2, t3 = utc(2023, 1, 5, 2), utc(2023, 1, 5, 3)
    rows = [r for r in rows_of(path) if t2 - HOUR <= int(r[0]) * SECOND < t3]

    def window(end: int, width: int) -> list[list[str]]:
        return [r for r in rows if end - width <= int(r[0]) * SECOND < end and float(r[5]) > 0]

    def vwap(bars: list[list[str]]) -> tuple[float, float]:
        v = sum(float(r[5]) for r in bars)
        return sum(typical(*r[2:5]) * float(r[5]) for r in bars) / v, v

    q2, h3 = window(t2, 15 * MINUTE), window(t3, HOUR)
    assert q2 and h3 and not window(t3, 15 * MINUTE)
    fixes = fix_rows(compute_fixes({"trades": read_bars(path), "fx": par_fx("USDC")}, t2, t3,
                                   windows=("15m", "1h")))
    price, volume = vwap(q2)
    row = fixes[("15m", t2)]
    assert not row["stale"] and row["n_trades"] == len(q2) and row["n_markets"] == 1
    assert row["price"] == pytest.approx(price, rel=REL)
    assert row["volume"] == pytest.approx(volume, rel=REL)
    assert_stale(fixes[("15m", t3)], price)
    price, volume = vwap(h3)
    row = fixes[("1h", t3)]
    assert not row["stale"] and row["n_trades"] == len(h3)
    assert row["price"] == pytest.approx(price, rel=REL)
    assert row["volume"] == pytest.approx(volume, rel=REL)
