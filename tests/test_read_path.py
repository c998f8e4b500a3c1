"""The backfill read path (SPEC §6.1-§6.2, §6.3): tables kept chunk by chunk as read, the flat
Parquet reader, prefetching, the duplicate-key and grid kernels over chunks with different
dictionaries, as-of lookups and input hashes.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from daix.kernels.grid import mark_used_nb, span_and_used_nb
from daix.kernels.keys import (
    divisible_nb,
    first_duplicate_nb,
    mark_keys_nb,
    mark_keys_parts_nb,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import first_duplicate_naive, hourly_span_naive, price_grid_naive, used_codes_naive

from daix import parquet_flat
from daix.convert import DictionaryChunks, convert_column
from daix.engine.digests import content_digest
from daix.engine.market import AsOf, build_price_grid, distinct_text, text_codes
from daix.engine.outputs import InputHashes
from daix.errors import InputError
from daix.io import DataSet, check_unique, read_file
from daix.parquet_flat import read_parquet_flat
from daix.schemas import FLOAT, INPUTS, TIMESTAMP

HOUR = 3_600_000_000_000
TS = pa.timestamp("ns", tz="UTC")
T0 = 1_700_000_000 // 3600 * HOUR


def chunked_prices(rows, cuts, dictionary=True):
    """A prices table of ``rows`` (ts, asset, window, price) split at ``cuts``; with
    ``dictionary`` each chunk's asset and window are encoded with that chunk's own
    dictionary (in reverse order of first appearance, so the chunks' dictionaries differ)."""
    bounds = [0, *sorted(set(cuts)), len(rows)]
    cols: dict[str, list] = {"ts": [], "asset": [], "window": [], "price": []}
    for lo, hi in itertools.pairwise(bounds):
        part = rows[lo:hi]
        cols["ts"].append(pa.array([r[0] for r in part], pa.int64()).cast(TS))
        cols["price"].append(pa.array([r[3] for r in part], pa.float64()))
        for k, name in ((1, "asset"), (2, "window")):
            values = [r[k] for r in part]
            if dictionary:
                vocab = list(dict.fromkeys(reversed(values))) or ["Z"]
                cols[name].append(pa.DictionaryArray.from_arrays(
                    pa.array([vocab.index(v) for v in values], pa.int32()), pa.array(vocab)))
            else:
                cols[name].append(pa.array(values, pa.string()))
    return pa.table({k: pa.chunked_array(v) for k, v in cols.items()})


row_strategy = st.tuples(
    st.integers(0, 30).map(lambda h: T0 + h * HOUR),
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(["15m", "1h"]),
    st.one_of(st.none(), st.floats(-5, 100, allow_nan=False), st.just(math.nan)),
)


# --- duplicate keys over chunks (SPEC §6.2) --------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=2, max_size=40), st.lists(st.integers(1, 39), max_size=4),
       st.booleans())
def test_check_unique_over_chunks_matches_reference(rows, cuts, dictionary):
    table = chunked_prices(rows, [c for c in cuts if c < len(rows)], dictionary)
    dup = first_duplicate_naive([(r[0], r[1], r[2]) for r in rows])
    if dup == -1:
        check_unique(table, ("ts", "asset", "window"), "prices")
    else:
        with pytest.raises(InputError, match="duplicate key") as info:
            check_unique(table, ("ts", "asset", "window"), "prices")
        # The example rows are row numbers of the whole table, each a duplicated key.
        listed = [int(r.split(":")[0].split()[1]) - 1 for r in info.value.rows]
        keys = [(r[0], r[1], r[2]) for r in rows]
        assert listed and all(keys.count(keys[i]) >= 2 for i in listed)


