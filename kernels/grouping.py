"""Rows grouped by a small-integer code, each group in key order (SPEC §3.2, §8.4 lookups).

The as-of tables (supply, FX) and the volume table are looked up per asset and instant: their
rows are put in (code, key) order once. A counting sort by code keeps each group in row order;
a group whose keys are not already ascending is then sorted by key (stably). The result is the
order of a stable sort by (code, key), in one pass when the table is already in time order.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit


@jit
def group_order_nb(codes, n_codes, keys):
    """(order, starts, ordered_keys): ``order`` lists the rows by code then key, ties in row
    order; rows ``order[starts[c]:starts[c + 1]]`` are those of code ``c`` (``0 <= c <
    n_codes``); ``ordered_keys`` is ``keys[order]``."""
    n = codes.shape[0]
    starts = np.zeros(n_codes + 1, dtype=np.int64)
    for i in range(n):
        starts[codes[i] + 1] += 1
    for c in range(n_codes):
        starts[c + 1] += starts[c]
    fill = starts[:-1].copy()
    unsorted = np.zeros(n_codes, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    ordered_keys = np.empty(n, dtype=keys.dtype)
    for i in range(n):  # counting sort: each group in row order
        c = codes[i]
        j = fill[c]
        if j > starts[c] and keys[i] < ordered_keys[j - 1]:
            unsorted[c] = True
        order[j] = i
        ordered_keys[j] = keys[i]
        fill[c] = j + 1
    for c in range(n_codes):
        if unsorted[c]:
            lo = starts[c]
            hi = starts[c + 1]
            rows = order[lo:hi].copy()
            group_keys = ordered_keys[lo:hi].copy()
            by_key = np.argsort(group_keys, kind="mergesort")  # stable
            for j in range(hi - lo):
                order[lo + j] = rows[by_key[j]]
                ordered_keys[lo + j] = group_keys[by_key[j]]
    return order, starts, ordered_keys


@jit
def asof_rows_nb(keys, starts, t):
    """Per group ``c`` (rows ``starts[c]:starts[c + 1]`` of ``keys``, ascending within), the
    last row whose key is at or before ``t``, or -1 when there is none."""
    n_groups = starts.shape[0] - 1
    out = np.empty(n_groups, dtype=np.int64)
    for c in range(n_groups):
        lo = starts[c]
        hi = starts[c + 1]
        # binary search: the first row of the group with a key after t
        while lo < hi:
            mid = (lo + hi) // 2
            if keys[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        out[c] = lo - 1 if lo > starts[c] else -1
    return out
