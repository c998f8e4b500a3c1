"""Kernels for weight capping (SPEC §3.4) and weighting factors (SPEC §3.3).

Many baskets are handled in one call as segments ``x[offsets[s]:offsets[s + 1]]``. Inputs are
read-only; every result is a new array. Validation (NaN, negative or zero weights, bad caps) is
done by the wrappers in ``daix.engine.weighting``.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit

#: Scheme codes of ``weighting_factors_segments_nb`` (SPEC §3.3).
MARKET_CAP = 0
EQUAL = 1
SQRT = 2


@jit
def _cap_segment_nb(w, capped, cap, tol):
    """Cap one weight vector in place (SPEC §3.4); ``w`` must already sum to 1.

    Returns ``(passes, feasible)``. Each pass sets every uncapped weight above ``cap*(1+tol)``
    to ``cap`` and shares the excess among the uncapped members pro rata to their weights. A
    weight exactly at the cap is not capped. When ``n*cap*(1+tol) < 1`` (``N*c < 1`` up to the
    same tolerance) the cap cannot hold: every member gets ``1/n`` and nothing is capped.
    """
    n = w.shape[0]
    if n == 0:
        return 0, True
    if n * cap * (1.0 + tol) < 1.0:
        for i in range(n):
            w[i] = 1.0 / n
        return 0, False
    limit = cap * (1.0 + tol)
    passes = 0
    while True:
        excess = 0.0
        newly = 0
        for i in range(n):
            if not capped[i] and w[i] > limit:
                excess += w[i] - cap
                w[i] = cap
                capped[i] = True
                newly += 1
        if newly == 0:
            break
        passes += 1
        rest = 0.0
        n_rest = 0
        for i in range(n):
            if not capped[i]:
                rest += w[i]
                n_rest += 1
        if n_rest == 0:
            break
        if rest > 0.0:
            for i in range(n):
                if not capped[i]:
                    w[i] += excess * (w[i] / rest)
        else:
            # Every uncapped weight is 0: pro rata is undefined, so share the excess equally.
            share = excess / n_rest
            for i in range(n):
                if not capped[i]:
                    w[i] += share
    return passes, True


@jit
def cap_weights_segments_nb(weights, offsets, caps, tol=1e-12):
    """Cap many weight vectors at once (SPEC §3.4).

    Segment ``s`` is ``weights[offsets[s]:offsets[s+1]]`` with cap ``caps[s]`` (``inf`` = no
    cap). Each segment is first normalised to sum 1. Returns ``(capped_weights, passes,
    capped_mask, feasible)``: new weights, passes per segment (int64), a bool mask of the members
    set to the cap, and a per-segment flag that is False when ``N*c < 1`` (then equal weights,
    0 passes).
    """
    n_seg = offsets.shape[0] - 1
    out = np.empty(weights.shape[0], dtype=np.float64)
    capped = np.zeros(weights.shape[0], dtype=np.bool_)
    passes = np.zeros(n_seg, dtype=np.int64)
    feasible = np.ones(n_seg, dtype=np.bool_)
    for s in range(n_seg):
        lo = offsets[s]
        hi = offsets[s + 1]
        total = 0.0
        for i in range(lo, hi):
            total += weights[i]
        for i in range(lo, hi):
            out[i] = weights[i] / total
        p, ok = _cap_segment_nb(out[lo:hi], capped[lo:hi], caps[s], tol)
        passes[s] = p
        feasible[s] = ok
    return out, passes, capped, feasible


@jit
def weighting_factors_segments_nb(market_values, offsets, schemes, caps, tol=1e-12):
    """Weighting factors of many baskets at once (SPEC §3.3).

    Basket ``s`` holds the positive market values ``market_values[offsets[s]:offsets[s+1]]``,
    scheme ``schemes[s]`` (``MARKET_CAP``, ``EQUAL`` or ``SQRT``) and cap ``caps[s]`` (``inf`` =
    none). With ``W_i = MV_i / sum MV``: the target weight is ``W_i`` (market cap), ``1/N``
    (equal) or ``sqrt(MV_i) / sum sqrt(MV_j)`` (square root), then capped per §3.4;
    ``f_i = target_i / W_i`` scaled so that the largest factor is exactly 1 (an uncapped market
    cap basket has ``f = 1`` exactly). Returns ``(factors, targets, capped_mask, passes,
    feasible)``.
    """
    n_seg = offsets.shape[0] - 1
    n = market_values.shape[0]
    factors = np.empty(n, dtype=np.float64)
    targets = np.empty(n, dtype=np.float64)
    capped = np.zeros(n, dtype=np.bool_)
    passes = np.zeros(n_seg, dtype=np.int64)
    feasible = np.ones(n_seg, dtype=np.bool_)
    for s in range(n_seg):
        lo = offsets[s]
        hi = offsets[s + 1]
        m = hi - lo
        if m == 0:
            continue
        total = 0.0
        for i in range(lo, hi):
            total += market_values[i]
        scheme = schemes[s]
        if scheme == EQUAL:
            for i in range(lo, hi):
                targets[i] = 1.0 / m
        elif scheme == SQRT:
            root_total = 0.0
            for i in range(lo, hi):
                root_total += np.sqrt(market_values[i])
            for i in range(lo, hi):
                targets[i] = np.sqrt(market_values[i]) / root_total
        else:
            for i in range(lo, hi):
                targets[i] = market_values[i] / total
        p, ok = _cap_segment_nb(targets[lo:hi], capped[lo:hi], caps[s], tol)
        passes[s] = p
        feasible[s] = ok
        if scheme == MARKET_CAP and p == 0 and ok:
            for i in range(lo, hi):
                factors[i] = 1.0
            continue
        largest = 0.0
        for i in range(lo, hi):
            f = targets[i] / (market_values[i] / total)
            factors[i] = f
            if f > largest:
                largest = f
        for i in range(lo, hi):
            factors[i] = factors[i] / largest
    return factors, targets, capped, passes, feasible
