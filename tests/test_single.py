"""Single Digital Asset indices (SPEC §5, §8.6): level = the fix of the index's window at its
calculation times, 1/10 for the reduced ones, EUR through FX; worked by hand."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.cli import main
from daix.engine.backfill import backfill

TS = pa.timestamp("ns", tz="UTC")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def hourly_prices() -> pa.Table:
    """BTC from 2024-03-07 00:00Z to 2024-03-13 00:00Z: 15m fix = 1000 + hour number, 1h fix
    = 2000 + hour number (hour number 0 at the start), so every level tells its source hour."""
    start = at("2024-03-07T00:00Z")
    ts, asset, window, price = [], [], [], []
    for h in range(6 * 24 + 1):
        t = start + dt.timedelta(hours=h)
        for w, base in (("15m", 1000.0), ("1h", 2000.0)):
            ts.append(t)
            asset.append("BTC")
            window.append(w)
            price.append(base + h)
    return pa.table({"ts": pa.array(ts, TS), "asset": asset, "window": window, "price": price})


def hour_number(text: str) -> int:
    return int((at(text) - at("2024-03-07T00:00Z")).total_seconds() // 3600)


def levels_of(result, index: str) -> dict[dt.datetime, tuple[float, float, str]]:
    out = {}
    for r in result.levels.to_pylist():
        if r["index"] == index:
            out[r["ts"]] = (r["level"], r["divisor"], r["status"])
    return out


@pytest.fixture(scope="module")
def single():
    return backfill({"prices": hourly_prices()}, family="single")


def test_4pm_new_york_across_the_dst_switch(single):
    # 2024-03-10 is the US switch: 16:00 New York is 21:00Z before, 20:00Z after (SPEC §1.2).
    lv = levels_of(single, "BTC_4PM_ET")
    assert sorted(lv) == [at("2024-03-07T21:00Z"), at("2024-03-08T21:00Z"),
                          at("2024-03-10T20:00Z"), at("2024-03-11T20:00Z"),
                          at("2024-03-12T20:00Z")]  # no Saturday (SPEC §5)
    # Plain window: 15m fix of 2024-03-11 20:00Z = 1000 + hour number.
    assert lv[at("2024-03-11T20:00Z")] == (1000.0 + hour_number("2024-03-11T20:00Z"), 1.0,
                                           "firm")


def test_lookback_window_and_tenth(single):
    lv = levels_of(single, "BTC_1H_4PM_ET")
    assert lv[at("2024-03-08T21:00Z")][0] == 2000.0 + hour_number("2024-03-08T21:00Z")
    tenth = levels_of(single, "BTC_TENTH_1H_4PM_ET")
    # 1/10th index: the 1h fix / 10, divisor 10 (SPEC §8.6, ground rules §7.3.1).
    assert tenth[at("2024-03-08T21:00Z")] == (
        pytest.approx((2000.0 + hour_number("2024-03-08T21:00Z")) / 10), 10.0, "firm")


def test_other_zones(single):
    # 17:00 Berlin = 16:00Z in winter (CET); 16:00 Hong Kong = 08:00Z; 15:00 London = 15:00Z.
    assert at("2024-03-08T16:00Z") in levels_of(single, "BTC_1700_CET")
    assert at("2024-03-08T08:00Z") in levels_of(single, "BTC_1H_4PM_HKT")
    assert at("2024-03-08T15:00Z") in levels_of(single, "BTC_1500_UK")


def test_utc_hourly_calendar(single):
    lv = levels_of(single, "BTC_UTC")
    # Sunday 22:00Z to Friday 22:00Z (SPEC §5): Friday 2024-03-08 22:00 in, 23:00 out,
    # nothing on Saturday, Sunday 21:00 out, 22:00 in.
    assert at("2024-03-08T22:00Z") in lv and at("2024-03-08T23:00Z") not in lv
    assert not any(t.weekday() == 5 for t in lv)
    assert at("2024-03-10T21:00Z") not in lv and at("2024-03-10T22:00Z") in lv
    assert lv[at("2024-03-07T00:00Z")][0] == 1000.0  # starts at its first fix (SPEC §8.6)


def test_constituents_one_row_per_index(single):
    rows = [r for r in single.constituents.to_pylist() if r["index"] == "BTC_4PM_ET"]
    assert rows == [{"index": "BTC_4PM_ET", "effective": at("2024-03-07T21:00Z"),
                     "asset": "BTC", "rank": 1, "market_value": None, "supply": None,
                     "factor": 1.0, "weight": 1.0}]


def test_assets_without_fixes_are_skipped_with_a_reason(single):
    assert "ETH_UTC" in single.manifest["skipped"]
    assert "BTC_RT_USD" in single.manifest["skipped"]


def test_missing_fix_carries_last_price_indicative():
    prices = hourly_prices()
    keep = [not (r["window"] == "15m" and r["ts"] == at("2024-03-11T20:00Z"))
            for r in prices.to_pylist()]
    res = backfill({"prices": prices.filter(pa.array(keep))}, indices=["BTC_4PM_ET"])
    lv = levels_of(res, "BTC_4PM_ET")
    # SPEC §3.8: the last fix (19:00Z) is kept and the level is indicative.
    assert lv[at("2024-03-11T20:00Z")] == (1000.0 + hour_number("2024-03-11T19:00Z"), 1.0,
                                           "indicative")


def test_realtime_usd_and_eur():
    start = at("2024-03-08T12:00:00Z")
    ts = [start + dt.timedelta(seconds=15 * i) for i in range(8)]
    prices = pa.table({"ts": pa.array(ts, TS), "asset": ["BTC"] * 8, "window": ["15s"] * 8,
                       "price": [100.0 + i for i in range(8)]})
    fx = pa.table({"ts": pa.array([at("2024-03-01T00:00Z"), at("2024-03-08T12:01:00Z")], TS),
                   "currency": ["EUR", "EUR"], "usd_per_unit": [1.25, 1.6]})
    res = backfill({"prices": prices, "fx": fx}, indices=["BTC_RT_USD", "BTC_RT_EUR"])
    usd = levels_of(res, "BTC_RT_USD")
    eur = levels_of(res, "BTC_RT_EUR")
    assert len(usd) == 8 and usd[ts[3]] == (103.0, 1.0, "firm")
    # e(t) = 1 / usd_per_unit(EUR, t) as of t (SPEC §3.2): 103 / 1.25 before 12:01, 104 / 1.6 at.
    assert eur[ts[3]][0] == pytest.approx(103.0 / 1.25)
    assert eur[ts[4]][0] == pytest.approx(104.0 / 1.6)


def test_eur_index_starts_at_its_first_level():
    """SPEC §8.6, §6.3: a single asset index starts at its first level and its one
    constituents row has that instant as E. Ticks from 12:00:00, the first EUR rate at
    12:00:30: BTC_RT_EUR's first level is at 12:00:30 (102 / 1.25 = 81.6), and so is its E;
    BTC_RT_USD starts at 12:00:00."""
    start = at("2024-03-08T12:00:00Z")
    ts = [start + dt.timedelta(seconds=15 * i) for i in range(6)]
    prices = pa.table({"ts": pa.array(ts, TS), "asset": ["BTC"] * 6, "window": ["15s"] * 6,
                       "price": [100.0 + i for i in range(6)]})
    fx = pa.table({"ts": pa.array([ts[2]], TS), "currency": ["EUR"], "usd_per_unit": [1.25]})
    res = backfill({"prices": prices, "fx": fx}, indices=["BTC_RT_USD", "BTC_RT_EUR"])
    eur = levels_of(res, "BTC_RT_EUR")
    assert min(eur) == ts[2] and eur[ts[2]][0] == pytest.approx(102.0 / 1.25)
    effective = {r["index"]: r["effective"] for r in res.constituents.to_pylist()}
    assert effective == {"BTC_RT_USD": ts[0], "BTC_RT_EUR": ts[2]}


def test_realtime_from_a_file_beside_hourly_fixes(tmp_path):
    """Read from Parquet (window dictionary-encoded), the 15s rows among hourly ones give the
    same real-time levels as the table alone; a file with no 15s rows gives none."""
    import pyarrow.parquet as pq

    start = at("2024-03-08T12:00:00Z")
    ts = [start + dt.timedelta(seconds=15 * i) for i in range(8)]
    rt = pa.table({"ts": pa.array(ts, TS), "asset": ["BTC"] * 8, "window": ["15s"] * 8,
                   "price": [100.0 + i for i in range(8)]})
    hourly = hourly_prices()
    pq.write_table(pa.concat_tables([hourly, rt.cast(hourly.schema)]),
                   tmp_path / "prices.parquet")
    got = levels_of(backfill(tmp_path, indices=["BTC_RT_USD"]), "BTC_RT_USD")
    assert got == levels_of(backfill({"prices": rt}, indices=["BTC_RT_USD"]), "BTC_RT_USD")
    assert len(got) == 8 and got[ts[5]] == (105.0, 1.0, "firm")
    pq.write_table(hourly, tmp_path / "prices.parquet")
    res = backfill(tmp_path, indices=["BTC_RT_USD", "BTC_UTC"])
    assert "BTC_RT_USD" in res.manifest["skipped"] and levels_of(res, "BTC_UTC")


def test_cli_backfill_family_single(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(hourly_prices(), data / "prices.parquet")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["backfill", str(data), "--family", "single", "--out",
                                       str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["constituents.parquet", "levels.parquet",
                                                     "manifest.json", "reviews.parquet",
                                                     "state"]  # for a later recalc (SPEC §7)
    levels = pq.read_table(out / "levels.parquet")
    assert levels.schema.field("ts").type == TS
    assert set(levels.column("index").to_pylist()) >= {"BTC_UTC", "BTC_4PM_ET"}
    shown = CliRunner().invoke(main, ["show", str(out)])
    assert shown.exit_code == 0 and "BTC_4PM_ET" in shown.output


def test_cli_backfill_bad_input_leaves_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "prices.csv").write_text("ts,asset,window,price\n2024-03-07 00:00:00,BTC,15m,1\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["backfill", str(data), "--out", str(out), "--quiet"])
    assert result.exit_code != 0
    assert "naive timestamp" in result.output and "prices.csv" in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