def test_duplicate_across_chunks_with_different_dictionaries():
    # Row 3 repeats row 0's key; the chunks encode "A" as 1 and 0.
    rows = [(T0, "A", "1h", 1.0), (T0, "B", "1h", 2.0), (T0 + HOUR, "A", "1h", 3.0),
            (T0, "A", "1h", 4.0)]
    table = chunked_prices(rows, [2])
    assert table.column("asset").chunk(0).dictionary.to_pylist() == ["B", "A"]
    with pytest.raises(InputError) as info:
        check_unique(table, ("ts", "asset", "window"), "prices")
    assert [r.split(":")[0] for r in info.value.rows] == ["row 1", "row 4"]


def test_mark_keys_kernel_by_hand():
    # Two columns: ts (hourly from T0) and a dictionary index through a lookup [1, 0].
    seen = np.zeros(1, dtype=np.uint64)  # 6 cells: one word of bits
    ts = np.array([T0, T0 + HOUR, T0 + 2 * HOUR], dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    lookup = np.array([1, 0], dtype=np.int64)
    # keys: (0*2 + 1), (1*2 + 0), (2*2 + 1) = 1, 2, 5
    assert mark_keys_nb(seen, ts, empty, T0, HOUR, np.array([0, 1, 0], np.int32), lookup, 0, 1,
                        2, ts, empty, 0, 1, 1, 2) == -1
    assert seen.tolist() == [0b100110]  # bits 1, 2 and 5
    # A second chunk with key (1, code 0) = 2 again: its row 1.
    assert mark_keys_nb(seen, ts[:2], empty, T0, HOUR, np.array([0, 0], np.int8), empty, 0, 1,
                        2, ts, empty, 0, 1, 1, 2) == 1


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 3)), max_size=60),
       st.lists(st.tuples(st.integers(0, 9), st.integers(0, 3)), min_size=1, max_size=60),
       st.integers(1, 5))
def test_mark_keys_in_parallel_parts_matches_reference(before, rows, parts):
    # A chunk checked in parts, after an earlier chunk marked ``before``: a duplicate within
    # a part, across parts or against the earlier chunk is found, as the reference finds it.
    def cols(keys):
        hours = np.array([T0 + h * HOUR for h, _ in keys], dtype=np.int64)
        return hours, np.array([a for _, a in keys], dtype=np.int32)

    empty = np.zeros(0, dtype=np.int64)
    seen = np.zeros(1, dtype=np.uint64)  # 10 hours x 4 assets = 40 cells
    first = first_duplicate_naive(before)
    if before and first == -1:
        ts, asset = cols(before)
        assert mark_keys_nb(seen, ts, empty, T0, HOUR, asset, empty, 0, 1, 4, ts, empty, 0,
                            1, 1, 2) == -1
    elif before:
        return  # the earlier chunk itself has a duplicate: covered by the serial kernel
    ts, asset = cols(rows)
    found = mark_keys_parts_nb(seen, ts, empty, T0, HOUR, asset, empty, 0, 1, 4, ts, empty, 0,
                               1, 1, 2, parts)
    assert found == (first_duplicate_naive(before + rows) != -1)
    if not found:  # every key of both chunks is marked, and nothing else
        cells = {h * 4 + a for h, a in before + rows}
        assert int(seen[0]) == sum(1 << c for c in cells)


def test_check_unique_of_large_chunks_runs_in_parts(monkeypatch):
    # Chunks of more than 2 * PARALLEL_KEY_ROWS rows go through the parallel kernel; the
    # duplicate (row 7 repeats row 2, in another part) is found and listed.
    import daix.io

    monkeypatch.setattr(daix.io, "PARALLEL_KEY_ROWS", 2)
    monkeypatch.setattr("daix.kernels.options.threads", lambda: 4)
    rows = [(T0 + h * HOUR, a, "1h", 1.0) for h in range(4) for a in ("A", "B")]
    check_unique(chunked_prices(rows, []), ("ts", "asset", "window"), "prices")
    rows[7] = rows[2]
    with pytest.raises(InputError, match="1 key") as info:
        check_unique(chunked_prices(rows, []), ("ts", "asset", "window"), "prices")
    assert [r.split(":")[0] for r in info.value.rows] == ["row 3", "row 8"]


