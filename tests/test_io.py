"""Input validation and atomic output (SPEC §6.1-§6.2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.cli import main
from daix.errors import ConfigError, InputError
from daix.io import DataSet, read_table
from daix.schemas import INPUTS, arrow_schema
from daix.validation import validate
from daix.writing import atomic_output_dir, write_table

UTC = dt.timezone.utc


def _ts(*hours: int) -> pa.Array:
    base = dt.datetime(2024, 3, 1, tzinfo=UTC)
    return pa.array([base + dt.timedelta(hours=h) for h in hours], pa.timestamp("ns", "UTC"))


def clean_tables() -> dict[str, pa.Table]:
    """A small consistent data set: two assets, three hours, every table of SPEC §6.1."""
    return {
        "prices": pa.table({"ts": _ts(0, 0, 1, 1), "asset": ["BTC", "ETH", "BTC", "ETH"],
                            "window": ["15m", "15m", "1h", "1h"],
                            "price": [60000.0, 3000.0, 60100.0, 3010.0]}),
        "supply": pa.table({"ts": _ts(0, 0), "asset": ["BTC", "ETH"],
                            "circulating_supply": [19.6e6, 120e6]}),
        "fx": pa.table({"ts": _ts(0, 0), "currency": ["EUR", "USDT"],
                        "usd_per_unit": [1.08, 1.0]}),
        "trades": pa.table({"ts": _ts(0, 1), "asset": ["BTC", "BTC"],
                            "exchange": ["X", "Y"], "quote": ["USD", "EUR"],
                            "price": [60000.0, 55000.0], "size": [0.5, 0.25]}),
        "assets": pa.table({"asset": ["BTC", "ETH"], "name": ["Bitcoin", "Ethereum"],
                            "sector": ["701010", "702020"],
                            "subsector": ["70101010", "70202010"]}),
        "universe": pa.table({"review": ["2024-03", "2024-03"], "asset": ["BTC", "ETH"],
                              "total_cap": [True, True],
                              "class": ["benchmark", "benchmark"],
                              "liquidity_pass": [True, True], "new_entrant": [False, False]}),
        "lists": pa.table({"review": ["2024-03"], "list": ["21shares_inclusion"],
                           "asset": ["BTC"]}),
        "volume": pa.table({"date": pa.array([dt.date(2024, 3, 1)] * 2), "asset": ["BTC", "ETH"],
                            "volume_usd": [1e9, 5e8]}),
        "deletions": pa.table({"ts": _ts(2), "asset": ["ETH"]}),
        "exchanges": pa.table({"exchange": ["X", "Y"], "valid_from": _ts(0, 0),
                               "valid_to": pa.array([None, None], pa.timestamp("ns", "UTC"))}),
    }


def write_dir(root: Path, tables: dict[str, pa.Table], fmt: str = "parquet") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if fmt == "parquet":
            pq.write_table(table, root / f"{name}.parquet")
        else:
            write_csv_text(root / f"{name}.csv", table)
    return root


def write_csv_text(path: Path, table: pa.Table) -> None:
    """CSV with ISO timestamps carrying 'Z', as a user would write it."""
    lines = [",".join(table.column_names)]
    for row in table.to_pylist():
        cells = []
        for v in row.values():
            if isinstance(v, dt.datetime):
                cells.append(v.strftime("%Y-%m-%dT%H:%M:%SZ"))
            elif v is None:
                cells.append("")
            else:
                cells.append(str(v))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_clean_directory_validates_and_reads_with_schema_types(tmp_path, fmt):
    root = write_dir(tmp_path / "data", clean_tables(), fmt)
    report = validate(root)
    assert report.clean, [str(p) for p in report.problems]
    ds = DataSet(root)
    for name in INPUTS:
        table = ds.table(name)
        assert table.schema.equals(arrow_schema(name)), name
    prices = ds.table("prices")
    # 2024-03-01T00:00Z = 1709251200 s since the epoch.
    assert prices.column("ts")[0].value == 1_709_251_200 * 10**9
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert result.exit_code == 0, result.output
    assert "clean" in result.output
    assert "prices" in result.output


def test_extra_columns_are_ignored(tmp_path):
    tables = clean_tables()
    tables["prices"] = tables["prices"].append_column("note", pa.array(["a", "b", "c", "d"]))
    root = write_dir(tmp_path / "d", tables)
    assert DataSet(root).table("prices").column_names == ["ts", "asset", "window", "price"]


def test_offset_strings_are_converted_to_utc(tmp_path):
    path = tmp_path / "deletions.csv"
    path.write_text("ts,asset\n2024-03-01T02:00:00+02:00,ETH\n2024-03-01T00:30:00Z,BTC\n")
    table = read_table(path)
    # 02:00 at +02:00 is 00:00 UTC.
    assert table.column("ts")[0].value == 1_709_251_200 * 10**9
    assert table.column("ts")[1].value == (1_709_251_200 + 1800) * 10**9


def _bad_case(name, tables, tmp_path, fmt="parquet"):
    root = write_dir(tmp_path / name, tables, fmt)
    return root


def _expect_error(root: Path, table: str, column: str, fragment: str) -> InputError:
    with pytest.raises(InputError) as info:
        DataSet(root).table(table)
    err = info.value
    assert err.column == column
    assert str(root) in str(err)  # the file is named
    assert fragment in str(err)
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert result.exit_code != 0
    assert fragment in result.output
    assert "Traceback" not in result.output
    return err


def test_missing_column(tmp_path):
    tables = clean_tables()
    tables["supply"] = tables["supply"].drop_columns(["circulating_supply"])
    root = _bad_case("missing_col", tables, tmp_path)
    _expect_error(root, "supply", "circulating_supply", "missing column")


def test_price_that_is_text(tmp_path):
    tables = clean_tables()
    tables["prices"] = tables["prices"].set_column(
        3, "price", pa.array(["60000", "abc", "60100", "n/a"]))
    root = _bad_case("text_price", tables, tmp_path)
    err = _expect_error(root, "prices", "price", "expected a number")
    # The two offending rows (2 and 4) are shown, not the good ones.
    assert err.rows == ["row 2: price='abc'", "row 4: price='n/a'"]


def test_price_that_is_text_in_csv(tmp_path):
    root = tmp_path / "csvtext"
    root.mkdir()
    (root / "prices.csv").write_text(
        "ts,asset,window,price\n2024-03-01T00:00:00Z,BTC,15m,60000\n"
        "2024-03-01T00:00:00Z,ETH,15m,three thousand\n")
    err = _expect_error(root, "prices", "price", "expected a number")
    assert err.rows == ["row 2: price='three thousand'"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_naive_timestamp(tmp_path, fmt):
    tables = clean_tables()
    naive = pa.array([dt.datetime(2024, 3, 1, h) for h in (0, 0, 1, 1)], pa.timestamp("ns"))
    tables["prices"] = tables["prices"].set_column(0, "ts", naive)
    if fmt == "csv":
        root = tmp_path / "naive_csv"
        root.mkdir()
        (root / "prices.csv").write_text(
            "ts,asset,window,price\n2024-03-01T00:00:00Z,BTC,15m,1\n"
            "2024-03-01 01:00:00,BTC,1h,2\n")
        err = _expect_error(root, "prices", "ts", "naive timestamp")
        assert err.rows == ["row 2: ts='2024-03-01 01:00:00'"]
    else:
        root = _bad_case("naive", tables, tmp_path)
        _expect_error(root, "prices", "ts", "naive timestamp")


def test_a_bare_date_in_a_timestamp_column_is_naive(tmp_path):
    # SPEC §1.1: '2024-03-01' has no zone (its '-01' is the day, not an offset)
    root = tmp_path / "bare_date"
    root.mkdir()
    (root / "supply.csv").write_text(
        "ts,asset,circulating_supply\n2024-03-01T00:00:00+01:00,BTC,1\n2024-03-02,BTC,2\n")
    err = _expect_error(root, "supply", "ts", "naive timestamp")
    assert err.rows == ["row 2: ts='2024-03-02'"]


def test_unknown_window(tmp_path):
    tables = clean_tables()
    tables["prices"] = tables["prices"].set_column(
        2, "window", pa.array(["15m", "5m", "1h", "1h"]))
    root = _bad_case("window", tables, tmp_path)
    err = _expect_error(root, "prices", "window", "unknown window")
    assert len(err.rows) == 1 and "window=5m" in err.rows[0]


def test_unknown_class(tmp_path):
    tables = clean_tables()
    tables["universe"] = tables["universe"].set_column(
        3, "class", pa.array(["benchmark", "small-cap"]))
    root = _bad_case("klass", tables, tmp_path)
    _expect_error(root, "universe", "class", "small-cap")


def test_duplicate_price_key(tmp_path):
    tables = clean_tables()
    extra = tables["prices"].slice(0, 1).set_column(3, "price", pa.array([61000.0]))
    tables["prices"] = pa.concat_tables([tables["prices"], extra])
    root = _bad_case("dup", tables, tmp_path)
    err = _expect_error(root, "prices", "ts, asset, window", "1 key(s) appear more than once")
    # Both rows of the duplicated key are shown: rows 1 and 5.
    assert [r.split(":")[0] for r in err.rows] == ["row 1", "row 5"]
    assert all("asset=BTC" in r and "window=15m" in r for r in err.rows)


def test_review_month_not_yyyy_mm(tmp_path):
    tables = clean_tables()
    tables["lists"] = tables["lists"].set_column(0, "review", pa.array(["2024-3"]))
    root = _bad_case("month", tables, tmp_path)
    _expect_error(root, "lists", "review", "YYYY-MM")


def test_corrupt_parquet(tmp_path):
    root = write_dir(tmp_path / "corrupt", clean_tables())
    (root / "supply.parquet").write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InputError, match="cannot read Parquet"):
        DataSet(root).table("supply")
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert result.exit_code != 0 and "supply.parquet" in result.output


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_non_positive_supply_fails_validate_but_reads(tmp_path, value):
    # `validate` is strict; the calculations keep the row and make the asset ineligible
    # (SPEC §3.8, §8.3), so reading the table does not fail.
    tables = clean_tables()
    tables["supply"] = tables["supply"].set_column(
        2, "circulating_supply", pa.array([19.6e6, value]))
    root = _bad_case("supply", tables, tmp_path)
    assert DataSet(root).table("supply").num_rows == 2
    report = validate(root)
    assert not report.clean
    text = "\n".join(str(p) for p in report.problems)
    assert "circulating_supply" in text and "asset=ETH" in text
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert result.exit_code != 0
    assert "circulating_supply" in result.output


def test_missing_table_a_command_needs(tmp_path):
    root = write_dir(tmp_path / "nosupply", {"prices": clean_tables()["prices"]})
    with pytest.raises(InputError, match="missing table 'supply'"):
        DataSet(root).table("supply")
    assert DataSet(root).table("supply", required=False) is None


def test_quote_without_fx_is_reported(tmp_path):
    tables = clean_tables()
    tables["fx"] = tables["fx"].filter(pa.compute.equal(tables["fx"].column("currency"), "USDT"))
    report = validate(write_dir(tmp_path / "nofx", tables))
    assert any("no fx rows for EUR" in str(p) for p in report.problems)


def test_mapping_source_and_unknown_table_name():
    tables = clean_tables()
    assert DataSet(tables).table("supply").num_rows == 2
    with pytest.raises(Exception, match="unknown table"):
        DataSet({"pricez": tables["prices"]})


def test_write_table_is_atomic(tmp_path):
    target = tmp_path / "out.parquet"
    write_table(clean_tables()["prices"], target)
    assert pq.read_table(target).num_rows == 4
    with pytest.raises(ConfigError):
        write_table(pa.table({"x": [1]}), tmp_path / "out.unknown")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_atomic_output_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "result"
    with pytest.raises(RuntimeError), atomic_output_dir(target) as tmp:
        (tmp / "levels.parquet").write_text("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output_dir(target) as tmp:
        (tmp / "manifest.json").write_text("{}")
        (tmp / "a.txt").write_text("one")
    with atomic_output_dir(target) as tmp:  # an earlier output is replaced
        (tmp / "manifest.json").write_text("{}")
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]
    assert sorted(p.name for p in target.iterdir()) == ["b.txt", "manifest.json"]


def test_example_rows_keep_nanoseconds_without_pandas(tmp_path):
    # pyarrow needs pandas to turn ns timestamps into Python objects; messages must not.
    import subprocess
    import sys

    blocker = tmp_path / "pandas"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('no pandas here')\n")
    probe = """
