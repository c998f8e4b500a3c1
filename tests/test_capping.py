"""Iterative weight capping (SPEC §3.4): hand examples, edge cases, naive reference, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import cap_weights_naive

import daix
from daix.engine.weighting import cap_weight_segments, cap_weights
from daix.errors import ConfigError


def one(weights, cap):
    res = cap_weight_segments(weights, [0, len(weights)], [cap])
    return res.weights, int(res.passes[0]), res.capped, bool(res.feasible[0])


def test_hand_example_two_passes():
    # SPEC §3.4 at c = 0.3 on {a .3, b .1, c .05, d .05, e .5}:
    # pass 1: e -> .3, excess .2 over a,b,c,d (sum .5), x1.4 -> a .42, b .14, c .07, d .07;
    # pass 2: a -> .3, excess .12 over b,c,d (sum .28), x(1 + .12/.28) -> b .2, c .1, d .1.
    w, passes, capped, feasible = one([0.3, 0.1, 0.05, 0.05, 0.5], 0.3)
    np.testing.assert_allclose(w, [0.3, 0.2, 0.1, 0.1, 0.3], rtol=0, atol=1e-15)
    assert passes == 2
    assert capped.tolist() == [True, False, False, False, True]
    assert feasible


def test_hand_example_one_pass():
    # {.5, .3, .2} at .4: a -> .4, excess .1 over .5, x1.2 -> .36, .24; nothing else exceeds.
    w, passes, capped, feasible = one([0.5, 0.3, 0.2], 0.4)
    np.testing.assert_allclose(w, [0.4, 0.36, 0.24], rtol=0, atol=1e-15)
    assert passes == 1
    assert capped.tolist() == [True, False, False]
    assert feasible


def test_public_wrapper_and_package_export():
    expected = [0.3, 0.2, 0.1, 0.1, 0.3]
    np.testing.assert_allclose(cap_weights([0.3, 0.1, 0.05, 0.05, 0.5], 0.3), expected,
                               atol=1e-15)
    # Weights are normalised to sum 1 first: the same basket x10 gives the same result.
    np.testing.assert_allclose(daix.cap_weights([3, 1, 0.5, 0.5, 5], 0.3), expected, atol=1e-15)


def test_weight_exactly_at_cap_is_not_capped():
    # {.4, .3, .3} at .4: .4 is not above .4*(1+1e-12): no pass at all.
    w, passes, capped, _ = one([0.4, 0.3, 0.3], 0.4)
    np.testing.assert_allclose(w, [0.4, 0.3, 0.3], atol=1e-15)
    assert passes == 0
    assert not capped.any()


def test_weight_at_cap_takes_its_share_then_is_capped():
    # {.5, .4, .1} at .4: pass 1 caps only a (b is exactly at the cap), excess .1 over b,c
    # (sum .5), x1.2 -> b .48, c .12; pass 2: b -> .4, excess .08 over c -> c .2.
    w, passes, capped, _ = one([0.5, 0.4, 0.1], 0.4)
    np.testing.assert_allclose(w, [0.4, 0.4, 0.2], atol=1e-15)
    assert passes == 2
    assert capped.tolist() == [True, True, False]


def test_infeasible_cap_gives_equal_weights():
    # N*c = 3 * .3 = .9 < 1: the cap cannot hold; every member 1/3, no pass.
    w, passes, capped, feasible = one([0.7, 0.2, 0.1], 0.3)
    np.testing.assert_allclose(w, [1 / 3] * 3, atol=1e-15)
    assert (passes, feasible) == (0, False)
    assert not capped.any()


def test_cap_exactly_one_over_n_is_feasible():
    # N*c = 4 * .25 = 1: feasible; pass 1 caps a (excess .45 over .3, x2.5 -> .25 each).
    w, passes, _, feasible = one([0.7, 0.1, 0.1, 0.1], 0.25)
    np.testing.assert_allclose(w, [0.25] * 4, atol=1e-15)
    assert feasible
    assert passes == 1


def test_one_member():
    # One member has weight 1: feasible only with a cap of 1 (1*c < 1 otherwise).
    assert one([5.0], 1.0)[0].tolist() == [1.0]
    w, passes, _, feasible = one([5.0], 0.4)
    assert w.tolist() == [1.0]
    assert (passes, feasible) == (0, False)


def test_all_equal():
    # 5 x .2 under a cap of .3: nothing exceeds.
    w, passes, capped, feasible = one([7.0] * 5, 0.3)
    np.testing.assert_allclose(w, [0.2] * 5, atol=1e-15)
    assert (passes, feasible) == (0, True)
    assert not capped.any()


def test_zero_weights_share_equally_when_pro_rata_is_undefined():
    # {1, 0, 0} at .4: a -> .4; the uncapped weights sum to 0, so the excess .6 is shared
    # equally: .3 each (documented fallback of the kernel and of the reference).
    w, passes, _, _ = one([1.0, 0.0, 0.0], 0.4)
    np.testing.assert_allclose(w, [0.4, 0.3, 0.3], atol=1e-15)
    assert passes == 1


def test_no_cap():
    w, passes, capped, feasible = one([2.0, 1.0, 1.0], None)
    np.testing.assert_allclose(w, [0.5, 0.25, 0.25], atol=1e-15)
    assert (passes, feasible, capped.any()) == (0, True, False)


def test_segments_of_different_lengths_equal_one_by_one():
    rng = np.random.default_rng(7)
    vectors = [rng.lognormal(0, 2, n) for n in (1, 2, 5, 17, 40, 3)]
    caps = [1.0, 0.6, 0.3, 0.1, 0.05, 0.2]
    offsets = np.r_[0, np.cumsum([v.size for v in vectors])]
    res = cap_weight_segments(np.concatenate(vectors), offsets, caps)
    for s, (v, c) in enumerate(zip(vectors, caps, strict=True)):
        w, passes, capped, feasible = one(v, c)
        lo, hi = offsets[s], offsets[s + 1]
        np.testing.assert_array_equal(res.weights[lo:hi], w)
        np.testing.assert_array_equal(res.capped[lo:hi], capped)
        assert (res.passes[s], res.feasible[s]) == (passes, feasible)
    assert res.feasible.tolist() == [True, True, True, True, True, False]


def test_empty_segment():
    res = cap_weight_segments([0.5, 0.5], [0, 0, 2], [0.3, 0.6])
    assert res.passes.tolist() == [0, 0]
    np.testing.assert_allclose(res.weights, [0.5, 0.5])


@pytest.mark.parametrize(
    ("weights", "cap", "match"),
    [
        ([0.5, np.nan], 0.4, "finite"),
        ([0.5, -0.1], 0.4, "non-negative"),
        ([0.0, 0.0], 0.6, "all zero"),
        ([0.5, 0.5], 0.0, "cap"),
        ([0.5, 0.5], 1.5, "cap"),
        ([[0.5, 0.5]], 0.6, "one-dimensional"),
    ],
)
def test_bad_input_raises_config_error(weights, cap, match):
    with pytest.raises(ConfigError, match=match):
        cap_weights(weights, cap)


def test_bad_offsets_raise_config_error():
    with pytest.raises(ConfigError, match="offsets"):
        cap_weight_segments([0.5, 0.5], [0, 1], [0.4])
    with pytest.raises(ConfigError, match="caps"):
        cap_weight_segments([0.5, 0.5], [0, 1, 2], [0.4, 0.4, 0.4])


# Zero or between 1e-6 and 1e6 (market values are never subnormal).
weights_st = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6)),
    min_size=1, max_size=30,
).filter(lambda w: sum(w) > 1e-3)
cap_st = st.floats(min_value=0.01, max_value=1.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weights=weights_st, cap=cap_st)
def test_properties_and_naive_reference(weights, cap):
    w, passes, capped, feasible = one(weights, cap)
    ref_w, ref_passes, ref_capped, ref_feasible = cap_weights_naive(weights, cap)
    # Kernel == plain-Python reference of SPEC §3.4.
    np.testing.assert_allclose(w, ref_w, rtol=1e-12, atol=1e-14)
    assert (passes, feasible) == (ref_passes, ref_feasible)
    assert capped.tolist() == ref_capped
    # Sums to 1; never above the cap when feasible; capped members sit exactly at the cap.
    assert abs(w.sum() - 1.0) < 1e-12
    if feasible:
        assert w.max() <= cap * (1 + 1e-12)
        assert np.all(w[capped] == cap)
    else:
        assert len(weights) * cap < 1 + 1e-9
    # Capping keeps the order of the weights (a larger weight never ends below a smaller one).
    order = np.argsort(np.asarray(weights), kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-15)
