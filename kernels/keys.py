"""Duplicate-key detection over integer key columns (SPEC §6.2), one pass, no temporaries.

A key of up to three integer columns is packed as ``((c0-lo0)/st0 * w1 + (c1-lo1)/st1) * w2 +
(c2-lo2)/st2`` into a dense space of ``span`` cells that is counted in one byte per cell.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit


@jit
def min_max_nb(col):
    """Smallest and largest value of a non-empty integer array."""
    lo = col[0]
    hi = col[0]
    for i in range(1, col.shape[0]):
        v = col[i]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return np.int64(lo), np.int64(hi)


@jit
def divisible_nb(col, lo, step):
    """Whether every ``col - lo`` is a multiple of ``step``."""
    for i in range(col.shape[0]):
        if (np.int64(col[i]) - lo) % step != 0:
            return False
    return True


@jit
def first_duplicate_nb(c0, lo0, st0, c1, lo1, st1, w1, c2, lo2, st2, w2, ncols, span):
    """Row of the first key seen twice (in row order), or -1. ``ncols`` of 1-3 columns are
    used; unused column arguments are ignored (pass any array)."""
    seen = np.zeros(span, dtype=np.uint8)
    for i in range(c0.shape[0]):
        key = (np.int64(c0[i]) - lo0) // st0
        if ncols > 1:
            key = key * w1 + (np.int64(c1[i]) - lo1) // st1
        if ncols > 2:
            key = key * w2 + (np.int64(c2[i]) - lo2) // st2
        if seen[key]:
            return i
        seen[key] = 1
    return -1
