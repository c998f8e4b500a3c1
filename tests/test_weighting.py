"""Weighting factors from target weights (SPEC §3.3, capping §3.4)."""

from __future__ import annotations

import numpy as np
import pytest
from naive import weighting_factors_naive

from daix.engine.weighting import weighting_factors, weighting_factors_segments
from daix.errors import ConfigError


def test_equal_weighting_by_hand():
    # MV {400, 100}: W {.8, .2}; target {.5, .5}; f = target / W = {.625, 2.5} -> / 2.5.
    res = weighting_factors([400.0, 100.0], "equal")
    np.testing.assert_allclose(res.factors, [0.25, 1.0], rtol=1e-15)
    np.testing.assert_allclose(res.weights, [0.5, 0.5], rtol=1e-15)
    assert res.factors.max() == 1.0
    assert (res.passes, res.feasible) == (0, True)


def test_square_root_weighting_by_hand():
    # sqrt(MV) {20, 10}: target {20/30, 10/30}; f = {(2/3)/.8, (1/3)/.2} = {.8333, 1.6667}
    # -> scaled by 1/1.6667: {.5, 1}.
    res = weighting_factors([400.0, 100.0], "sqrt")
    np.testing.assert_allclose(res.weights, [2 / 3, 1 / 3], rtol=1e-15)
    np.testing.assert_allclose(res.factors, [0.5, 1.0], rtol=1e-15)
    assert res.factors.max() == 1.0


def test_market_cap_uncapped_factors_are_exactly_one():
    res = weighting_factors([3.0, 2.0, 1.0], "market_cap")
    assert res.factors.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(res.weights, [0.5, 1 / 3, 1 / 6], rtol=1e-15)


def test_market_cap_with_40_percent_cap_by_hand():
    # MV {600, 300, 100}: W {.6, .3, .1}. Cap .4: pass 1: a -> .4, excess .2 over b,c (.4),
    # x1.5 -> b .45, c .15; pass 2: b -> .4, excess .05 over c -> .2. Targets {.4, .4, .2}.
    # f = {.4/.6, .4/.3, .2/.1} = {2/3, 4/3, 2} -> / 2 = {1/3, 2/3, 1}.
    res = weighting_factors([600.0, 300.0, 100.0], "market_cap", cap=0.4)
    np.testing.assert_allclose(res.weights, [0.4, 0.4, 0.2], rtol=1e-14)
    np.testing.assert_allclose(res.factors, [1 / 3, 2 / 3, 1.0], rtol=1e-14)
    assert res.capped.tolist() == [True, True, False]
    assert (res.passes, res.feasible) == (2, True)
    assert res.factors[2] == 1.0
    # The capped weights are what s*f*p gives back at the review prices.
    w = res.factors * np.array([600.0, 300.0, 100.0])
    np.testing.assert_allclose(w / w.sum(), [0.4, 0.4, 0.2], rtol=1e-14)


def test_infeasible_cap_equal_weights():
    # 2 members at 40%: 2 * .4 < 1, so each gets 1/2 (SPEC §3.4); f ∝ 1/MV.
    res = weighting_factors([300.0, 100.0], "market_cap", cap=0.4)
    np.testing.assert_allclose(res.weights, [0.5, 0.5])
    np.testing.assert_allclose(res.factors, [1 / 3, 1.0], rtol=1e-15)
    assert res.feasible is False


@pytest.mark.parametrize("scheme", ["market_cap", "equal", "sqrt"])
@pytest.mark.parametrize("cap", [None, 0.3, 0.1])
def test_segments_match_single_baskets_and_naive(scheme, cap):
    rng = np.random.default_rng(11)
    baskets = [rng.lognormal(18, 2, n) for n in (1, 4, 12, 30)]
    offsets = np.r_[0, np.cumsum([b.size for b in baskets])]
    res = weighting_factors_segments(np.concatenate(baskets), offsets, [scheme] * 4,
                                     [cap] * 4)
    for s, mv in enumerate(baskets):
        lo, hi = offsets[s], offsets[s + 1]
        single = weighting_factors(mv, scheme, cap)
        np.testing.assert_array_equal(res.factors[lo:hi], single.factors)
        f, target, capped, passes, feasible = weighting_factors_naive(list(mv), scheme, cap)
        np.testing.assert_allclose(single.factors, f, rtol=1e-12)
        np.testing.assert_allclose(single.weights, target, rtol=1e-12, atol=1e-15)
        assert single.capped.tolist() == capped
        assert (single.passes, single.feasible) == (passes, feasible)
        # SPEC §3.3: the largest factor is exactly 1.
        assert single.factors.max() == 1.0


def test_mixed_schemes_in_one_call():
    mv = [400.0, 100.0, 400.0, 100.0, 600.0, 300.0, 100.0]
    res = weighting_factors_segments(mv, [0, 2, 4, 7], ["equal", "sqrt", "market_cap"],
                                     [None, None, 0.4])
    np.testing.assert_allclose(res.factors, [0.25, 1, 0.5, 1, 1 / 3, 2 / 3, 1], rtol=1e-14)
    assert res.passes.tolist() == [0, 0, 2]


@pytest.mark.parametrize(
    ("mv", "scheme", "match"),
    [
        ([1.0, 0.0], "equal", "positive"),
        ([1.0, -2.0], "equal", "positive"),
        ([1.0, np.nan], "sqrt", "finite"),
        ([1.0, 2.0], "cubic", "unknown weighting scheme"),
    ],
)
def test_bad_input_raises_config_error(mv, scheme, match):
    with pytest.raises(ConfigError, match=match):
        weighting_factors(mv, scheme)
