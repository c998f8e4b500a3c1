"""Index levels on an hourly grid (SPEC §3.1, §3.5-§3.8, §8.5)."""

from __future__ import annotations

import numpy as np
import pytest
from naive import ffill_naive, levels_naive

from daix.engine.levels import Basket, compute_levels, forward_fill
from daix.errors import ConfigError

NAN = np.nan


def basket(start, link, assets, units):
    return Basket(start, link, np.asarray(assets, np.int64), np.asarray(units, float))


def run(price, calc_rows, baskets, base=1000.0, chain=False):
    price = np.asarray(price, float)
    return compute_levels(price, [np.asarray(calc_rows)], [baskets], [base], [chain])[0]


# Three assets A, B, C; rows 0..4.
PRICES = [
    [100.0, 50.0, 10.0],
    [110.0, 55.0, 10.0],
    [120.0, 40.0, 20.0],  # row 2 = C of the rebalance below
    [130.0, 40.0, 25.0],
    [130.0, 50.0, 25.0],
]


@pytest.mark.parametrize("chain", [False, True])
def test_first_basket_gives_base_value_at_e(chain):
    # SPEC §3.5: E = row 1; MV(E) = 110*1 + 55*2 = 220, d = 220/1000 = .22, I(E) = 1000.
    # Row 0 is before E: no level. Row 2: (120 + 80) / .22 = 909.0909...
    res = run(PRICES, [0, 1, 2], [basket(1, -1, [0, 1], [1, 2])], chain=chain)
    assert np.isnan(res.level[0]) and res.status[0] == -1
    assert res.level[1] == 1000.0
    np.testing.assert_allclose(res.level[2], 200 / 0.22, rtol=1e-14)
    np.testing.assert_allclose(res.divisor[1:], [0.22, 0.22], rtol=1e-14)
    assert res.status[1:].tolist() == [0, 0]


@pytest.mark.parametrize("chain", [False, True])
def test_divisor_continuity_at_rebalance(chain):
    # Basket 0 (E = 0): A x1, B x2: MV(0) = 200, d = .2; I(1) = 220/.2 = 1100; I(2) = 200/.2.
    # Basket 1 from row 3, C = row 2: B x1, C x4. MV_new(C) = 40 + 80 = 120, MV_old(C) = 200,
    # d_new = .2 * 120/200 = .12, so I(C) = 120/.12 = 1000 under both baskets (SPEC §3.5).
    # Row 3: (40 + 100)/.12 = 1166.67; row 4: (50 + 100)/.12 = 1250.
    b0 = basket(0, -1, [0, 1], [1, 2])
    b1 = basket(3, 2, [1, 2], [1, 4])
    res = run(PRICES, [0, 1, 2, 3, 4], [b0, b1], chain=chain)
    np.testing.assert_allclose(res.level, [1000, 1100, 1000, 140 / 0.12, 1250], rtol=1e-14)
    np.testing.assert_allclose(res.divisor, [0.2, 0.2, 0.2, 0.12, 0.12], rtol=1e-14)
    assert res.status.tolist() == [0] * 5


def test_deletion_keeps_s_f_and_shares_weight_pro_rata():
    # SPEC §3.7: at C = row 2 asset C (x4) leaves; A x1 and B x2 keep their units.
    # MV_old(C) = 120 + 80 + 80 = 280, MV_new(C) = 200; d0 = MV(0)/1000 = (100+100+40)/1000.
    # d_new = .24 * 200/280; I(C) = 280/.24 = 1166.67 under both.
    b0 = basket(0, -1, [0, 1, 2], [1, 2, 4])
    b1 = basket(3, 2, [0, 1], [1, 2])
    res = run(PRICES, [0, 2, 3], [b0, b1])
    d_new = 0.24 * 200 / 280
    np.testing.assert_allclose(res.divisor, [0.24, 0.24, d_new], rtol=1e-14)
    np.testing.assert_allclose(res.level[1], 280 / 0.24, rtol=1e-14)
    np.testing.assert_allclose(200 / d_new, 280 / 0.24, rtol=1e-14)
    # At C, A and B weighed 120/280 and 80/280; after, 120/200 and 80/200: ratio 3:2 kept.
    np.testing.assert_allclose(res.level[2], (130 + 80) / d_new, rtol=1e-14)


