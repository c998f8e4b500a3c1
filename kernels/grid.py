"""Scatter hourly fixes into dense ``[hour, asset]`` matrices (SPEC §6.1, §8.2), one pass.

Rows come with small-integer codes (dictionary indices) for window and asset and lookup
tables mapping those codes to a matrix slot (window) and a column (asset), ``-1`` for none.
A table read in chunks is scattered chunk by chunk, each with the lookups of its dictionaries.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit, jit_parallel
from numba import prange

NS_PER_HOUR = 3_600_000_000_000
#: Parallel parts of a chunk's rows (at least MIN_PART_ROWS rows each).
PARTS = 16
MIN_PART_ROWS = 1 << 16


@jit
def mark_used_nb(codes, used):
    """``used[codes[i]] = True`` for every row: which dictionary entries a chunk uses."""
    for i in range(codes.shape[0]):
        used[codes[i]] = True


@jit
def _span_and_used_rows_nb(ts, wcode, wslot, acode, used, i0, i1):
    """:func:`span_and_used_nb` of rows ``i0:i1``; returns (found, lo, hi)."""
    lo = np.int64(0)
    hi = np.int64(-1)
    found = False
    for i in range(i0, i1):
        used[acode[i]] = True
        t = ts[i]
        if t % NS_PER_HOUR != 0 or wslot[wcode[i]] < 0:
            continue
        if not found:
            lo = t
            hi = t
            found = True
        elif t < lo:
            lo = t
        elif t > hi:
            hi = t
    return found, lo, hi


@jit_parallel
def span_and_used_nb(ts, wcode, wslot, acode, used):
    """First and last whole-hour instant among the rows of one chunk whose window has a slot,
    and ``used[acode[i]] = True`` for every row (any window): which dictionary entries the
    rows use. Returns (lo, hi), (0, -1) if none. Rows in parallel parts (``used`` is only
    ever set to True, so parts may write it at once)."""
    n = ts.shape[0]
    parts = min(PARTS, max(1, n // MIN_PART_ROWS))
    los = np.zeros(parts, dtype=np.int64)
    his = np.full(parts, -1, dtype=np.int64)
    hit = np.zeros(parts, dtype=np.bool_)
    for k in prange(parts):
        i0 = n * k // parts
        i1 = n * (k + 1) // parts
        # each part on slices of its rows: indexing the whole arrays from inside the parallel
        # loop is a third slower
        f, lo, hi = _span_and_used_rows_nb(ts[i0:i1], wcode[i0:i1], wslot, acode[i0:i1], used,
                                           0, i1 - i0)
        hit[k] = f
        los[k] = lo
        his[k] = hi
    lo = np.int64(0)
    hi = np.int64(-1)
    first = True
    for k in range(parts):
        if hit[k]:
            if first:
                lo = los[k]
                hi = his[k]
                first = False
            else:
                lo = min(lo, los[k])
                hi = max(hi, his[k])
    return lo, hi


@jit
def _scatter_rows_nb(ts, wcode, wslot, acode, acol, price, grid_start, out, i0, i1):
    used = 0
    bad = 0
    off = 0
    n_rows = out.shape[1]
    for i in range(i0, i1):
        slot = wslot[wcode[i]]
        if slot < 0:
            continue
        t = ts[i]
        if t % NS_PER_HOUR != 0:
            off += 1
            continue
        r = (t - grid_start) // NS_PER_HOUR
        col = acol[acode[i]]
        if r < 0 or r >= n_rows or col < 0:
            off += 1
            continue
        p = price[i]
        used += 1
        if p > 0.0 and np.isfinite(p):
            out[slot, r, col] = p
        else:
            bad += 1
    return used, bad, off


@jit_parallel
def scatter_hourly_nb(ts, wcode, wslot, acode, acol, price, grid_start, out):
    """Write each on-grid row's price into ``out[slot, row, column]``; a null, non-finite or
    non-positive price stays NaN (SPEC §8.2). Returns (rows used, bad prices, rows off the
    grid among the hourly windows' rows). Rows in parallel parts: keys are unique (SPEC
    §6.2), so no two rows write the same cell."""
    n = ts.shape[0]
    parts = min(PARTS, max(1, n // MIN_PART_ROWS))
    counts = np.zeros((parts, 3), dtype=np.int64)
    for k in prange(parts):
        i0 = n * k // parts
        i1 = n * (k + 1) // parts
        u, b, o = _scatter_rows_nb(ts[i0:i1], wcode[i0:i1], wslot, acode[i0:i1], acol,
                                   price[i0:i1], grid_start, out, 0, i1 - i0)
        counts[k, 0] = u
        counts[k, 1] = b
        counts[k, 2] = o
    return counts[:, 0].sum(), counts[:, 1].sum(), counts[:, 2].sum()


@jit
def patch_hourly_nb(ts, wcode, wslot, acode, acol, price, grid_start, slot, out):
    """Overwrite the cell ``out[row, column]`` of each on-grid row of window ``slot`` with its
    price, NaN when the price is unusable (SPEC §8.2): a corrected row group laid over a kept
    matrix. Returns (cells whose value changed, cells that were NaN before, cells NaN after)
    among the rows written."""
    changed = 0
    was_nan = 0
    now_nan = 0
    n_rows = out.shape[0]
    for i in range(ts.shape[0]):
        if wslot[wcode[i]] != slot:
            continue
        t = ts[i]
        if t % NS_PER_HOUR != 0:
            continue
        r = (t - grid_start) // NS_PER_HOUR
        col = acol[acode[i]]
        if r < 0 or r >= n_rows or col < 0:
            continue
        old = out[r, col]
        p = price[i]
        if not (p > 0.0 and np.isfinite(p)):
            p = np.nan
            now_nan += 1
        if not np.isfinite(old):
            was_nan += 1
            if np.isfinite(p):
                changed += 1
        elif not np.isfinite(p) or p != old:
            changed += 1
        out[r, col] = p
    return changed, was_nan, now_nan


@jit
def _count_finite_nb(values):
    c = np.int64(0)
    for i in range(values.shape[0]):
        x = values[i]
        c += np.int64((x - x) == 0.0)  # false for NaN and for +-inf
    return c


@jit_parallel
def count_finite_nb(out):
    """Cells of the C-contiguous array ``out`` (any shape) holding a finite value: after
    :func:`scatter_hourly_nb` on NaN-filled matrices, the cells some usable price wrote
    (SPEC §6.2: with unique keys, one per row of a usable price). Parallel parts of the flat
    array, each counted on its own."""
    flat = out.reshape(out.size)
    n = flat.shape[0]
    parts = min(PARTS, max(1, n // MIN_PART_ROWS))
    counts = np.zeros(parts, dtype=np.int64)
    for k in prange(parts):
        counts[k] = _count_finite_nb(flat[n * k // parts: n * (k + 1) // parts])
    return counts.sum()