def test_divisible_and_quotients_are_exact_for_large_values():
    # Values near 2**62 in microsecond steps: the float quotient is not exact there.
    lo = 2**62
    col = lo + np.arange(0, 5_000_000, 1000, dtype=np.int64)
    assert divisible_nb(col, lo, 1000)
    assert not divisible_nb(np.r_[col, lo + 1001], lo, 1000)
    # 5000 distinct keys, then the first repeated: row 5000 (its key is row 7's).
    keys = np.r_[col, col[7]]
    assert first_duplicate_nb(keys, lo, 1000, keys, 0, 1, 1, keys, 0, 1, 1, 1, 5000) == 5000


# --- the hourly grid over chunks (SPEC §2.7, §8.2) -------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=40, unique_by=lambda r: r[:3]),
       st.lists(st.integers(1, 41), max_size=4), st.booleans())
def test_price_grid_over_chunks_matches_reference(rows, cuts, dictionary):
    rows = [*rows, (rows[0][0] + 1, "A", "15m", 1.0), (rows[0][0], "A", "15s", 2.0)]
    table = chunked_prices(rows, [c for c in cuts if c < len(rows)], dictionary)
    start, cells, bad, off = price_grid_naive(rows, ("15m", "1h"), ["A", "B", "C"])
    grid = build_price_grid(table, assets=["A", "B", "C"])
    assert grid.grid_start == start
    assert grid.counts["bad_price"] == bad and grid.counts["off_grid"] == off
    for w in ("15m", "1h"):
        expect = np.full(grid.matrix(w).shape, np.nan)
        for (r, a), p in cells[w].items():
            expect[r, ["A", "B", "C"].index(a)] = p
        np.testing.assert_array_equal(grid.matrix(w), expect)
    # Without an asset list: the assets some row names, sorted.
    assert build_price_grid(table).assets == sorted({r[1] for r in rows})


def test_span_and_used_kernels_match_reference():
    ts = [T0 + HOUR, T0 + 5, T0, T0 + 3 * HOUR, T0 + 9 * HOUR]
    windows = ["15m", "1h", "1h", "15s", "1h"]
    vocab = ["15s", "15m", "1h"]
    wcode = np.array([vocab.index(w) for w in windows], dtype=np.int8)
    wslot = np.array([-1, 0, 1], dtype=np.int64)
    acode = np.array([2, 0, 2, 1, 0], dtype=np.int32)
    used = np.zeros(4, dtype=np.bool_)
    lo, hi = span_and_used_nb(np.array(ts, np.int64), wcode, wslot, acode, used)
    assert (lo, hi) == hourly_span_naive(ts, windows, ("15m", "1h")) == (T0, T0 + 9 * HOUR)
    assert used.tolist() == used_codes_naive(acode.tolist(), 4) == [True, True, True, False]
    marks = np.zeros(3, dtype=np.bool_)
    mark_used_nb(np.array([2, 2], np.int8), marks)
    assert marks.tolist() == used_codes_naive([2, 2], 3)


def test_text_codes_and_distinct_text_over_chunks():
    table = chunked_prices([(T0, "A", "1h", 1.0), (T0, "B", "15m", 1.0), (T0, "C", "15s", 1.0),
                            (T0, "A", "15s", 1.0)], [1, 3])
    col = table.column("window")
    np.testing.assert_array_equal(text_codes(col, ["15s", "1h"]), [1, -1, 0, 0])
    none = text_codes(col, ["xx"])  # no row holds it: a read-only broadcast of -1
    assert none.tolist() == [-1] * 4 and not none.flags.writeable
    assert distinct_text(col) == ["15m", "15s", "1h"]
    assert distinct_text(table.column("asset")) == ["A", "B", "C"]
    # A dictionary value no row uses is not distinct text (a slice keeps its dictionary).
    sliced = pa.array(["x", "y", "z"]).dictionary_encode().slice(0, 2)
    assert distinct_text(sliced) == ["x", "y"]
    chunks = DictionaryChunks.of(pa.array(["p", None, "q"]).dictionary_encode())
    assert chunks.indices[0].tolist() == [0, 2, 1] and chunks.dictionaries[0] == ["p", "q", None]


