"""The lookups a review reads (SPEC §3.2, §3.8, §4.2, §4.5, §8.4, §8.5) against plain-Python
references: rows grouped per asset in time order (``kernels/grouping.py``), as-of snapshots of
supply, the fixes of every asset at one instant, the universe in force, sector codes, ADTV and
deletions."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from daix.kernels.grouping import asof_rows_nb, group_order_nb
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import asof_rows_naive, group_order_naive

from daix.catalogue import get_index
from daix.engine.context import _KEEP, Context
from daix.engine.grouping import group_order
from daix.engine.market import AsOf, PriceGrid
from daix.engine.reference import Reference, UniverseRow
from daix.engine.weighting import weighting_factors, weighting_factors_segments

HOUR = 3_600_000_000_000
TS = pa.timestamp("ns", tz="UTC")


# --- kernels ---------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-3, 3)), max_size=40),
       st.integers(5, 7))
def test_group_order_matches_naive(rows, n_codes):
    codes = np.array([c for c, _ in rows], dtype=np.int64)
    keys = np.array([k for _, k in rows], dtype=np.int64)
    order, starts, ordered = group_order_nb(codes, np.int64(n_codes), keys)
    assert order.tolist() == group_order_naive(codes.tolist(), keys.tolist())
    assert ordered.tolist() == keys[order].tolist()
    assert starts.tolist() == [sum(1 for c in codes if c < k) for k in range(n_codes + 1)]


def test_group_order_by_hand():
    # code 1: rows 0 (key 5), 2 (key 3), 4 (key 5) -> by key: 2, 0, 4 (tie 0 before 4);
    # code 0: rows 1 (key 9), 3 (key 9) -> in row order 1, 3; code 2: none.
    order, starts, ordered = group_order(np.array([1, 0, 1, 0, 1]), 3,
                                         np.array([5, 9, 3, 9, 5]))
    assert order.tolist() == [1, 3, 2, 0, 4]
    assert starts.tolist() == [0, 2, 5, 5]
    assert ordered.tolist() == [9, 9, 3, 5, 5]


def test_group_order_rejects_codes_out_of_range():
    with pytest.raises(ValueError, match="codes must lie in"):
        group_order(np.array([0, 3]), 3, np.array([0, 0]))
    with pytest.raises(ValueError, match="2 codes for 1 keys"):
        group_order(np.array([0, 1]), 3, np.array([0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-5, 5), max_size=6), min_size=1, max_size=5),
       st.integers(-7, 7))
def test_asof_rows_matches_naive(groups, t):
    keys = [k for g in groups for k in sorted(g)]
    starts = np.cumsum([0, *(len(g) for g in groups)])
    got = asof_rows_nb(np.array(keys, dtype=np.int64), starts, np.int64(t))
    assert got.tolist() == asof_rows_naive(keys, starts.tolist(), t)


# --- supply as of an instant (SPEC §3.2, §8.3) -----------------------------------------------
def supply_table(rows, chunks=1):
    table = pa.table({
        "ts": pa.array([r[0] for r in rows], pa.int64()).cast(TS),
        "asset": pa.array([r[1] for r in rows], pa.string()),
        "circulating_supply": pa.array([r[2] for r in rows], pa.float64()),
    })
    if chunks > 1 and table.num_rows:
        size = -(-table.num_rows // chunks)
        table = pa.concat_tables([table.slice(i, size) for i in range(0, table.num_rows, size)])
    return table


def naive_at(rows, key, ts):
    """Latest value of ``key`` at or before ``ts`` (the last such row in a stable time sort;
    a null key is "None" and a null instant comes after every other)."""
    big = 2**63 - 1
    found = [(big if t is None else t, i, v) for i, (t, a, v) in enumerate(rows)
             if (a if a is not None else "None") == key]
    found = [(t, i, v) for t, i, v in sorted(found) if t <= ts]
    return found[-1][2] if found else math.nan


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 6)),
                          st.sampled_from(["B", "A", "C", None]),
                          st.floats(-5, 100, allow_nan=False)), max_size=25),
       st.integers(-1, 7), st.integers(1, 3))
def test_supply_snapshot_is_at_of_every_asset(rows, ts, chunks):
    asof = AsOf.from_table(supply_table(rows, chunks), "asset", "circulating_supply")
    snap = asof.snapshot(ts)
    assert set(snap) == set(asof.times)
    for key in ["A", "B", "C", "None", "D"]:
        expected = naive_at(rows, key, ts)
        assert same(asof.at(key, ts), expected)
        assert same(snap.get(key, math.nan), expected)


def test_supply_by_hand():
    # A: 10 at t=2, 12 at t=5 (rows out of time order); B: 7 at t=4; as of t=4: A 10, B 7;
    # as of t=1: nothing; as of t=9: A 12, B 7.
    asof = AsOf.from_table(supply_table([(5, "A", 12.0), (4, "B", 7.0), (2, "A", 10.0)]),
                           "asset", "circulating_supply")
    assert asof.times["A"].tolist() == [2, 5] and asof.values["A"].tolist() == [10.0, 12.0]
    assert asof.snapshot(4) == {"A": 10.0, "B": 7.0}
    assert all(math.isnan(v) for v in asof.snapshot(1).values())
    assert asof.snapshot(9) == {"A": 12.0, "B": 7.0}
    assert AsOf({}, {}).snapshot(3) == {}
    direct = AsOf({"A": np.array([1, 3])}, {"A": np.array([2.0, 4.0])})
    assert direct.snapshot(3) == {"A": 4.0}  # built without from_table: through at()


# --- fixes of every asset at one instant (SPEC §3.8) -----------------------------------------
def small_context(deletions=None, universe=None, supply=None) -> Context:
    nan = math.nan
    # rows 0..3 = hours 0..3; asset A priced at hours 0 and 2, B at hour 1, C never
    m = np.array([[10.0, nan, nan], [nan, 20.0, nan], [11.0, nan, nan], [nan, nan, nan]])
    grid = PriceGrid(["A", "B", "C"], 0, 4, {"1h": m, "15m": m * 2})
    return Context(grid, Reference(universe=universe, supply=supply, deletions=deletions))


@pytest.mark.parametrize("hour", [-2, 0, 1, 2, 3, 4, 7])
def test_fixes_and_last_fixes_match_the_grid(hour):
    ctx = small_context()
    index = get_index("CUSTOM_TOP20")
    for asset in ["A", "B", "C", "Z"]:
        ts = hour * HOUR
        assert same(ctx.fresh(index, ts, asset), ctx.grid.fresh(index.window, ts, asset))
        assert same(ctx.last(index, ts, asset), ctx.grid.last(index.window, ts, asset))
        for window in ("1h", "15m"):
            assert same(ctx.fixes(window, ts).get(asset, math.nan),
                        ctx.grid.fresh(window, ts, asset))
            assert same(ctx.last_fixes(window, ts).get(asset, math.nan),
                        ctx.grid.last(window, ts, asset))


def test_fixes_by_hand():
    ctx = small_context()
    assert ctx.fixes("1h", 2 * HOUR)["A"] == 11.0
    assert math.isnan(ctx.fixes("1h", 3 * HOUR)["A"])
    assert ctx.last_fixes("1h", 3 * HOUR)["A"] == 11.0  # carried from hour 2
    assert ctx.last_fixes("1h", 9 * HOUR)["B"] == 20.0  # past the end: the last row
    assert ctx.fixes("1h", 4 * HOUR) == {} and ctx.last_fixes("1h", -HOUR) == {}
    assert ctx.fixes("15m", 0)["A"] == 20.0


def test_lookups_kept_are_bounded():
    ctx = small_context(supply=supply_table([(0, "A", 1.0)]))
    for k in range(3 * _KEEP):
        ctx.fixes("1h", k * HOUR)
        ctx.supply_at(k)
    assert len(ctx._memo) == _KEEP
    assert ctx.supply_at(0) == {"A": 1.0}  # recomputed after being dropped


# --- deletions and the review screen (SPEC §3.8, §8.5) ---------------------------------------
def test_deleted_by_is_the_first_deletion_at_or_before_e():
    deletions = pa.table({"ts": pa.array([5, 3, 9], pa.int64()).cast(TS),
                          "asset": pa.array(["A", "A", "B"])})
    ctx = small_context(deletions=deletions)
    naive = {e: {a: next((u for u, x in sorted([(5, "A"), (3, "A"), (9, "B")])
                          if x == a and u <= e), None) for a in "ABC"} for e in range(12)}
    for e in range(12):
        assert {a: ctx.deleted_by(a, e) for a in "ABC"} == naive[e]
    assert ctx.deleted_by("A", 2) is None and ctx.deleted_by("A", 3) == 3
    assert ctx.deleted_by("B", 8) is None and ctx.deleted_by("B", 9) == 9


def test_review_screen_by_hand():
    from daix.calendars import ReviewEvent
    from daix.engine.context import DELETED, NO_PRICE, NO_SUPPLY

    deletions = pa.table({"ts": pa.array([HOUR], pa.int64()).cast(TS), "asset": ["C"]})
    supply = supply_table([(0, "A", 5.0), (0, "B", 0.0), (0, "C", 3.0), (0, "D", 4.0)])
    ctx = small_context(deletions=deletions, supply=supply)
    index = get_index("SELECT10")
    assert index.window == "1h"
    ev = ReviewEvent("select", "2024-01", "review", cutoff=HOUR, price_time=2 * HOUR,
                     close=2 * HOUR, effective=3 * HOUR)
    screen = ctx.review_screen(index, ev)
    # A: supply 5 at the cut-off, 1h fix 11 at hour 2; B: supply 0; C deleted at hour 1 <= E;
    # D: supply 4 but not on the grid; E: no supply row.
    assert screen("A") == (5.0, 11.0) == ctx.review_inputs(index, ev, "A")
    assert ctx.review_screen(get_index("CUSTOM_TOP20"), ev)("A") == (5.0, 22.0)  # 15m fix
    assert screen("B") == NO_SUPPLY and screen("E") == NO_SUPPLY
    assert screen("C") == DELETED
    assert screen("D") == NO_PRICE


# --- universe in force, sectors, ADTV (SPEC §4.2, §5, §8.3, §8.4) ---------------------------
def universe_table(rows):
    names = ["review", "asset", "total_cap", "class", "liquidity_pass", "new_entrant"]
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})


def test_universe_in_force_by_hand():
    ref = Reference(universe=universe_table([
        ("2024-03", "A", True, "benchmark", True, False),
        ("2024-01", "A", False, "benchmark", None, True),
        ("2024-01", "B", True, None, True, False),
        ("2024-03", "B", True, "benchmark", True, False),
    ]))
    jan = {"A": UniverseRow(False, "benchmark", False, True), "B": UniverseRow(True, None, True,
                                                                               False)}
    mar = {"A": UniverseRow(True, "benchmark", True, False),
           "B": UniverseRow(True, "benchmark", True, False)}
    assert ref.universe("2023-06") == jan  # before the first on record: the first
    assert ref.universe("2024-02") == jan
    assert ref.universe("2024-03") == mar == ref.universe("2030-01")
    assert ref.universe_month("2024-02") == "2024-01"
    assert ref.universe("2024-03")["A"] is ref.universe("2024-03")["B"]  # one object per value
    assert Reference().universe("2024-01") == {}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["2024-01", "2024-04", "2023-12"]),
                          st.sampled_from(["A", "B", "C", "D"]), st.booleans(),
                          st.sampled_from(["benchmark", "other"]), st.booleans(),
                          st.booleans()), max_size=20),
       st.sampled_from(["2023-01", "2024-01", "2024-02", "2024-05"]))
def test_universe_matches_a_row_by_row_reading(rows, month):
    ref = Reference(universe=universe_table(rows))
    snapshots: dict[str, dict] = {}
    for r in rows:  # a later row of the same review and asset replaces an earlier one
        snapshots.setdefault(r[0], {})[r[1]] = UniverseRow(r[2], r[3], r[4], r[5])
    months = sorted(snapshots)
    at = [m for m in months if m <= month]
    expected = snapshots[at[-1] if at else months[0]] if months else {}
    assert ref.universe(month) == expected


def test_assets_in_codes_match_the_code_rule():
    assets = pa.table({"asset": ["A", "B", "C", "D", "E"], "name": ["a"] * 5,
                       "sector": ["702010", None, " 701010 ", "", "703010"],
                       "subsector": ["70201025", "70102010", None, "70301010", " "]})
    ref = Reference(assets=assets)
    for codes in [("701010",), ("70102010",), ("702010", "70301010"), ("703010",), ("7",)]:
        expected = set()
        for a in ["A", "B", "C", "D", "E", "Z"]:
            sub = ref.subsector.get(a, "")
            sector = ref.sector.get(a, "") or sub[:6]
            if any((len(c) == 6 and (sector == c or sub[:6] == c))
                   or (len(c) == 8 and sub == c) for c in codes):
                expected.add(a)
        assert ref.assets_in(codes) == expected
        assert {a for a in "ABCDEZ" if ref.in_codes(a, codes)} == expected
    # by hand: D's sector is blank, so its subsector's first six digits 703010 count
    assert ref.assets_in(("703010",)) == {"D", "E"}


def volume_rows():
    # A's dates out of order and split over two chunks; B has one date
    return [("2024-02-05", "A", 500.0), ("2024-02-03", "B", 9.0), ("2024-02-03", "A", 300.0),
            ("2024-02-04", "A", 400.0), ("2024-02-01", "A", 100.0)]


def test_adtv_by_hand():
    rows = volume_rows()
    table = pa.table({"date": pa.array([dt.date.fromisoformat(r[0]) for r in rows]),
                      "asset": [r[1] for r in rows], "volume_usd": [r[2] for r in rows]})
    table = pa.concat_tables([table.slice(0, 2), table.slice(2)])
    ref = Reference(volume=table)
    # A over Feb 2..5: 300, 400, 500 -> mean 400 over 3 days
    assert ref.adtv("A", dt.date(2024, 2, 2), dt.date(2024, 2, 5)) == (400.0, 3)
    # A over Feb 1..3: 100, 300 -> mean 200 over 2 days
    assert ref.adtv("A", dt.date(2024, 2, 1), dt.date(2024, 2, 3)) == (200.0, 2)
    assert ref.adtv("B", dt.date(2024, 2, 3), dt.date(2024, 2, 3)) == (9.0, 1)
    nan, n = ref.adtv("C", dt.date(2024, 2, 1), dt.date(2024, 2, 9))
    assert math.isnan(nan) and n == 0
    assert Reference().adtv("A", dt.date(2024, 2, 1), dt.date(2024, 2, 9))[1] == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["A", "B"]),
                          st.floats(0, 1e9, allow_nan=False)), max_size=30,
                unique_by=lambda r: (r[0], r[1])),
       st.integers(0, 30), st.integers(0, 30))
def test_adtv_matches_the_mean_of_the_dates_in_range(rows, a, b):
    lo, hi = min(a, b), max(a, b)  # an ADTV span is never empty (SPEC §8.4)
    day0 = dt.date(2024, 1, 1)
    table = pa.table({"date": pa.array([day0 + dt.timedelta(days=r[0]) for r in rows],
                                       pa.date32()),
                      "asset": pa.array([r[1] for r in rows], pa.string()),
                      "volume_usd": pa.array([r[2] for r in rows], pa.float64())})
    ref = Reference(volume=table)
    for asset in "AB":
        values = [v for d, a, v in sorted(rows) if a == asset and lo <= d <= hi]
        got, n = ref.adtv(asset, day0 + dt.timedelta(days=lo), day0 + dt.timedelta(days=hi))
        assert n == len(values)
        if values:
            assert got == float(np.mean(np.array(values)))  # NumPy's sum order, in date order
        else:
            assert math.isnan(got)


# --- one basket's weighting factors (SPEC §3.3-§3.4) -----------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1e-3, 1e12), min_size=1, max_size=12),
       st.sampled_from(["market_cap", "equal", "sqrt"]),
       st.sampled_from([None, 0.1, 0.25, 0.4, 1.0]))
def test_one_basket_is_the_segments_call_with_one_segment(mv, scheme, cap):
    one = weighting_factors(mv, scheme, cap=cap)
    seg = weighting_factors_segments(mv, [0, len(mv)], [scheme], [cap])
    assert one.factors.tobytes() == seg.factors.tobytes()
    assert one.weights.tobytes() == seg.weights.tobytes()
    assert one.capped.tolist() == seg.capped.tolist()
    assert one.passes == int(seg.passes[0]) and one.feasible == bool(seg.feasible[0])
