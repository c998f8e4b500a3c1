"""The packed fresh mask (SPEC §3.8) made with the forward fill, and levels computed from it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import ffill_naive, fresh_bits_naive, levels_naive

from daix.engine.levels import (
    Basket,
    compute_levels,
    forward_fill,
    forward_fill_fresh,
    fresh_bits,
    fresh_shape,
)
from daix.engine.market import PriceGrid
from daix.errors import ConfigError

NAN = math.nan
#: Fresh fixes and the values that are no fix (SPEC §3.8: NaN, infinite), with zero and negative
#: prices, which are finite and so count as fixes here (they are screened out upstream).
VALUES = [NAN, math.inf, -math.inf, 0.0, -0.0, -3.5, 1.0, 2.5, 1e300, 5e-324]
COLUMNS = [1, 63, 64, 65, 130]


def _matrix(data, n_rows, n_cols, p_missing):
    """A price matrix of ``VALUES`` (finite values drawn with probability ``1 - p_missing``)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    finite = np.array([v for v in VALUES if math.isfinite(v)])
    missing = np.array([v for v in VALUES if not math.isfinite(v)])
    price = rng.choice(finite, (n_rows, n_cols))
    holes = rng.random((n_rows, n_cols)) < p_missing
    price[holes] = rng.choice(missing, int(holes.sum()))
    return price


def _words(rows, n_rows, n_cols):
    """The naive words as a uint64 array of the packed shape."""
    out = np.zeros(fresh_shape((n_rows, n_cols)), dtype=np.uint64)
    for t, words in enumerate(rows):
        out[t] = np.array(words, dtype=np.uint64)
    return out


def _same(a, b):
    """Equal values and NaN at the same places."""
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_rows=st.integers(0, 300), n_cols=st.sampled_from(COLUMNS),
       p_missing=st.sampled_from([0.0, 0.3, 0.9, 1.0]))
def test_fill_and_mask_equal_naive(data, n_rows, n_cols, p_missing):
    # Rows > 128 fill in several blocks joined afterwards; 63/64/65/130 columns put assets on
    # both sides of a word boundary and leave unused bits in the last word.
    price = _matrix(data, n_rows, n_cols, p_missing)
    before = price.copy()
    filled, bits = forward_fill_fresh(price)
    rows = price.tolist()
    expected_fill = np.array(ffill_naive(rows), dtype=float).reshape(n_rows, n_cols)
    expected_bits = _words(fresh_bits_naive(rows), n_rows, n_cols)
    assert _same(filled, expected_fill)
    assert bits.dtype == np.uint64 and np.array_equal(bits, expected_bits)
    assert np.array_equal(fresh_bits(price), expected_bits)
    assert _same(forward_fill(price), expected_fill)
    assert _same(price, before)  # the prices are read only


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (0, 64), (1, 1)])
def test_empty_and_tiny_matrices(shape):
    # 0 rows: no words; 0 assets: no words per row; 1 x 1 NaN: one word 0.
    price = np.full(shape, NAN)
    filled, bits = forward_fill_fresh(price)
    n_words = (shape[1] + 63) // 64
    assert filled.shape == shape and bits.shape == (shape[0], n_words)
    assert not bits.any() and np.isnan(filled).all()
    assert fresh_bits(price).shape == (shape[0], n_words)


def test_bit_layout_by_hand():
    # Assets 0, 63 (word 0, bits 0 and 63), 64 and 66 (word 1, bits 0 and 2) have a fix.
    price = np.full((2, 67), NAN)
    price[0, [0, 63, 64, 66]] = 1.0
    price[1, 65] = -math.inf  # not a fix
    bits = fresh_bits(price)
    assert bits[0].tolist() == [1 + 2**63, 1 + 4]
    assert bits[1].tolist() == [0, 0]


def test_kernels_take_numpy_outputs():
    from daix.kernels.levels import ffill_fresh_into_nb, fresh_bits_nb

    price = np.array([[1.0, NAN], [NAN, 2.0], [NAN, NAN]])
    out = np.empty_like(price)
    bits = np.empty((3, 1), dtype=np.uint64)
    ffill_fresh_into_nb(price, out, bits)
    # Column 0: 1 carried; column 1: NaN until row 1. Words: 0b01, 0b10, 0.
    assert _same(out, np.array([[1.0, NAN], [1.0, 2.0], [1.0, 2.0]]))
    assert bits[:, 0].tolist() == [1, 2, 0]
    assert fresh_bits_nb(price)[:, 0].tolist() == [1, 2, 0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_rows=st.integers(1, 300), n_cols=st.sampled_from(COLUMNS),
       p_missing=st.sampled_from([0.0, 0.05, 0.5]), step=st.sampled_from([1, 3, 24]),
       chain=st.booleans())