def test_missing_price_is_carried_and_indicative():
    # SPEC §3.8: B has no fix at rows 1-2 (one "day" of calculation times); its last price 50
    # is carried and those levels are indicative; row 3 is firm again.
    # d = (100 + 50)/1000 = .15: levels 150/.15, 160/.15, 170/.15, 180/.15.
    price = [[100, 50], [110, NAN], [120, NAN], [130, 50]]
    res = run(price, [0, 1, 2, 3], [basket(0, -1, [0, 1], [1, 1])])
    np.testing.assert_allclose(res.level, [1000, 160 / 0.15, 170 / 0.15, 1200], rtol=1e-14)
    assert res.status.tolist() == [0, 1, 1, 0]


def test_infinite_price_counts_as_no_fix():
    price = [[100, 50], [110, np.inf], [120, 50]]
    res = run(price, [0, 1, 2], [basket(0, -1, [0, 1], [1, 1])])
    np.testing.assert_allclose(res.level, [1000, 160 / 0.15, 170 / 0.15], rtol=1e-14)
    assert res.status.tolist() == [0, 1, 0]


def test_member_never_priced_gives_no_level():
    price = [[100, NAN], [110, NAN], [120, 60]]
    res = run(price, [0, 1, 2], [basket(0, -1, [0], [1]), basket(2, 1, [0, 1], [1, 1])])
    np.testing.assert_allclose(res.level[:2], [1000, 1100], rtol=1e-14)
    # At C = row 1, B has never been priced: MV_new(C) is NaN, so no level (status -1).
    assert np.isnan(res.level[2]) and res.status[2] == -1


@pytest.mark.parametrize("chain", [False, True])
def test_suspension_and_resume_from_last_level(chain):
    # SPEC §8.5: A alone from row 0 (d = 100/1000 = .1); a deletion empties the basket from
    # row 2 (C = row 1, I(1) = 120/.1 = 1200); rows 2-3 have no level. The review basket B x3
    # starts at row 4 with C = row 3: d = MV_new(C)/L_last = 3*40/1200 = .1, so
    # I(4) = 3*50/.1 = 1500.
    price = [[100, 30], [120, 35], [90, 38], [95, 40], [99, 50]]
    baskets = [basket(0, -1, [0], [1]), basket(2, 1, [], []), basket(4, 3, [1], [3])]
    res = run(price, [0, 1, 2, 3, 4], baskets, chain=chain)
    np.testing.assert_allclose(res.level[[0, 1, 4]], [1000, 1200, 1500], rtol=1e-14)
    assert np.isnan(res.level[2:4]).all()
    assert res.status.tolist() == [0, 0, -1, -1, 0]
    np.testing.assert_allclose(res.divisor[4], 0.1, rtol=1e-14)


def test_index_starting_empty_starts_at_base_when_first_filled():
    # No level was ever published: the first non-empty basket starts at the base value at its
    # start row (E = 2): d = 2*38/100.
    price = [[100, 30], [120, 35], [90, 38], [95, 40]]
    res = run(price, [0, 1, 2, 3], [basket(0, -1, [], []), basket(2, 1, [1], [2])], base=100)
    assert res.status.tolist() == [-1, -1, 0, 0]
    np.testing.assert_allclose(res.level[2:], [100, 100 * 40 / 38], rtol=1e-14)


@pytest.mark.parametrize("chain", [False, True])
def test_calc_rows_need_not_hit_e_or_c(chain):
    # E = 1 is not a calculation row: I(E) would be 1000, so I(2) = 1000 * MV(2)/MV(1).
    res = run(PRICES, [0, 2], [basket(1, -1, [0], [1])], chain=chain)
    assert np.isnan(res.level[0])
    np.testing.assert_allclose(res.level[1], 1000 * 120 / 110, rtol=1e-14)


