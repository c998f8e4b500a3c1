"""The command line and the files it writes (SPEC §2.6, §6, §7): exit codes and messages for
bad input, atomic outputs, column names and types, index and date selection, and the recalc
diff worked by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.cli import main
from daix.synth import synthesize

TS = pa.timestamp("ns", tz="UTC")
T0 = dt.datetime(2024, 3, 7, tzinfo=dt.timezone.utc)  # a Thursday
SYNTH_IDS = ["CUSTOM_TOP20", "SELECT10", "BTC_4PM_ET"]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree_bytes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def btc_prices(changes: dict[tuple[str, str], float] | None = None) -> pa.Table:
    """BTC from 2024-03-07 00:00Z, 73 whole hours: the 15m fix of hour h is 1000 + h, the 1h
    fix 2000 + h; ``changes`` overrides (iso time, window) -> price."""
    changes = changes or {}
    ts, window, price = [], [], []
    for h in range(73):
        t = T0 + dt.timedelta(hours=h)
        for w, base in (("15m", 1000.0), ("1h", 2000.0)):
            ts.append(t)
            window.append(w)
            price.append(base + h)
            for (when, cw), p in changes.items():
                if at(when) == t and cw == w:
                    price[-1] = p
    return pa.table({"ts": pa.array(ts, TS), "asset": ["BTC"] * len(ts), "window": window,
                     "price": price})


def data_dir(root: Path, files: dict[str, str | pa.Table]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, str):
            (root / name).write_text(content)
        else:
            pq.write_table(content, root / name)
    return root


def to_csv_dir(src: Path, dest: Path) -> Path:
    """The same tables as CSV files (pyarrow writes timestamps with a 'Z')."""
    dest.mkdir()
    for p in src.glob("*.parquet"):
        pcsv.write_csv(pq.read_table(p), dest / f"{p.stem}.csv")
    return dest


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A small synthetic data set (Parquet) and its backfill through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    synthesize(data, assets=8, years=0.5, seed=3, trades_days=0.1, defects=False)
    (data / "trades.parquet").unlink()
    out = root / "out"
    args = [a for i in SYNTH_IDS for a in ("--index", i)]
    r = run("backfill", data, "--out", out, "--quiet", *args)
    assert r.exit_code == 0, r.output
    return root, data, out


# --- fix: the columns of SPEC §2.6 -----------------------------------------------------------

TRADES_CSV = ("ts,asset,exchange,quote,price,size\n"
              "2024-01-01T00:50:00Z,BTC,a,USD,100,1\n"
              "2024-01-01T00:55:00+00:00,BTC,b,USD,110,3\n")
FIX_ARGS = ("--start", "2024-01-01T00:00Z", "--end", "2024-01-01T02:00Z", "--quiet")


def test_fix_parquet_columns_types_and_values(tmp_path):
    """SPEC §2.6, §8.1: fix rows ts, asset, window, price, volume, n_trades, n_markets,
    n_excluded, stale; a stale row has volume 0 and zero counts; no previous fix: null."""
    data = data_dir(tmp_path / "data", {"trades.csv": TRADES_CSV})
    out = tmp_path / "fixes.parquet"
    r = run("fix", data, "--out", out, *FIX_ARGS)
    assert r.exit_code == 0 and r.output == ""
    t = pq.read_table(out)
    assert t.schema.names == ["ts", "asset", "window", "price", "volume", "n_trades",
                              "n_markets", "n_excluded", "stale"]
    assert t.schema.field("ts").type == TS
    assert all(pa.types.is_string(t.schema.field(c).type) for c in ("asset", "window"))
    assert all(pa.types.is_floating(t.schema.field(c).type) for c in ("price", "volume"))
    assert all(pa.types.is_integer(t.schema.field(c).type)
               for c in ("n_trades", "n_markets", "n_excluded"))
    assert t.schema.field("stale").type == pa.bool_()
    rows = {(r["ts"], r["window"]): r for r in t.to_pylist()}
    assert len(rows) == 6 == t.num_rows  # 00:00, 01:00, 02:00 x (15m, 1h)
    h0, h1, h2 = (at(f"2024-01-01T0{h}:00Z") for h in range(3))
    for w in ("15m", "1h"):
        assert rows[(h0, w)]["price"] is None and rows[(h0, w)]["stale"]
        # VWAP of the two markets: (100 * 1 + 110 * 3) / 4 = 107.5, in both windows at 01:00
        fresh = rows[(h1, w)]
        assert (fresh["price"], fresh["volume"], fresh["n_trades"], fresh["n_markets"],
                fresh["n_excluded"], fresh["stale"]) == (107.5, 4.0, 2, 2, 0, False)
        stale = rows[(h2, w)]  # empty windows at 02:00: the 01:00 fix, stale
        assert (stale["price"], stale["volume"], stale["n_trades"], stale["n_markets"],
                stale["n_excluded"], stale["stale"]) == (107.5, 0.0, 0, 0, 0, True)


def test_fix_csv_and_parquet_in_and_out_agree(tmp_path):
    """SPEC §6.1: a trades table as CSV or Parquet gives the same fixes; the CSV output has
    the SPEC §2.6 columns in order."""
    csv_data = data_dir(tmp_path / "csv", {"trades.csv": TRADES_CSV})
    trades = pcsv.read_csv(csv_data / "trades.csv",
                           convert_options=pcsv.ConvertOptions(column_types={"ts": TS}))
    pq_data = data_dir(tmp_path / "pq", {"trades.parquet": trades})
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.csv"
    assert run("fix", csv_data, "--out", a, *FIX_ARGS).exit_code == 0
    assert run("fix", pq_data, "--out", b, *FIX_ARGS).exit_code == 0
    assert run("fix", pq_data, "--out", c, *FIX_ARGS).exit_code == 0
    assert pq.read_table(a).equals(pq.read_table(b))
    header = c.read_text().splitlines()[0].replace('"', "")
    assert header == "ts,asset,window,price,volume,n_trades,n_markets,n_excluded,stale"
    back = pcsv.read_csv(c)
    assert back.column("price").to_pylist() == pq.read_table(b).column("price").to_pylist()


@pytest.mark.parametrize("text, args, words", [
    (TRADES_CSV.replace("00:50:00Z", "00:50:00"), (), ["trades.csv", "'ts'", "naive"]),
    ("ts,asset,exchange,quote,price\n2024-01-01T00:50:00Z,BTC,a,USD,100\n", (),
     ["trades.csv", "'size'", "missing"]),
    (TRADES_CSV.replace(",100,", ",cheap,"), (), ["trades.csv", "'price'", "cheap"]),
    (TRADES_CSV.replace(",USD,100", ",JPY,100"), (), ["'quote'", "JPY"]),
    (TRADES_CSV, ("--end", "2023-12-31"), ["after"]),
])
def test_fix_bad_input_fails_cleanly_leaving_nothing(tmp_path, text, args, words):
    """SPEC §6.2, §1.1, §2.2: a clear error naming file and column, a non-zero exit, and no
    output file or temporary left behind."""
    data = data_dir(tmp_path / "data", {"trades.csv": text})
    out = tmp_path / "fixes.parquet"
    r = run("fix", data, "--out", out, "--start", "2024-01-01", "--end", "2024-01-01", *args)
    assert r.exit_code != 0 and "Traceback" not in r.output
    for w in words:
        assert w in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_fix_failure_keeps_an_earlier_output_file(tmp_path):
    """SPEC §6.2: nothing partial: a failing run leaves the file of an earlier run as it was."""
    good = data_dir(tmp_path / "good", {"trades.csv": TRADES_CSV})
    bad = data_dir(tmp_path / "bad", {"trades.csv": TRADES_CSV.replace("00:55:00+00:00",
                                                                       "00:55:00")})
    out = tmp_path / "out" / "fixes.parquet"
    assert run("fix", good, "--out", out, *FIX_ARGS).exit_code == 0
    before = out.read_bytes()
    assert run("fix", bad, "--out", out, *FIX_ARGS).exit_code != 0
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["fixes.parquet"]


def test_import_bars_then_fix_hourly_bars(tmp_path):
    """SPEC §2.1, §8.1: a bar is one trade at its open time at (H + L + C) / 3; it falls in
    the 1h window after it, and hourly bars leave the 15m windows empty (stale)."""
    bars = tmp_path / "ETHUSD_H1.csv"
    bars.write_text("Time,Open,High,Low,Close,Volume\n"
                    "2023-09-11T10:00:00Z,1594,1600,1578,1590,59\n"
                    "2023-09-11T11:00:00Z,1589,1591,1586,1588,10\n")
    trades = tmp_path / "data" / "trades.parquet"
    r = run("import-bars", bars, "--asset", "ETH", "--quote", "USD", "--exchange", "x",
            "--out", trades)
    assert r.exit_code == 0, r.output
    assert pq.read_table(trades).schema.names == ["ts", "asset", "exchange", "quote", "price",
                                                  "size"]
    out = tmp_path / "fixes.parquet"
    r = run("fix", trades.parent, "--out", out, "--start", "2023-09-11T10:00Z", "--end",
            "2023-09-11T12:00Z", "--quiet")
    assert r.exit_code == 0, r.output
    rows = {(r["ts"].hour, r["window"]): r for r in pq.read_table(out).to_pylist()}
    assert len(rows) == 6
    assert rows[(11, "1h")]["price"] == pytest.approx((1600 + 1578 + 1590) / 3, rel=1e-15)
    assert rows[(11, "1h")]["volume"] == 59.0
    assert rows[(12, "1h")]["price"] == pytest.approx((1591 + 1586 + 1588) / 3, rel=1e-15)
    assert all(rows[(h, "15m")]["stale"] and rows[(h, "15m")]["price"] is None
               for h in (10, 11, 12))


def test_import_bars_bad_output_name_leaves_nothing(tmp_path):
    """SPEC §6.2: an output whose format cannot be told is an error, and nothing is written."""
    bars = tmp_path / "src" / "ETHUSD_H1.csv"
    bars.parent.mkdir()
    bars.write_text("Time,Open,High,Low,Close,Volume\n2023-09-11T10:00:00Z,1,1,1,1,1\n")
    r = run("import-bars", bars, "--asset", "ETH", "--quote", "USD", "--exchange", "x",
            "--out", tmp_path / "trades.txt")
    assert r.exit_code != 0 and "trades.txt" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


# --- backfill: output files and selection (SPEC §6.3, §4.1) ------------------------------------

def test_backfill_output_columns_and_types(synth):
    """SPEC §6.3: levels (index, ts, level, divisor, status), constituents (index, effective,
    asset, rank, market_value, supply, factor, weight), reviews (index, review, asset, action,
    reason); ts and effective as timestamp[ns, tz=UTC]; manifest with its five parts."""
    _, data, out = synth
    expected = {
        "levels": ["index", "ts", "level", "divisor", "status"],
        "constituents": ["index", "effective", "asset", "rank", "market_value", "supply",
                         "factor", "weight"],
        "reviews": ["index", "review", "asset", "action", "reason"],
    }
    tables = {name: pq.read_table(out / f"{name}.parquet") for name in expected}
    for name, cols in expected.items():
        assert tables[name].schema.names == cols, name
        assert tables[name].num_rows > 0, name
    lv, co, rv = tables["levels"].schema, tables["constituents"].schema, tables["reviews"].schema
    assert lv.field("ts").type == TS and co.field("effective").type == TS
    for schema, names in ((lv, ("level", "divisor")),
                          (co, ("market_value", "supply", "factor", "weight"))):
        assert all(pa.types.is_floating(schema.field(c).type) for c in names)
    assert pa.types.is_integer(co.field("rank").type)
    assert all(pa.types.is_string(f.type) for f in rv)
    assert set(tables["levels"].column("status").to_pylist()) <= {"firm", "indicative"}
    months = set(tables["reviews"].column("review").to_pylist())
    assert months and all(len(m) == 7 and m[4] == "-" and 1 <= int(m[5:]) <= 12
                          for m in months)
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("inputs", "parameters", "daix_version", "counts", "timings_s"):
        assert key in manifest, key
    files = {p.stem for p in data.glob("*.parquet")}
    assert set(manifest["inputs"]) == files
    assert all(len(info["digest"]) == 32 for info in manifest["inputs"].values())
    assert manifest["counts"]["levels"] == tables["levels"].num_rows


def test_index_options_select_exactly_those(synth, tmp_path):
    """SPEC §6.3: ``--index A --index B`` writes exactly A and B (a repeated id once)."""
    _, data, _ = synth
    out = tmp_path / "out"
    r = run("backfill", data, "--out", out, "--index", "SELECT10", "--index", "BTC_4PM_ET",
            "--index", "SELECT10", "--quiet")
    assert r.exit_code == 0, r.output
    levels = pq.read_table(out / "levels.parquet")
    constituents = pq.read_table(out / "constituents.parquet")
    reviews = pq.read_table(out / "reviews.parquet")
    assert set(levels.column("index").to_pylist()) == {"SELECT10", "BTC_4PM_ET"}
    assert set(constituents.column("index").to_pylist()) == {"SELECT10", "BTC_4PM_ET"}
    assert set(reviews.column("index").to_pylist()) == {"SELECT10"}  # single: no reviews
    assert json.loads((out / "manifest.json").read_text())["counts"]["indices"] == 2


def test_start_end_limit_what_is_written_not_computed(synth, tmp_path):
    """SPEC §4.1: levels are path dependent, so --start/--end limit what is written: the
    written levels and divisors are the full run's, bit for bit, not a run rebased at start;
    a bare --end date includes that whole day."""
    _, data, full_out = synth
    full = pq.read_table(full_out / "levels.parquet").to_pylist()
    start, end = at("2025-10-20T00:00Z"), at("2025-11-05T00:00Z")
    out = tmp_path / "out"
    r = run("backfill", data, "--out", out, "--index", "CUSTOM_TOP20", "--index", "SELECT10",
            "--start", "2025-10-20", "--end", "2025-11-05", "--quiet")
    assert r.exit_code == 0, r.output
    got = pq.read_table(out / "levels.parquet").to_pylist()
    want = [row for row in full if row["index"] in ("CUSTOM_TOP20", "SELECT10")
            and start <= row["ts"] < end + dt.timedelta(days=1)]
    assert got == want
    for index in ("CUSTOM_TOP20", "SELECT10"):
        mine = [row for row in got if row["index"] == index]
        assert mine and mine[0]["level"] != 1000.0  # not restarted at the base value
        assert any(row["ts"].date() == end.date() for row in mine)


def test_start_keeps_the_last_price_from_before_it(tmp_path):
    """SPEC §4.1, §3.8: with the 15m fix of 2024-03-08 21:00Z (4pm New York) missing and
    --start at that instant, the level written is the 20:00Z fix (1000 + 44), indicative."""
    prices = btc_prices()
    keep = [not (r["window"] == "15m" and r["ts"] == at("2024-03-08T21:00Z"))
            for r in prices.to_pylist()]
    data = data_dir(tmp_path / "data", {"prices.parquet": prices.filter(pa.array(keep))})
    out = tmp_path / "out"
    r = run("backfill", data, "--out", out, "--index", "BTC_4PM_ET", "--start",
            "2024-03-08T21:00:00Z", "--quiet")
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out / "levels.parquet").to_pylist()
    assert rows == [{"index": "BTC_4PM_ET", "ts": at("2024-03-08T21:00Z"), "level": 1044.0,
                     "divisor": 1.0, "status": "indicative"}]


def test_csv_and_parquet_data_give_identical_outputs(synth, tmp_path):
    """SPEC §6.1: a data directory of CSV files gives the same levels, constituents and
    reviews as the same tables in Parquet."""
    _, data, out = synth
    csv_data = to_csv_dir(data, tmp_path / "csv")
    csv_out = tmp_path / "out"
    args = [a for i in SYNTH_IDS for a in ("--index", i)]
    r = run("backfill", csv_data, "--out", csv_out, "--quiet", *args)
    assert r.exit_code == 0, r.output
    for name in ("levels", "constituents", "reviews"):
        a, b = pq.read_table(out / f"{name}.parquet"), pq.read_table(csv_out / f"{name}.parquet")
        assert a.num_rows > 0 and a.equals(b), name


PRICE_ROW = "2024-03-07T00:00:00Z,BTC,15m,1000\n"


@pytest.mark.parametrize("files, words", [
    ({"prices.csv": "ts,asset,window,price\n" + PRICE_ROW * 2},
     ["prices.csv", "duplicate key", "row 2"]),
    ({"prices.csv": "ts,asset,window,price\n" + PRICE_ROW.replace("15m", "5m")},
     ["prices.csv", "'window'", "5m"]),
    ({"prices.csv": "ts,asset,price\n2024-03-07T00:00:00Z,BTC,1000\n"},
     ["prices.csv", "'window'", "missing"]),
    ({"prices.csv": "ts,asset,window,price\n" + PRICE_ROW.replace("1000", "lots")},
     ["prices.csv", "'price'", "lots"]),
    ({"prices.csv": "ts,asset,window,price\n" + PRICE_ROW.replace("03-07", "02-30")},
     ["prices.csv", "'ts'"]),
])
def test_backfill_bad_input_leaves_previous_output_untouched(tmp_path, files, words):
    """SPEC §6.2: bad input is a clear error naming the file and column; an existing output
    directory stays byte for byte and no temporary is left beside it."""
    good = data_dir(tmp_path / "good", {"prices.parquet": btc_prices()})
    out = tmp_path / "out"
    assert run("backfill", good, "--out", out, "--index", "BTC_UTC", "--quiet").exit_code == 0
    before = tree_bytes(out)
    bad = data_dir(tmp_path / "bad", files)
    r = run("backfill", bad, "--out", out, "--index", "BTC_UTC", "--quiet")
    assert r.exit_code != 0 and "Traceback" not in r.output
    for w in words:
        assert w in r.output
    assert tree_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good", "out"]


@pytest.mark.parametrize("args, words", [
    (("--index", "NOPE"), ["NOPE"]),
    (("--index", "BTC_UTC", "--family", "custom"), ["no index"]),
    (("--index", "BTC_UTC", "--start", "someday"), ["someday"]),
])
def test_backfill_bad_options_leave_nothing(tmp_path, args, words):
    """SPEC §6.2: a bad option is a clear error and writes no output directory."""
    data = data_dir(tmp_path / "data", {"prices.parquet": btc_prices()})
    r = run("backfill", data, "--out", tmp_path / "out", "--quiet", *args)
    assert r.exit_code != 0 and "Traceback" not in r.output
    for w in words:
        assert w in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_show_counts_match_the_files(synth):
    """SPEC §6.3: ``show`` prints the manifest: per index the number of levels written."""
    _, _, out = synth
    r = run("show", out)
    assert r.exit_code == 0, r.output
    levels = pq.read_table(out / "levels.parquet").column("index").to_pylist()
    for index in SYNTH_IDS:
        line = next(x for x in r.output.splitlines() if x.strip().startswith(index + " "))
        assert f"{levels.count(index)} levels" in line
    assert "prices" in r.output and "parameters:" in r.output


def test_show_on_a_data_directory_is_a_clear_error(synth):
    """SPEC §6.3: a directory without manifest.json is not an output directory."""
    _, data, _ = synth
    r = run("show", data)
    assert r.exit_code != 0 and "manifest.json" in r.output


@pytest.mark.parametrize("name, text, words", [
    ("supply.csv", "ts,asset,circulating_supply\n2024-03-01T00:00:00Z,BTC,5\n"
                   "2024-03-01T00:00:00Z,BTC,6\n", ["supply.csv", "duplicate key"]),
    ("fx.csv", "ts,currency,usd_per_unit\n2024-03-01 00:00:00,EUR,1.1\n",
     ["fx.csv", "'ts'", "naive"]),
    ("universe.csv", "review,asset,total_cap,class,liquidity_pass,new_entrant\n"
                     "2024-03,BTC,true,large,true,false\n", ["universe.csv", "'class'", "large"]),
    ("lists.csv", "review,list,asset\n2024-3,21shares_inclusion,BTC\n", ["lists.csv",
                                                                          "'review'"]),
])
def test_validate_names_file_and_column(tmp_path, name, text, words):
    """SPEC §6.2: ``validate`` exits non-zero and names the file and the column."""
    data = data_dir(tmp_path / "data", {name: text})
    r = run("validate", data)
    assert r.exit_code == 1
    for w in words:
        assert w in r.output
    assert sorted(p.name for p in data.iterdir()) == [name]


# --- recalc (SPEC §7) ------------------------------------------------------------------------

SINGLE_IDS = ("BTC_UTC", "BTC_4PM_ET", "BTC_1H_4PM_ET")


@pytest.fixture
def single_run(tmp_path):
    data = data_dir(tmp_path / "data", {"prices.parquet": btc_prices()})
    prev = tmp_path / "runs" / "prev"
    args = [a for i in SINGLE_IDS for a in ("--index", i)]
    r = run("backfill", data, "--out", prev, "--quiet", *args)
    assert r.exit_code == 0, r.output
    return tmp_path, prev


def test_recalc_diff_worked_by_hand(single_run):
    """SPEC §7.1: per index: changed, first changed calculation time, changed levels, largest
    absolute and relative change. The 15m fix of Thu 10:00Z goes 1010 -> 1113 (+103, rel
    103/1010) and that of Fri 21:00Z 1045 -> 941 (-104, rel 104/1045). BTC_UTC reads both:
    2 levels, first Thu 10:00Z, max abs 104 and max rel 103/1010 (from different rows);
    BTC_4PM_ET (21:00Z in March before the US switch) reads the second only; the 1h index
    reads neither."""
    root, prev = single_run
    new = data_dir(root / "new", {"prices.parquet": btc_prices({
        ("2024-03-07T10:00Z", "15m"): 1113.0, ("2024-03-08T21:00Z", "15m"): 941.0})})
    out = root / "runs" / "next"
    r = run("recalc", new, "--previous", prev, "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    d = pq.read_table(out / "diff.parquet")
    assert d.schema.names[:6] == ["index", "changed", "first_changed", "changed_levels",
                                  "max_abs_change", "max_rel_change"]
    assert d.schema.field("first_changed").type == TS
    got = {row["index"]: row for row in d.to_pylist()}
    assert set(got) == set(SINGLE_IDS)
    utc, et, hour = got["BTC_UTC"], got["BTC_4PM_ET"], got["BTC_1H_4PM_ET"]
    assert (utc["changed"], utc["first_changed"], utc["changed_levels"]) == (
        True, at("2024-03-07T10:00Z"), 2)
    assert utc["max_abs_change"] == pytest.approx(104.0, rel=1e-12)
    assert utc["max_rel_change"] == pytest.approx(103 / 1010, rel=1e-12)
    assert (et["changed"], et["first_changed"], et["changed_levels"]) == (
        True, at("2024-03-08T21:00Z"), 1)
    assert et["max_abs_change"] == pytest.approx(104.0, rel=1e-12)
    assert et["max_rel_change"] == pytest.approx(104 / 1045, rel=1e-12)
    assert (hour["changed"], hour["first_changed"], hour["changed_levels"],
            hour["max_abs_change"], hour["max_rel_change"]) == (False, None, 0, None, None)
    # The same from the levels of both runs read back.
    old = {(x["index"], x["ts"]): x["level"]
           for x in pq.read_table(prev / "levels.parquet").to_pylist()}
    cur = {(x["index"], x["ts"]): x["level"]
           for x in pq.read_table(out / "levels.parquet").to_pylist()}
    assert set(old) == set(cur)
    moved = {k: (old[k], cur[k]) for k in old if old[k] != cur[k]}
    assert moved == {("BTC_UTC", at("2024-03-07T10:00Z")): (1010.0, 1113.0),
                     ("BTC_UTC", at("2024-03-08T21:00Z")): (1045.0, 941.0),
                     ("BTC_4PM_ET", at("2024-03-08T21:00Z")): (1045.0, 941.0)}
    assert "BTC_UTC" in r.output and "BTC_1H_4PM_ET" not in r.output


def test_recalc_leaves_previous_byte_for_byte_across_chained_runs(single_run):
    """SPEC §7.1: a new directory each time, never the previous: after two recalcs in a chain
    (the second from the first's output) the original output is unchanged byte for byte."""
    root, prev = single_run
    before = tree_bytes(prev)
    one = data_dir(root / "one", {"prices.parquet": btc_prices(
        {("2024-03-07T10:00Z", "15m"): 1.5})})
    two = data_dir(root / "two", {"prices.parquet": btc_prices(
        {("2024-03-07T10:00Z", "15m"): 2.5, ("2024-03-07T11:00Z", "1h"): 3.5})})
    r1 = run("recalc", one, "--previous", prev, "--out", root / "runs" / "r1", "--quiet")
    assert r1.exit_code == 0, r1.output
    r2 = run("recalc", two, "--previous", root / "runs" / "r1", "--out", root / "runs" / "r2",
             "--quiet")
    assert r2.exit_code == 0, r2.output
    assert tree_bytes(prev) == before
    lv = {(x["index"], x["ts"]): x["level"]
          for x in pq.read_table(root / "runs" / "r2" / "levels.parquet").to_pylist()}
    assert lv[("BTC_UTC", at("2024-03-07T10:00Z"))] == 2.5
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["prev", "r1", "r2"]


def test_recalc_refuses_the_previous_by_another_spelling(single_run):
    """SPEC §7.1: --out naming the previous directory through a symlink or '..' is refused
    and the previous stays byte for byte."""
    root, prev = single_run
    before = tree_bytes(prev)
    link = root / "runs" / "link"
    os.symlink(prev, link)
    for out in (link, root / "runs" / "x" / ".." / "prev", str(prev) + os.sep):
        r = run("recalc", root / "data", "--previous", prev, "--out", out, "--quiet")
        assert r.exit_code != 0 and "differ" in r.output
    assert tree_bytes(prev) == before
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["link", "prev"]


@pytest.mark.parametrize("where", ["holder", "inside"])
def test_recalc_out_holding_or_inside_previous_is_refused(single_run, where):
    """SPEC §7.1: recalc never touches the previous output: an --out that holds it (writing
    there would replace it) or lies inside it is refused before any work, and the previous
    stays byte for byte."""
    root, prev = single_run
    before = tree_bytes(prev)
    out = root / "runs" if where == "holder" else prev / "new"
    r = run("recalc", root / "data", "--previous", prev, "--out", out, "--quiet")
    assert r.exit_code != 0 and "--previous" in r.output and "Traceback" not in r.output
    assert prev.is_dir() and tree_bytes(prev) == before, r.output
    assert not (prev / "new").exists()


def test_recalc_bad_new_data_leaves_nothing(single_run):
    """SPEC §6.2, §7.1: a recalc on bad data fails with a clear error, writes no new directory
    and leaves the previous byte for byte."""
    root, prev = single_run
    before = tree_bytes(prev)
    bad = data_dir(root / "bad", {"prices.csv": "ts,asset,window,price\n"
                                                "2024-03-07 00:00:00,BTC,15m,1000\n"})
    r = run("recalc", bad, "--previous", prev, "--out", root / "runs" / "new", "--quiet")
    assert r.exit_code != 0 and "prices.csv" in r.output and "naive" in r.output
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["prev"]
    assert tree_bytes(prev) == before


def test_recalc_previous_that_is_not_an_output(tmp_path):
    """SPEC §7.1: --previous must be an earlier output; a data directory is a clear error."""
    data = data_dir(tmp_path / "data", {"prices.parquet": btc_prices()})
    r = run("recalc", data, "--previous", data, "--out", tmp_path / "out", "--quiet")
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert sorted(p.name for p in data.iterdir()) == ["prices.parquet"]


def test_backfill_start_after_end_is_refused(single_run, tmp_path):
    """SPEC §4.1: --start and --end limit what is written; a start after the end could write
    no level at all, so it is refused, as by fix, and nothing is written."""
    root, _ = single_run
    out = tmp_path / "out"
    r = run("backfill", root / "data", "--out", out, "--start", "2024-03-09", "--end",
            "2024-03-08", "--quiet")
    assert r.exit_code != 0 and "after" in r.output and "Traceback" not in r.output
    assert not out.exists()