def test_levels_from_given_mask_equal_naive(data, n_rows, n_cols, p_missing, step, chain):
    # Firm / indicative status from the packed mask (SPEC §3.8) over members on both sides of
    # the word boundaries, baskets small (a member at a time) and large (a word at a time).
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    price = rng.uniform(0.5, 2.0, (n_rows, n_cols))
    price[0] = rng.uniform(0.5, 2.0, n_cols)  # every asset priced at E: levels from row 0
    holes = rng.random((n_rows, n_cols)) < p_missing
    holes[0] = False
    price[holes] = rng.choice([NAN, math.inf, -math.inf], int(holes.sum()))
    calc = np.arange(0, n_rows, step, dtype=np.int64)
    baskets = []
    cuts = sorted({0, *rng.integers(0, calc.size, 3).tolist()})
    for k, c in enumerate(cuts):
        size = min(n_cols, int(rng.choice([0, 1, 2, n_cols] if k else [1, 2, n_cols])))
        assets = rng.choice(n_cols, size, replace=False).astype(np.int64)
        units = rng.uniform(0.1, 3.0, size)
        row = int(calc[c])
        if k == 0:
            baskets.append(Basket(row, -1, assets, units))
        elif row + 1 < n_rows:
            baskets.append(Basket(row + 1, row, assets, units))
    filled, bits = forward_fill_fresh(price)
    res = compute_levels(price, [calc], [baskets], [1000.0], [chain], filled=filled,
                         fresh=bits)[0]
    level, divisor, status = levels_naive(price, calc, baskets, 1000.0, chain)
    assert res.status.tolist() == status
    np.testing.assert_allclose(res.level, level, rtol=1e-12)
    np.testing.assert_allclose(res.divisor, divisor, rtol=1e-12)
    alone = compute_levels(price, [calc], [baskets], [1000.0], [chain])[0]
    assert np.array_equal(alone.level, res.level, equal_nan=True)
    assert np.array_equal(alone.status, res.status)


def test_given_mask_is_the_one_used():
    # Asset 1 has no fix at row 1 (indicative there, SPEC §3.8); a mask saying every asset is
    # fresh makes that row firm, the level (from the filled prices) unchanged.
    price = np.array([[100.0, 50.0], [110.0, NAN], [120.0, 60.0]])
    b = [Basket(0, -1, np.array([0, 1]), np.array([1.0, 1.0]))]
    rows = np.array([0, 1, 2])
    own = compute_levels(price, [rows], [b], [1000.0], [False])[0]
    assert own.status.tolist() == [0, 1, 0]
    all_fresh = np.full((3, 1), 3, dtype=np.uint64)
    given_mask = compute_levels(price, [rows], [b], [1000.0], [False], fresh=all_fresh)[0]
    assert given_mask.status.tolist() == [0, 0, 0]
    # d = 150 / 1000; row 1: (110 + 50) / .15.
    np.testing.assert_allclose(given_mask.level, [1000.0, 160 / 0.15, 180 / 0.15], rtol=1e-14)


@pytest.mark.parametrize("fresh, match", [
    (np.zeros((3, 1), dtype=np.int64), "uint64"),
    (np.zeros((3, 2), dtype=np.uint64), r"shape \(3, 1\)"),
    (np.zeros((2, 1), dtype=np.uint64), r"shape \(3, 1\)"),
])
def test_bad_mask_raises_config_error(fresh, match):
    price = np.ones((3, 2))
    b = [Basket(0, -1, np.array([0]), np.array([1.0]))]
    with pytest.raises(ConfigError, match=match):
        compute_levels(price, [np.array([0, 1])], [b], [1000.0], [False], fresh=fresh)


def test_price_grid_keeps_mask_with_fill():
    price = np.array([[1.0, NAN, 3.0], [NAN, 2.0, NAN]])
    grid = PriceGrid(["A", "B", "C"], 0, 2, {"1h": price.copy()})
    bits = grid.fresh_bits("1h")
    # Row 0: A and C fresh (bits 0, 2 = 5); row 1: B (bit 1 = 2).
    assert bits[:, 0].tolist() == [5, 2]
    assert grid.fresh_bits("1h") is bits and grid.filled("1h") is grid._filled["1h"]
    # A change of the matrix drops the fill (as the grid store does); both are made again.
    grid.matrices["1h"][1, 0] = 4.0
    grid._filled.clear()
    assert grid.fresh_bits("1h")[:, 0].tolist() == [5, 3]
    assert grid.filled("1h")[1].tolist() == [4.0, 2.0, 3.0]