# --- conversion keeps chunks (no combined copies) -------------------------------------------


def test_timestamp_and_float_columns_pass_through_chunk_by_chunk():
    ts = pa.chunked_array([pa.array([T0], pa.int64()).cast(TS), pa.array([T0 + 1]).cast(TS)])
    out = convert_column(ts, TIMESTAMP, "x", "ts")
    assert out.num_chunks == 2
    assert out.chunk(1).buffers()[1].address == ts.chunk(1).buffers()[1].address  # zero-copy
    us = pa.chunked_array([pa.array([1], pa.timestamp("us", tz="Europe/Berlin"))])
    assert convert_column(us, TIMESTAMP, "x", "ts").cast(pa.int64()).to_pylist() == [1000]
    ints = pa.chunked_array([pa.array([1, 2]), pa.array([3])])
    assert convert_column(ints, FLOAT, "x", "price").type == pa.float64()


# --- the flat Parquet reader ------------------------------------------------------------------


def _write_prices(path, rows, row_group_size):
    table = pa.table({
        "ts": pa.array([r[0] for r in rows], pa.int64()).cast(TS),
        "asset": pa.array([r[1] for r in rows]).dictionary_encode(),
        "window": pa.array([r[2] for r in rows]).dictionary_encode(),
        "price": pa.array([r[3] for r in rows], pa.float64()),
        "extra": pa.array(["e"] * len(rows)),
    })
    pq.write_table(table, path, row_group_size=row_group_size)
    return table


