"""Properties of the fixes (SPEC §2, §8.1) on hypothesis-generated small inputs.

Inputs mix a few assets, exchanges and quotes over a few hours, with NaN, zero and negative
prices and sizes, ties, trades exactly on bucket edges, trades before the first FX row and an
optional vetted-exchange list.
"""

from __future__ import annotations

import math
import random

import naive
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fixes import (
    T0,
    WINDOWS,
    H,
    M,
    assert_rows_match,
    result_rows,
    tables,
    trades_table,
)

from daix.fixes import compute_fixes

START, END = T0, T0 + 3 * H
PED = 0.05
_PRICES = [1.0, 1.01, 1.02, 1.1, 1.2, 2.0, 100.0]
_BAD = [math.nan, 0.0, -1.0, math.inf]
_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@st.composite
def trade_sets(draw, max_trades: int = 40):
    """(trades, fx rows, exchanges or None), trades as naive tuples."""
    n = draw(st.integers(0, max_trades))
    edge = st.integers(-6, 14).map(lambda k: T0 + k * 15 * M)  # bucket edges, -1h30 .. 3h30
    near = st.tuples(edge, st.sampled_from([0, 1, -1, 7 * M, 14 * M + 59_999_999_999]))
    trades = []
    for _ in range(n):
        ts = sum(draw(near))
        price = draw(st.one_of(st.sampled_from(_PRICES), st.sampled_from(_BAD),
                               st.floats(0.5, 3.0))) if draw(st.integers(0, 9)) else math.nan
        size = draw(st.one_of(st.sampled_from([0.5, 1.0, 2.0, 3.0]),
                              st.sampled_from(_BAD), st.floats(0.1, 10.0)))
        trades.append((ts, draw(st.sampled_from("AB")), draw(st.sampled_from("wxyz")),
                       draw(st.sampled_from(["USD", "EUR", "USDT"])), price, size))
    fx = [(T0 + draw(st.integers(-8, 10)) * 15 * M, "EUR", draw(st.sampled_from([1.25, 0.5,
                                                                                   1.0])))
          for _ in range(draw(st.integers(1, 3)))]
    fx += [(T0 - 2 * H, "USDT", 1.0), (T0 + draw(st.integers(0, 10)) * 15 * M, "USDT", 0.5)]
    fx = sorted({(t, c): r for t, c, r in fx}.items())
    fx = [(t, c, r) for (t, c), r in fx]
    exchanges = None
    if draw(st.booleans()):
        exchanges = []
        for ex in draw(st.lists(st.sampled_from("wxyz"), unique=True, max_size=4)):
            lo = draw(st.one_of(st.none(), edge))
            hi = draw(st.one_of(st.none(), edge))
            if lo is not None and hi is not None and lo >= hi:
                lo, hi = hi - 15 * M, lo + 15 * M
            exchanges.append((ex, lo, hi))
    return trades, fx, exchanges


def _run(trades, fx, exchanges, **kw):
    return compute_fixes(tables(trades, fx, exchanges), START, END, ped=PED, **kw)


@_SETTINGS
@given(trade_sets())
def test_kernel_matches_naive(case):
    trades, fx, exchanges = case
    result = _run(trades, fx, exchanges)
    ref = naive.fixes_naive(trades, fx, naive.fix_grid_naive(START, END, H), WINDOWS, ped=PED,
                            exchanges=exchanges)
    assert_rows_match(result_rows(result.table), ref["rows"])
    assert result.report["rejected"] == ref["rejected"]
    assert result.report["trades_read"] == len(trades)


def _kept_prices(trades, fx, exchanges, asset, fix_time, width):
    """USD prices of the trades of the markets the screen keeps (SPEC §2.4), for bounds."""
    markets: dict = {}
    for t in trades:
        if t[1] != asset or not (fix_time - width <= t[0] < fix_time):
            continue
        if naive._reject_reason_naive(t, fx, exchanges) is not None:
            continue
        usd = t[4] * naive._usd_per_unit_naive(fx, t[3], t[0])
        markets.setdefault((t[2], t[3]), []).append((usd, t[5]))
    vwap = {k: sum(p * s for p, s in v) / sum(s for _, s in v) for k, v in markets.items()}
    keep = list(markets)
    if len(keep) >= 3:
        values = sorted(vwap.values())
        mid = len(values) // 2
        med = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        keep = [k for k in keep if abs(vwap[k] / med - 1.0) <= PED]
    return [p for k in keep for p, _ in markets[k]]


@_SETTINGS
@given(trade_sets())
def test_fix_within_kept_trade_prices(case):
    trades, fx, exchanges = case
    result = _run(trades, fx, exchanges)
    checked = 0
    for ts, asset, window, price, *_rest, stale in result_rows(result.table):
        if stale:
            continue
        prices = _kept_prices(trades, fx, exchanges, asset, ts, WINDOWS[window])
        assert prices, (ts, asset, window)
        assert min(prices) * (1 - 1e-12) <= price <= max(prices) * (1 + 1e-12)
        checked += 1
    assert checked == result.table.num_rows - result.report["stale_fixes"]


@_SETTINGS
@given(trade_sets(), st.randoms(use_true_random=False))
def test_permutation_changes_nothing(case, rnd: random.Random):
    trades, fx, exchanges = case
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    a = result_rows(_run(trades, fx, exchanges).table)
    b = result_rows(_run(shuffled, fx, exchanges).table)
    assert_rows_match(b, a)


@_SETTINGS
@given(trade_sets(), st.integers(0, 40))
def test_split_into_two_batches_changes_nothing(case, cut):
    trades, fx, exchanges = case
    cut = min(cut, len(trades))
    whole = _run(trades, fx, exchanges)
    table = trades_table(trades)
    two = pa.Table.from_batches(
        [b for part in (table.slice(0, cut), table.slice(cut)) for b in part.to_batches()
         if b.num_rows] or table.to_batches(), schema=table.schema)
    data = tables(trades, fx, exchanges)
    data["trades"] = two
    split = compute_fixes(data, START, END, ped=PED)
    assert split.table.equals(whole.table)  # bit for bit
    assert split.report["rejected"] == whole.report["rejected"]


@pytest.mark.parametrize("rows", [1, 3])
def test_batch_rows_bit_identical_on_a_larger_input(rows):
    rnd = random.Random(7)
    trades = [(T0 + rnd.randrange(-H, 3 * H), rnd.choice("AB"), rnd.choice("wxyz"),
               rnd.choice(["USD", "EUR"]), rnd.uniform(1.0, 1.1), rnd.uniform(0.1, 5.0))
              for _ in range(400)]
    fx = [(T0 - 2 * H, "EUR", 1.1)]
    whole = _run(trades, fx, None)
    batched = _run(trades, fx, None, batch_rows=rows)
    assert batched.table.equals(whole.table)
    assert whole.report["trades_used"] > 300
