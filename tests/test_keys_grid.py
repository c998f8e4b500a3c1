"""The duplicate-key and hourly-grid kernels against their references (tests/naive.py)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from daix.kernels.grid import count_finite_nb
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import count_finite_naive, first_duplicate_naive, price_grid_naive

from daix.engine.market import build_price_grid
from daix.errors import InputError
from daix.io import check_unique

HOUR = 3_600_000_000_000
TS = pa.timestamp("ns", tz="UTC")


def prices_table(rows):
    return pa.table({
        "ts": pa.array([r[0] for r in rows], pa.int64()).cast(TS),
        "asset": pa.array([r[1] for r in rows], pa.string()),
        "window": pa.array([r[2] for r in rows], pa.string()),
        "price": pa.array([r[3] for r in rows], pa.float64()),
    })


row_strategy = st.tuples(
    st.integers(0, 30).map(lambda h: 1_700_000_000 // 3600 * HOUR + h * HOUR),
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(["15m", "1h"]),
    st.one_of(st.none(), st.floats(-5, 100, allow_nan=False), st.just(math.nan), st.just(math.inf)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=2, max_size=40))
def test_check_unique_matches_reference(rows):
    table = prices_table(rows)
    dup = first_duplicate_naive([(r[0], r[1], r[2]) for r in rows])
    if dup == -1:
        check_unique(table, ("ts", "asset", "window"), "prices")
    else:
        with pytest.raises(InputError, match="duplicate key"):
            check_unique(table, ("ts", "asset", "window"), "prices")


def test_check_unique_sparse_keys_and_dictionary_columns():
    # Timestamps a year apart with 1 ns offsets: too sparse to count, sorted instead.
    ts = [0, 365 * 24 * HOUR + 1, 0]
    t = pa.table({"ts": pa.array(ts, pa.int64()).cast(TS),
                  "asset": pa.array(["A", "A", "B"]).dictionary_encode()})
    check_unique(t, ("ts", "asset"), "x")
    t2 = pa.table({"ts": pa.array([*ts[:2], 0], pa.int64()).cast(TS),
                   "asset": pa.array(["A", "A", "A"]).dictionary_encode()})
    with pytest.raises(InputError) as info:
        check_unique(t2, ("ts", "asset"), "x")
    assert [r.split(":")[0] for r in info.value.rows] == ["row 1", "row 3"]


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=40, unique_by=lambda r: r[:3]))
def test_price_grid_matches_reference(rows):
    # A few rows off the hour and of the 15s window, which the grid leaves out.
    rows = [*rows, (rows[0][0] + 1, "A", "15m", 1.0), (rows[0][0], "A", "15s", 2.0)]
    start, cells, bad, off = price_grid_naive(rows, ("15m", "1h"), ["A", "B", "C"])
    grid = build_price_grid(prices_table(rows), assets=["A", "B", "C"])
    assert grid.grid_start == start
    assert grid.counts["bad_price"] == bad and grid.counts["off_grid"] == off
    for w in ("15m", "1h"):
        m = grid.matrix(w)
        expect = np.full(m.shape, np.nan)
        for (r, a), p in cells[w].items():
            expect[r, ["A", "B", "C"].index(a)] = p
        np.testing.assert_array_equal(m, expect)


def test_price_grid_by_hand():
    t0 = 1_700_000_000 // 3600 * HOUR
    rows = [(t0, "B", "15m", 2.0), (t0 + 2 * HOUR, "A", "1h", 3.0),
            (t0 + HOUR, "A", "15m", -1.0), (t0 + HOUR, "A", "1h", math.inf)]
    grid = build_price_grid(prices_table(rows))
    assert grid.assets == ["A", "B"] and grid.n_rows == 3 and grid.grid_start == t0
    np.testing.assert_array_equal(grid.matrix("15m"), [[np.nan, 2.0], [np.nan, np.nan],
                                                       [np.nan, np.nan]])
    np.testing.assert_array_equal(grid.matrix("1h"), [[np.nan, np.nan], [np.nan, np.nan],
                                                      [3.0, np.nan]])
    assert grid.counts["bad_price"] == 2  # -1 and inf count as no price (SPEC §8.2)


def test_price_grid_without_hourly_rows_is_an_error():
    with pytest.raises(InputError, match="no hourly fixes"):
        build_price_grid(prices_table([(1, "A", "15m", 1.0)]))


def test_price_grid_many_rows_in_parallel_parts():
    # More rows than one part of the parallel scatter (MIN_PART_ROWS): the same matrix and
    # counts as the plain-Python reference (SPEC §6.1, §8.2).
    from daix.kernels.grid import MIN_PART_ROWS

    rng = np.random.default_rng(7)
    hour = 3_600_000_000_000
    n_assets, n_hours = 40, 6000
    cells = rng.choice(n_assets * n_hours * 2, size=4 * MIN_PART_ROWS, replace=False)
    window = np.where(cells % 2 == 0, "15m", "1h")
    asset = (cells // 2) % n_assets
    ts = 1_700_000_000 * 10**9 // hour * hour + (cells // 2 // n_assets) * hour
    ts[::997] += 5  # off the hour
    price = rng.uniform(1.0, 100.0, len(cells))
    price[::101] = -1.0  # unusable (SPEC §8.2)
    names = [f"A{a:02d}" for a in range(n_assets)]
    table = pa.table({"ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
                      "asset": pa.array([names[a] for a in asset]).dictionary_encode(),
                      "window": pa.array(window).dictionary_encode(), "price": price})
    grid = build_price_grid(table)
    rows = list(zip(ts.tolist(), [names[a] for a in asset], window.tolist(), price.tolist(),
                    strict=True))
    start, want, bad, off = price_grid_naive(rows, ("15m", "1h"), grid.assets)
    assert grid.grid_start == start
    assert grid.counts["bad_price"] == bad and grid.counts["off_grid"] == off
    for w in ("15m", "1h"):
        m = grid.matrix(w)
        got = {(r, grid.assets[c]): m[r, c] for r, c in zip(*np.nonzero(np.isfinite(m)),
                                                             strict=True)}
        assert got == want[w]


# --- the grid's own duplicate-key check (SPEC §6.2) -----------------------------------------

T0 = 1_700_000_000 // 3600 * HOUR


@pytest.mark.parametrize(("rows", "dup_rows"), [
    # two usable prices of one key: one cell is written twice
    ([(T0, "A", "1h", 1.0), (T0 + HOUR, "A", "1h", 2.0), (T0, "A", "1h", 3.0)],
     ["row 1", "row 3"]),
    # a usable price and an unusable one (NaN, null, zero) of one key: one cell holds a price
    ([(T0, "A", "15m", 1.0), (T0, "A", "15m", math.nan)], ["row 1", "row 2"]),
    ([(T0, "A", "15m", None), (T0 + HOUR, "B", "15m", 5.0), (T0, "A", "15m", 4.0)],
     ["row 1", "row 3"]),
    ([(T0, "A", "15m", 0.0), (T0, "A", "15m", -2.0)], ["row 1", "row 2"]),
    # rows the grid leaves out: the 15s window, and instants off the whole hour
    ([(T0, "A", "1h", 1.0), (T0 + 15 * 10**9, "A", "15s", 1.0),
      (T0 + 15 * 10**9, "A", "15s", 1.5)], ["row 2", "row 3"]),
    ([(T0, "A", "1h", 1.0), (T0 + 7, "A", "1h", 2.0), (T0 + 7, "A", "1h", 2.0)],
     ["row 2", "row 3"]),
])
def test_grid_key_check_finds_duplicates(rows, dup_rows):
    """SPEC §6.2: a duplicate (ts, asset, window) found by the grid, whichever rows hold it,
    is the error of ``check_unique``: it names the column and both rows."""
    with pytest.raises(InputError, match="duplicate key") as info:
        build_price_grid(prices_table(rows), label="prices.parquet", check_keys=True)
    assert [r.split(":")[0] for r in info.value.rows] == dup_rows
    assert "prices.parquet" in str(info.value) and "ts, asset, window" in str(info.value)


def test_grid_key_check_passes_unique_keys_with_unusable_and_left_out_rows():
    """Unique keys pass, also when some rows are unusable (SPEC §8.2) or not on the grid: the
    same key in another window, or 15 s later, is another key."""
    rows = [(T0, "A", "1h", 1.0), (T0, "A", "15m", 1.0), (T0, "B", "1h", math.nan),
            (T0 + HOUR, "B", "1h", -1.0), (T0 + 15 * 10**9, "A", "15s", 1.0),
            (T0 + 5, "A", "1h", 1.0)]
    grid = build_price_grid(prices_table(rows), check_keys=True)
    assert grid.counts["hourly_rows"] == 4 and grid.counts["off_grid"] == 1


@settings(max_examples=80, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=30), st.booleans())
def test_grid_key_check_matches_reference(rows, left_out):
    """Hypothesis: the grid's check fails exactly when the reference finds a duplicate key."""
    if left_out:  # rows the grid does not place, one of them repeating a key of another
        rows = [*rows, (rows[0][0] + 1, "A", "15m", 1.0), (rows[0][0], "A", "15s", 2.0),
                (rows[-1][0], "B", "15s", 3.0)]
    dup = first_duplicate_naive([(r[0], r[1], r[2]) for r in rows])
    if dup == -1:
        build_price_grid(prices_table(rows), check_keys=True)
    else:
        with pytest.raises(InputError, match="duplicate key"):
            build_price_grid(prices_table(rows), check_keys=True)