def random_prices(rng, n_rows, n_assets, p_nan=0.05, priced_at_start=True):
    """Random walks with holes; optionally a third of the assets start trading later."""
    steps = rng.normal(0, 0.02, (n_rows, n_assets))
    price = np.exp(np.cumsum(steps, axis=0)) * rng.uniform(1, 1000, n_assets)
    price[1:][rng.random((n_rows - 1, n_assets)) < p_nan] = NAN
    if not priced_at_start:
        for a in rng.choice(n_assets, n_assets // 3, replace=False):
            price[: rng.integers(0, n_rows // 2), a] = NAN
    return price


def random_history(rng, n_rows, n_assets, n_baskets, calc_step, p_nan=0.05, p_empty=0.1,
                   priced_at_start=True, price=None):
    """Prices (drawn unless given), sorted calc rows and linked baskets (C is a calc row)."""
    if price is None:
        price = random_prices(rng, n_rows, n_assets, p_nan, priced_at_start)
    if calc_step == 0:
        calc = np.sort(rng.choice(n_rows, max(n_baskets + 2, n_rows // 3), replace=False))
    else:
        calc = np.arange(int(rng.integers(0, calc_step)), n_rows, calc_step)
    positions = np.sort(rng.choice(np.arange(1, calc.size), min(n_baskets, calc.size - 1) - 1,
                                   replace=False))
    # Like the engine, a basket only holds assets priced at its E or C (SPEC §3.8).
    finite = np.isfinite(price)
    first_priced = np.where(finite.any(axis=0), finite.argmax(axis=0), n_rows)
    out = []
    for k in range(positions.size + 1):
        ref = int(calc[0]) if k == 0 else int(calc[positions[k - 1]])
        eligible = np.flatnonzero(first_priced <= ref)
        size = int(rng.integers(1, min(eligible.size, 12) + 1)) if eligible.size else 0
        if k > 0 and rng.random() < p_empty:
            size = 0
        assets = rng.choice(eligible, size, replace=False)
        units = rng.uniform(0.1, 5.0, size)
        if k == 0:
            out.append(basket(ref, -1, assets, units))
        else:
            out.append(basket(ref + 1, ref, assets, units))
    return price, calc, out


def test_chain_linked_equals_divisor_form_on_long_history():
    # SPEC §3.6 demands this: the chain-linked form agrees with §3.5 to 1e-12 relative.
    rng = np.random.default_rng(36)
    n_rows, n_assets = 20_000, 30
    price, hourly, baskets = random_history(rng, n_rows, n_assets, 80, 1, p_empty=0.05)
    daily = np.unique(np.r_[hourly[::24], [b.link_row for b in baskets[1:]], hourly[0]])
    res = compute_levels(price, [hourly, hourly, daily, daily], [baskets] * 4,
                         [1000.0] * 4, [False, True, False, True])
    assert any(b.assets.size == 0 for b in baskets)
    for div_form, chain_form in ((res[0], res[1]), (res[2], res[3])):
        assert np.array_equal(div_form.status, chain_form.status)
        ok = div_form.status >= 0
        assert ok.sum() > 0.5 * ok.size
        np.testing.assert_allclose(chain_form.level[ok], div_form.level[ok], rtol=1e-12)
        np.testing.assert_allclose(chain_form.divisor[ok], div_form.divisor[ok], rtol=1e-12)
        assert np.isnan(chain_form.level[~ok]).all()


@pytest.mark.parametrize("seed", range(16))
def test_kernel_equals_naive_reference(seed):
    # Seeds 12-15 use 65-200 assets: several words of fresh bits (SPEC §3.8 check).
    rng = np.random.default_rng(seed)
    n_rows = int(rng.integers(300, 700))
    n_assets = int(rng.integers(2, 9)) if seed < 12 else int(rng.integers(65, 201))
    price = random_prices(rng, n_rows, n_assets, float(rng.choice([0.0, 0.1, 0.5])),
                          priced_at_start=bool(seed % 2))
    histories = [
        random_history(rng, n_rows, n_assets, int(rng.integers(1, 8)), step, p_empty=0.25,
                       price=price)[1:]
        for step in (0, 1, 5, 24)
    ]
    chains = [bool(rng.random() < 0.5) for _ in histories]
    bases = [float(rng.choice([100.0, 1000.0])) for _ in histories]
    res = compute_levels(price, [h[0] for h in histories], [h[1] for h in histories], bases,
                         chains)
    for (calc, baskets), r, chain, base in zip(histories, res, chains, bases, strict=True):
        lv, dv, st = levels_naive(price, calc, baskets, base, chain)
        assert r.status.tolist() == st
        np.testing.assert_allclose(r.level, lv, rtol=1e-12)
        np.testing.assert_allclose(r.divisor, dv, rtol=1e-12)
        np.testing.assert_array_equal(r.rows, calc)


def test_many_indices_in_one_call_equal_one_by_one():
    rng = np.random.default_rng(5)
    price = random_prices(rng, 1500, 10)
    histories = [random_history(rng, 1500, 10, 6, step, price=price)[1:]
                 for step in (1, 24, 1, 7, 0, 3)]
    chains = [False, True, True, False, False, True]
    together = compute_levels(price, [h[0] for h in histories], [h[1] for h in histories],
                              [1000.0] * 6, chains)
    for h, r, chain in zip(histories, together, chains, strict=True):
        alone = compute_levels(price, [h[0]], [h[1]], [1000.0], [chain])[0]
        np.testing.assert_array_equal(r.level, alone.level)
        np.testing.assert_array_equal(r.status, alone.status)


def test_thread_count_does_not_change_results():
    import numba

    rng = np.random.default_rng(9)
    price = random_prices(rng, 2000, 150)
    histories = [random_history(rng, 2000, 150, 9, step, price=price)[1:] for step in (1, 24, 3)]
    args = (price, [h[0] for h in histories], [h[1] for h in histories], [1000.0] * 3,
            [False, True, False])
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = compute_levels(*args)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, compute_levels(*args), strict=True):
        np.testing.assert_array_equal(a.level, b.level)
        np.testing.assert_array_equal(a.divisor, b.divisor)
        np.testing.assert_array_equal(a.status, b.status)
    assert np.isfinite(one[0].level).sum() > 1000


def test_forward_fill_matches_naive():
    from daix.kernels.levels import ffill_nb

    rng = np.random.default_rng(3)
    price = rng.uniform(1, 2, (2000, 70))  # filled in row blocks of ~64 rows, then joined
    price[rng.random(price.shape) < 0.4] = NAN
    price[:50, 3] = NAN
    price[100:900, 6] = NAN  # a gap across many blocks is carried from row 99
    price[:, 7] = NAN  # never priced
    price[5, 4] = np.inf
    expected = np.array(ffill_naive(price.tolist()))
    np.testing.assert_array_equal(forward_fill(price), expected)
    np.testing.assert_array_equal(ffill_nb(price), expected)
    assert np.isfinite(expected[99, 6]) and (expected[100:900, 6] == expected[99, 6]).all()


def test_kernel_entry_point_equals_wrapper():
    from daix.kernels.levels import levels_nb

    rng = np.random.default_rng(4)
    price, calc, baskets = random_history(rng, 800, 12, 6, 1)
    wrapped = compute_levels(price, [calc], [baskets], [1000.0], [True])[0]
    m_off = np.r_[0, np.cumsum([b.assets.size for b in baskets])].astype(np.int64)
    level, divisor, status = levels_nb(
        forward_fill(price), price, np.array([0, calc.size]), calc,
        np.array([0, len(baskets)]), np.array([b.start_row for b in baskets]),
        np.array([b.link_row for b in baskets]), m_off,
        np.concatenate([b.assets for b in baskets]).astype(np.int64),
        np.concatenate([b.units for b in baskets]), np.array([1000.0]), np.array([True]))
    np.testing.assert_array_equal(level, wrapped.level)
    np.testing.assert_array_equal(divisor, wrapped.divisor)
    np.testing.assert_array_equal(status, wrapped.status)


def test_precomputed_filled_is_used():
    price = np.asarray(PRICES)
    filled = forward_fill(price)
    a = run(PRICES, [0, 1, 2], [basket(0, -1, [0, 1], [1, 2])])
    b = compute_levels(price, [np.array([0, 1, 2])], [[basket(0, -1, [0, 1], [1, 2])]],
                       [1000.0], [False], filled=filled)[0]
    np.testing.assert_array_equal(a.level, b.level)


def test_no_indices():
    assert compute_levels(np.ones((3, 2)), [], [], [], []) == []


def test_index_without_baskets_or_rows():
    # No basket: no level at any row (status -1); no calculation rows: empty results.
    b = [basket(0, -1, [0], [1])]
    res = compute_levels(np.asarray(PRICES), [np.array([0, 1]), np.array([], np.int64),
                                              np.array([0, 4])], [[], b, b], [1000.0] * 3,
                         [False] * 3)
    assert np.isnan(res[0].level).all() and res[0].status.tolist() == [-1, -1]
    assert res[1].level.size == 0
    np.testing.assert_allclose(res[2].level, [1000, 1300], rtol=1e-14)


@pytest.mark.parametrize(
    ("calc", "baskets", "match"),
    [
        ([0, 2, 1], [basket(0, -1, [0], [1])], "strictly increasing"),
        ([0, 9], [basket(0, -1, [0], [1])], r"\[0, 5\)"),
        ([0, 1], [basket(0, 0, [0], [1])], "link_row -1"),
        ([0, 1], [basket(0, -1, [0], [1]), basket(2, 2, [1], [1])], "link_row"),
        ([0, 1], [basket(2, -1, [0], [1]), basket(1, 0, [1], [1])], "time order"),
        ([0, 1], [basket(0, -1, [0, 0], [1, 1])], "twice"),
        ([0, 1], [basket(0, -1, [3], [1])], "not a price column"),
        ([0, 1], [Basket(0, -1, np.array([0.0]), np.array([1.0]))], "integer"),
        ([0, 1], [basket(0, -1, [0], [-1])], "non-negative"),
        ([0, 1], [basket(0, -1, [0, 1], [1])], "units"),
        ([0, 1], [basket(7, -1, [0], [1])], "outside the grid"),
    ],
)
def test_bad_arguments_raise_config_error(calc, baskets, match):
    with pytest.raises(ConfigError, match=match):
        run(PRICES, calc, baskets)


def test_rows_are_checked_per_index():
    # Rows may go back in time from one index to the next, not within one (index 1 here).
    b = [basket(0, -1, [0], [1])]
    price = np.asarray(PRICES)
    ok = compute_levels(price, [np.array([3, 4]), np.array([0, 1]), np.array([], np.int64)],
                        [b, b, b], [1000.0] * 3, [False] * 3)
    assert [r.level.size for r in ok] == [2, 2, 0]
    with pytest.raises(ConfigError, match="index 1: calculation rows must be strictly"):
        compute_levels(price, [np.array([3, 4]), np.array([1, 1])], [b, b], [1000.0] * 2,
                       [False] * 2)


def test_bad_shapes_raise_config_error():
    price = np.asarray(PRICES)
    b = [[basket(0, -1, [0], [1])]]
    with pytest.raises(ConfigError, match="2-d"):
        compute_levels(price[0], [np.array([0])], b, [1000.0], [False])
    with pytest.raises(ConfigError, match="base values"):
        compute_levels(price, [np.array([0])], b, [0.0], [False])
    with pytest.raises(ConfigError, match="filled"):
        compute_levels(price, [np.array([0])], b, [1000.0], [False], filled=price[:2])
    with pytest.raises(ConfigError, match="basket lists"):
        compute_levels(price, [np.array([0])], [], [1000.0], [False])