def test_flat_reader_equals_pyarrow(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_flat, "FLAT_MIN_ROWS", 1)
    # Row groups of 7 rows; the asset dictionary changes with the row groups.
    rows = [(T0 + (i // 3) * HOUR, "ABCDE"[(i // 7) % 5] if i % 3 else "A",
             ("15m", "1h", "15s")[i % 3], float(i)) for i in range(60)]
    path = tmp_path / "prices.parquet"
    _write_prices(path, rows, 7)
    flat = read_file(path, INPUTS["prices"], dictionary=True)
    plain = pq.read_table(path, columns=["ts", "asset", "window", "price"])
    assert flat.column_names == ["ts", "asset", "window", "price"]
    assert flat.num_rows == 60
    for name in flat.column_names:
        assert flat.column(name).to_pylist() == plain.column(name).to_pylist()
    assert flat.column("ts").num_chunks == 1  # one array, not one chunk per row group
    # Validated as usual, and the same grid as from the plain read.
    table = DataSet(tmp_path).table("prices", dictionary=True)
    a, b = build_price_grid(table), build_price_grid(plain)
    assert a.assets == b.assets and a.counts == b.counts
    np.testing.assert_array_equal(a.matrix("1h"), b.matrix("1h"))


def test_flat_reader_declines_nulls_strings_and_small_files(tmp_path, monkeypatch):
    rows = [(T0 + i * HOUR, "A", "1h", 1.0) for i in range(10)]
    path = tmp_path / "prices.parquet"
    _write_prices(path, rows, 4)
    cols = ["ts", "asset", "window", "price"]
    assert read_parquet_flat(path, cols, []) is None  # fewer rows than FLAT_MIN_ROWS
    monkeypatch.setattr(parquet_flat, "FLAT_MIN_ROWS", 1)
    assert read_parquet_flat(path, [*cols, "extra"], []) is None  # plain text column
    _write_prices(path, [*rows, (T0, "A", "1h", None)], 4)
    assert read_parquet_flat(path, cols, []) is None  # a null price
    # read_file falls back to pyarrow: the null stays a null.
    assert read_file(path, INPUTS["prices"], dictionary=True).column("price").null_count == 1


def test_flat_reader_reads_plain_text_as_dictionary(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_flat, "FLAT_MIN_ROWS", 1)
    path = tmp_path / "prices.parquet"
    pq.write_table(pa.table({"ts": pa.array([T0, T0 + HOUR], pa.int64()).cast(TS),
                             "asset": ["A", "B"], "window": ["1h", "1h"],
                             "price": [1.0, 2.0]}), path)
    table = read_file(path, INPUTS["prices"], dictionary=True)
    assert pa.types.is_dictionary(table.column("asset").type)
    assert table.column("asset").to_pylist() == ["A", "B"]


# --- prefetch ---------------------------------------------------------------------------------


def test_prefetch_gives_the_same_tables_and_raises_when_asked(tmp_path):
    pq.write_table(pa.table({"ts": pa.array([T0, T0], pa.int64()).cast(TS),
                             "currency": ["EUR", "EUR"], "usd_per_unit": [1.1, 1.2]}),
                   tmp_path / "fx.parquet")  # a duplicate key
    pq.write_table(pa.table({"asset": ["A"], "name": ["a"], "sector": ["702020"],
                             "subsector": [None]}, schema=pa.schema(
        [("asset", pa.string()), ("name", pa.string()), ("sector", pa.string()),
         ("subsector", pa.string())])), tmp_path / "assets.parquet")
    ds = DataSet(tmp_path)
    ds.prefetch(["fx", "assets", "supply"])  # supply is absent: nothing to do
    assert ds.table("assets").equals(DataSet(tmp_path).table("assets"))
    assert ds.table("supply", required=False) is None
    with pytest.raises(InputError, match="duplicate key"):
        ds.table("fx")


# --- as-of lookups (SPEC §3.2) ---------------------------------------------------------------


def test_asof_from_unsorted_chunked_table_by_hand():
    # Rows out of order, in two chunks with different dictionaries.
    table = pa.table({
        "ts": pa.chunked_array([pa.array([30, 10, 20], pa.int64()).cast(TS),
                                pa.array([5, 40], pa.int64()).cast(TS)]),
        "asset": pa.chunked_array([pa.array(["B", "A", "B"]).dictionary_encode(),
                                   pa.array(["B", "A"]).dictionary_encode()]),
        "circulating_supply": pa.chunked_array([[3.0, 1.0, 2.0], [0.5, 4.0]]),
    })
    asof = AsOf.from_table(table, "asset", "circulating_supply")
    assert list(asof.times) == ["A", "B"]
    assert asof.times["B"].tolist() == [5, 20, 30] and asof.values["B"].tolist() == [0.5, 2, 3]
    assert asof.at("A", 9) != asof.at("A", 9)  # NaN before the first row
    assert asof.at("A", 10) == 1.0 and asof.at("A", 39) == 1.0 and asof.at("A", 40) == 4.0
    assert asof.at("B", 25) == 2.0 and asof.at("C", 25) != asof.at("C", 25)


# --- input hashes (SPEC §6.3) ----------------------------------------------------------------


def _flip(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def test_input_hashes_are_content_digests(tmp_path):
    """SPEC §6.3: every input file gets a content hash: equal bytes (under another name) give
    the same hash, and any one changed byte (a column chunk, the footer, the magic number, a
    file that is not Parquet) another."""
    data = tmp_path / "data"
    data.mkdir()
    payload = bytes(range(256)) * 50_000  # not Parquet: hashed whole
    (data / "trades.parquet").write_bytes(payload)
    table = pa.table({"asset": [f"A{k}" for k in range(1000)], "x": np.arange(1000.0)})
    pq.write_table(table, data / "assets.parquet", row_group_size=300)
    hashes = InputHashes(DataSet(data)).result()
    assert sorted(hashes) == ["assets", "trades"]
    assert all(len(h["digest"]) == 32 for h in hashes.values())
    twin = tmp_path / "twin"
    twin.mkdir()
    for f in data.iterdir():
        (twin / f.name).write_bytes(f.read_bytes())
    again = InputHashes(DataSet(twin)).result()
    assert [again[n]["digest"] for n in hashes] == [hashes[n]["digest"] for n in hashes]
    meta = pq.ParquetFile(data / "assets.parquet").metadata
    chunk = meta.row_group(1).column(1)
    size = (data / "assets.parquet").stat().st_size
    for name, at in (("trades", 12_345), ("assets", chunk.data_page_offset + 20),
                     ("assets", size - 20), ("assets", 1)):
        copy = tmp_path / f"flip_{name}_{at}"
        copy.mkdir()
        for f in data.iterdir():
            (copy / f.name).write_bytes(f.read_bytes())
        _flip(copy / f"{name}.parquet", at)
        got = InputHashes(DataSet(copy)).result()
        assert got[name]["digest"] != hashes[name]["digest"], (name, at)
        other = "assets" if name == "trades" else "trades"
        assert got[other]["digest"] == hashes[other]["digest"]


def test_directory_hash_covers_names_and_bytes(tmp_path):
    """A hive dataset directory's hash (SPEC §6.3) changes with a file's bytes or its name."""
    from daix.engine.digests import content_digest

    root = tmp_path / "trades"
    (root / "date=2024-01-01").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2, 3]}), root / "date=2024-01-01" / "a.parquet")
    first = content_digest(root)
    assert first == content_digest(root)
    (root / "date=2024-01-01" / "a.parquet").rename(root / "date=2024-01-01" / "b.parquet")
    moved = content_digest(root)
    assert moved != first
    pq.write_table(pa.table({"x": [1, 2, 4]}), root / "date=2024-01-01" / "b.parquet")
    assert content_digest(root) not in (first, moved)