import sys
sys.path.insert(0, ".")
import pyarrow as pa
from daix.validation import validate
ts = pa.array([1_700_000_000_123_456_789, 1_700_000_001_000_000_001], pa.int64())
trades = pa.table({"ts": ts.cast(pa.timestamp("ns", "UTC")), "asset": ["A", "A"],
                   "exchange": ["X", "X"], "quote": ["USD", "USD"],
                   "price": [1.0, 1.0], "size": [0.0, 1.0]})
report = validate({"trades": trades})
print("\\n".join(str(p) for p in report.problems))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # 1_700_000_000.123456789 s = 2023-11-14T22:13:20.123456789Z
    assert "ts=2023-11-14T22:13:20.123456789Z" in out.stdout


def test_threads_asking_for_one_table_read_it_once(tmp_path, monkeypatch):
    """Background threads (state hashes, reference data) and the main thread may ask for the
    same table at once: it is read and validated once, and all get that one table."""
    import threading
    import time

    ds = DataSet(write_dir(tmp_path / "d", clean_tables()))
    loads = []
    real = DataSet._load

    def slow_load(self, name, dictionary, check_keys=True):
        loads.append(name)
        time.sleep(0.05)  # long enough for the other threads to ask meanwhile
        return real(self, name, dictionary, check_keys)

    monkeypatch.setattr(DataSet, "_load", slow_load)
    got = []
    threads = [threading.Thread(target=lambda: got.append(ds.table("supply")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["supply"] and len(got) == 4 and all(g is got[0] for g in got)


def test_reference_prepared_in_the_background_is_the_lazy_one(tmp_path):
    """``Reference.prepare`` gives the reference data of the reviews as ``from_dataset`` does
    (SPEC §3.2 supply as of an instant, §4.5 ADTV); a missing supply table is the same error,
    raised where the reviews take the result."""
    from daix.engine.reference import Reference

    root = write_dir(tmp_path / "d", clean_tables())
    lazy = Reference.from_dataset(DataSet(root), needs_volume=True)
    ready = Reference.prepare(DataSet(root), needs_volume=True).result()
    t = int(pa.scalar(dt.datetime(2024, 3, 1, 5, tzinfo=UTC), pa.timestamp("ns", "UTC"))
            .value)
    assert ready.supply.at("BTC", t) == lazy.supply.at("BTC", t) == 19.6e6
    day = dt.date(2024, 3, 1)
    assert ready.adtv("ETH", day, day) == lazy.adtv("ETH", day, day) == (5e8, 1)
    (root / "supply.parquet").unlink()
    future = Reference.prepare(DataSet(root), needs_volume=True)
    with pytest.raises(InputError, match="missing table 'supply'"):
        future.result()