@pytest.mark.parametrize("values", [
    [], [math.nan], [1.0], [math.inf, -math.inf, math.nan, 0.0, -1.0, 5e-324],
    [2.0] * 70_000 + [math.nan] * 70_001,
])
def test_count_finite_kernel_matches_reference(values):
    arr = np.array(values, dtype=np.float64)
    assert count_finite_nb(arr) == count_finite_naive(values)
    if len(values) % 2 == 0 and values:
        assert count_finite_nb(arr.reshape(2, 1, -1)) == count_finite_naive(values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.just(math.nan)), max_size=300))
def test_count_finite_kernel_property(values):
    assert count_finite_nb(np.array(values, dtype=np.float64)) == count_finite_naive(values)


def test_dataset_keys_checked_later(tmp_path):
    """``DataSet.table(check_keys=False)`` leaves the duplicate-key check (SPEC §6.2) to its
    caller: a later ``table()`` makes it unless ``keys_checked`` was called, and a duplicate
    found then drops the cached copy."""
    import pyarrow.parquet as pq

    from daix.io import DataSet

    rows = [(T0, "A", "1h", 1.0), (T0, "A", "1h", 2.0)]
    pq.write_table(prices_table(rows), tmp_path / "prices.parquet")
    ds = DataSet(tmp_path)
    table = ds.table("prices", dictionary=True, check_keys=False)
    assert table.num_rows == 2
    with pytest.raises(InputError, match="duplicate key"):
        ds.table("prices", dictionary=True)
    with pytest.raises(InputError, match="duplicate key"):  # read again, checked again
        ds.table("prices", dictionary=True)
    ds2 = DataSet(tmp_path)
    ds2.table("prices", dictionary=True, check_keys=False)
    ds2.keys_checked("prices", dictionary=True)
    assert ds2.table("prices", dictionary=True).num_rows == 2  # the caller vouched for it