def test_in_memory_tables_are_hashed_from_their_buffers():
    def assets(sector: str):
        return pa.table({"asset": ["A", "B"], "name": ["a", "b"], "sector": ["x", sector],
                         "subsector": ["s", "s"]})

    got = InputHashes(DataSet({"assets": assets("y")})).result()["assets"]
    assert got["file"] is None and got["rows"] == 2 and len(got["digest"]) == 32
    assert InputHashes(DataSet({"assets": assets("y")})).result()["assets"] == got
    other = InputHashes(DataSet({"assets": assets("z")})).result()["assets"]
    assert other["digest"] != got["digest"]


# --- end to end -------------------------------------------------------------------------------


def test_backfill_from_files_equals_backfill_from_tables(tmp_path, monkeypatch):
    """The same levels, bit for bit, whether the data is read from Parquet files (flat reader,
    prefetch threads, hashing thread) or given as pyarrow tables (SPEC §6.1, §6.3)."""
    from daix.engine.backfill import backfill
    from daix.synth import synthesize

    monkeypatch.setattr(parquet_flat, "FLAT_MIN_ROWS", 1)
    synthesize(tmp_path, assets=24, years=1.25, seed=3, defects=False)
    indices = ["CUSTOM_TOP20", "GS_TOTAL", "SELECT10", "BTC_UTC"]
    from_files = backfill(tmp_path, indices=indices)
    tables = {p.name.split(".")[0]: pq.read_table(p) for p in tmp_path.glob("*.parquet")}
    from_tables = backfill(tables, indices=indices)
    for name in ("levels", "constituents", "reviews"):
        assert getattr(from_files, name).equals(getattr(from_tables, name)), name
    levels = from_files.levels
    assert set(levels.column("index").to_pylist()) == set(indices)
    assert (levels.column("level").to_numpy().tobytes()
            == from_tables.levels.column("level").to_numpy().tobytes())
    hashes = from_files.manifest["inputs"]
    assert hashes["prices"]["digest"] == content_digest(tmp_path / "prices.parquet")
