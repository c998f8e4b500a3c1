"""Kernels for index levels on an hourly UTC grid (SPEC §3.1, §3.5-§3.8).

Row ``r`` of a price matrix is the grid hour ``grid_start + r``; column ``a`` is one asset. A NaN
(or infinite) price means no fresh fix at that hour. Inputs are read-only; ``*_into_nb`` kernels
write into arrays the caller allocated (NumPy gives large arrays huge pages, which saves most
of the cost of first touching a new array), the others return new arrays.

The fresh mask ``isfinite(price)`` of SPEC §3.8 is kept packed, 64 columns to a word:
``fresh[t, a // 64]`` has bit ``a % 64`` set when asset ``a`` has a fresh fix at row ``t``
(bits past the last column are 0). ``ffill_fresh_into_nb`` writes it in the same pass as the
forward fill.

``levels_into_nb`` works in three passes so that the price matrix is read about once whatever
the number of indices: (1) the market values of every basket at its E and C rows; (2) the
market value and freshness of every index at every calculation row, in parallel over blocks of
grid rows, each block serving every index while it is in cache; (3) the level recurrence of
each index (divisor or chain-linked), a cheap sequential walk per index. Only (2) runs on
several threads: one parallel region per call, so that a busy machine delays it once.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit, jit_parallel
from numba import prange

#: Calculation status codes (SPEC §3.8).
FIRM = 0
INDICATIVE = 1
NO_LEVEL = -1

#: Grid rows per block of the market value pass (a block of a 500-asset matrix is 500 KB, so
#: it stays in a core's L2 cache while every index reads it).
BLOCK_ROWS = 128

#: A block where some index is calculated at this many rows or more is first read through in
#: order (which the hardware prefetches at full speed), so that the members' values the indices
#: then pick from each row are cache hits rather than scattered loads from memory.
DENSE_ROWS = BLOCK_ROWS // 2

#: Row blocks of the forward fill (filled in parallel, then joined in order).
FFILL_BLOCKS = 64

# Per-index states of the level recurrence.
_NONE = 0  # no basket in force yet, no level ever published
_ACTIVE = 1  # a non-empty basket in force with a divisor / chain reference
_SUSPENDED = 2  # an empty basket in force (SPEC §8.5)


@jit
def _ffill_blocks_nb(n_rows):
    """(number, size) of the row blocks the forward fill works on in parallel."""
    n_blocks = max(1, min(FFILL_BLOCKS, n_rows // 64))
    return n_blocks, (n_rows + n_blocks - 1) // n_blocks


@jit
def _join_blocks_nb(out, n_blocks, size):
    """Carry each block's last filled row into the leading gaps of the next (in order)."""
    n_rows, n_cols = out.shape
    for blk in range(1, n_blocks):
        r0 = blk * size
        r1 = min(n_rows, r0 + size)
        for a in range(n_cols):
            if r0 >= r1:
                break
            carry = out[r0 - 1, a]
            if not np.isfinite(carry):
                continue
            t = r0
            while t < r1 and not np.isfinite(out[t, a]):
                out[t, a] = carry
                t += 1


@jit_parallel
def ffill_into_nb(price, out):
    """Write into ``out`` the last finite price at or before each row, per column (NaN before
    the first).

    Blocks of rows are filled in parallel, each from NaN; a sequential pass then carries each
    block's last row into the leading gaps of the next. ``isfinite(price)`` is the fresh mask of
    SPEC §3.8.
    """
    n_rows, n_cols = price.shape
    n_blocks, size = _ffill_blocks_nb(n_rows)
    for blk in prange(n_blocks):
        r0 = blk * size
        r1 = min(n_rows, r0 + size)
        if r0 >= r1:
            continue
        for a in range(n_cols):
            v = price[r0, a]
            out[r0, a] = v if np.isfinite(v) else np.nan
        for t in range(r0 + 1, r1):
            for a in range(n_cols):
                v = price[t, a]
                out[t, a] = v if np.isfinite(v) else out[t - 1, a]
    _join_blocks_nb(out, n_blocks, size)
    return out


@jit
def ffill_nb(price):
    """Last finite price at or before each row, per column (NaN before the first).

    ``ffill_into_nb`` with a new output (callers with large matrices allocate the output with
    NumPy, whose large allocations use huge pages, and call ``ffill_into_nb``).
    """
    return ffill_into_nb(price, np.empty(price.shape, dtype=np.float64))


@jit
def _fill_fresh_row_nb(price, out, fresh, t, first):
    """Row ``t`` of the forward fill (from NaN when ``first``, else from row ``t - 1``) and its
    packed fresh mask, 64 columns at a time (the word is built without branches)."""
    n_cols = price.shape[1]
    for w in range(fresh.shape[1]):
        lo = w * 64
        word = np.uint64(0)
        for i in range(min(64, n_cols - lo)):
            a = lo + i
            v = price[t, a]
            ok = np.isfinite(v)
            if first:
                out[t, a] = v if ok else np.nan
            else:
                out[t, a] = v if ok else out[t - 1, a]
            word |= np.uint64(ok) << np.uint64(i)
        fresh[t, w] = word


@jit_parallel
def ffill_fresh_into_nb(price, out, fresh):
    """``ffill_into_nb`` that also writes the packed fresh mask ``isfinite(price)`` into
    ``fresh`` (uint64, ``(n_rows, (n_cols + 63) // 64)``), in the same pass (SPEC §3.8)."""
    n_rows = price.shape[0]
    n_blocks, size = _ffill_blocks_nb(n_rows)
    for blk in prange(n_blocks):
        r0 = blk * size
        r1 = min(n_rows, r0 + size)
        # the block's rows as slices (faster than indexing the whole matrices from inside
        # the parallel loop)
        p, o, f = price[r0:r1], out[r0:r1], fresh[r0:r1]
        for t in range(r1 - r0):
            _fill_fresh_row_nb(p, o, f, t, t == 0)
    _join_blocks_nb(out, n_blocks, size)


@jit
def _fresh_row_nb(price, fresh, t):
    """The packed fresh mask of row ``t``."""
    n_cols = price.shape[1]
    for w in range(fresh.shape[1]):
        lo = w * 64
        word = np.uint64(0)
        for i in range(min(64, n_cols - lo)):
            word |= np.uint64(np.isfinite(price[t, lo + i])) << np.uint64(i)
        fresh[t, w] = word


@jit_parallel
def fresh_bits_into_nb(price, fresh):
    """Write the packed fresh mask ``isfinite(price)`` into ``fresh`` (SPEC §3.8)."""
    n_rows = price.shape[0]
    n_blocks = (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    for blk in prange(n_blocks):
        r0 = blk * BLOCK_ROWS
        for t in range(r0, min(n_rows, r0 + BLOCK_ROWS)):
            _fresh_row_nb(price, fresh, t)


@jit
def fresh_bits_nb(price):
    """The packed fresh mask ``isfinite(price)``, a new uint64 array (SPEC §3.8)."""
    fresh = np.empty((price.shape[0], (price.shape[1] + 63) // 64), dtype=np.uint64)
    fresh_bits_into_nb(price, fresh)
    return fresh


@jit
def _market_value_nb(filled, row, lo, hi, member_asset, member_units):
    """``sum filled[row, a_k] * u_k`` over members ``lo:hi`` (SPEC §3.1 numerator)."""
    mv = 0.0
    for k in range(lo, hi):
        mv += filled[row, member_asset[k]] * member_units[k]
    return mv


@jit
def _market_values4_nb(filled, rows, s, lo, hi, member_asset, member_units, value):
    """``value[s:s+4]`` = the market values of members ``lo:hi`` at grid rows ``rows[s:s+4]``.

    Four independent sums, each over the members in order exactly as ``_market_value_nb`` (the
    same rounding): the additions of one row wait on each other, those of four rows overlap."""
    t0 = rows[s]
    t1 = rows[s + 1]
    t2 = rows[s + 2]
    t3 = rows[s + 3]
    m0 = m1 = m2 = m3 = 0.0
    for k in range(lo, hi):
        a = member_asset[k]
        u = member_units[k]
        m0 += filled[t0, a] * u
        m1 += filled[t1, a] * u
        m2 += filled[t2, a] * u
        m3 += filled[t3, a] * u
    value[s] = m0
    value[s + 1] = m1
    value[s + 2] = m2
    value[s + 3] = m3


@jit
def _market_values8_nb(filled, rows, s, lo, hi, member_asset, member_units, value):
    """``_market_values4_nb`` over eight rows ``rows[s:s+8]``."""
    t0 = rows[s]
    t1 = rows[s + 1]
    t2 = rows[s + 2]
    t3 = rows[s + 3]
    t4 = rows[s + 4]
    t5 = rows[s + 5]
    t6 = rows[s + 6]
    t7 = rows[s + 7]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = 0.0
    for k in range(lo, hi):
        a = member_asset[k]
        u = member_units[k]
        m0 += filled[t0, a] * u
        m1 += filled[t1, a] * u
        m2 += filled[t2, a] * u
        m3 += filled[t3, a] * u
        m4 += filled[t4, a] * u
        m5 += filled[t5, a] * u
        m6 += filled[t6, a] * u
        m7 += filled[t7, a] * u
    value[s] = m0
    value[s + 1] = m1
    value[s + 2] = m2
    value[s + 3] = m3
    value[s + 4] = m4
    value[s + 5] = m5
    value[s + 6] = m6
    value[s + 7] = m7


@jit
def _run_values_nb(filled, fresh, masks, calc_rows, p, q, b, lo, hi, member_asset,
                   member_units, value, status):
    """``value`` and ``status`` at calculation positions ``p:q``, all under basket ``b`` (members
    ``lo:hi``; none: no level). Firm when every member has a fresh fix at the row (SPEC §3.8)."""
    if hi <= lo:
        for s in range(p, q):
            value[s] = np.nan
            status[s] = NO_LEVEL
        return
    s = p
    while s + 8 <= q:
        _market_values8_nb(filled, calc_rows, s, lo, hi, member_asset, member_units, value)
        s += 8
    if s + 4 <= q:
        _market_values4_nb(filled, calc_rows, s, lo, hi, member_asset, member_units, value)
        s += 4
    while s < q:
        value[s] = _market_value_nb(filled, calc_rows[s], lo, hi, member_asset, member_units)
        s += 1
    n_words = fresh.shape[1]
    one = np.uint64(1)
    if hi - lo > n_words:  # a word at a time: the members' mask against the fresh bits
        for s in range(p, q):
            row = calc_rows[s]
            missing = np.uint64(0)
            for w in range(n_words):
                missing |= masks[b, w] & ~fresh[row, w]
            status[s] = FIRM if missing == 0 else INDICATIVE
    else:  # a member at a time
        for s in range(p, q):
            row = calc_rows[s]
            missing = np.uint64(0)
            for k in range(lo, hi):
                a = member_asset[k]
                missing |= ~(fresh[row, a >> 6] >> np.uint64(a & 63)) & one
            status[s] = FIRM if missing == 0 else INDICATIVE


@jit
def _search_nb(values, lo, hi, x, right):
    """First position in sorted ``values[lo:hi]`` whose value is ``> x`` (``right``) or
    ``>= x``; ``hi`` if none."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = values[mid]
        if v < x or (right and v == x):
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def _basket_masks_nb(member_offsets, member_asset, n_words):
    """Per basket, its members as a bit mask over the asset columns (layout of ``fresh``)."""
    n_baskets = member_offsets.shape[0] - 1
    masks = np.zeros((n_baskets, n_words), dtype=np.uint64)
    one = np.uint64(1)
    for b in range(n_baskets):
        for k in range(member_offsets[b], member_offsets[b + 1]):
            a = member_asset[k]
            masks[b, a >> 6] |= one << np.uint64(a & 63)
    return masks


@jit
def _link_values_nb(filled, basket_offsets, b_start, b_link, member_offsets, member_asset,
                    member_units):
    """Per basket: its MV at its start row (E), its MV at C and the previous basket's MV at C.

    Sequential: a few values per basket (a parallel region costs more than it saves)."""
    n_idx = basket_offsets.shape[0] - 1
    n_baskets = b_start.shape[0]
    at_start = np.full(n_baskets, np.nan)
    new_at_c = np.full(n_baskets, np.nan)
    old_at_c = np.full(n_baskets, np.nan)
    for j in range(n_idx):
        for b in range(basket_offsets[j], basket_offsets[j + 1]):
            lo = member_offsets[b]
            hi = member_offsets[b + 1]
            at_start[b] = _market_value_nb(filled, b_start[b], lo, hi, member_asset, member_units)
            c_row = b_link[b]
            if c_row >= 0:
                new_at_c[b] = _market_value_nb(filled, c_row, lo, hi, member_asset, member_units)
                if b > basket_offsets[j]:
                    old_at_c[b] = _market_value_nb(filled, c_row, member_offsets[b - 1],
                                                   member_offsets[b], member_asset, member_units)
    return at_start, new_at_c, old_at_c


@jit
def _touch_rows_nb(filled, r0, r1):
    """Read every cache line of rows ``r0:r1`` in order; returns a value made of them (so that
    the reads are kept)."""
    n_cols = filled.shape[1]
    acc = 0.0
    for t in range(r0, r1):
        for a in range(0, n_cols, 8):
            acc += filled[t, a]
    return acc


@jit_parallel
def _calc_values_nb(filled, fresh, calc_offsets, calc_rows, basket_offsets, b_start,
                    member_offsets, member_asset, member_units, value, status):
    """Per calculation row: ``value`` = the MV of the basket in force (NaN if none or empty),
    ``status`` = firm or indicative by the freshness of its members, else -1.

    Parallel over blocks of grid rows, every index served while the block is in cache; the rows
    of an index under one basket are summed up to eight at a time. Returns what the reads of
    ``_touch_rows_nb`` gave, one value per block (only so that they are not optimised away)."""
    n_idx = calc_offsets.shape[0] - 1
    n_rows = filled.shape[0]
    masks = _basket_masks_nb(member_offsets, member_asset, fresh.shape[1])
    n_blocks = (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    sink = np.zeros(max(n_blocks, 1))
    for blk in prange(n_blocks):
        r0 = blk * BLOCK_ROWS
        r1 = min(n_rows, r0 + BLOCK_ROWS)
        for j in range(n_idx):
            p = _search_nb(calc_rows, calc_offsets[j], calc_offsets[j + 1], r0, False)
            if _search_nb(calc_rows, p, calc_offsets[j + 1], r1, False) - p >= DENSE_ROWS:
                sink[blk] = _touch_rows_nb(filled, r0, r1)
                break
        for j in range(n_idx):
            c_hi = calc_offsets[j + 1]
            p = _search_nb(calc_rows, calc_offsets[j], c_hi, r0, False)
            if p >= c_hi or calc_rows[p] >= r1:
                continue
            b_lo = basket_offsets[j]
            b_hi = basket_offsets[j + 1]
            b = _search_nb(b_start, b_lo, b_hi, calc_rows[p], True) - 1
            while p < c_hi and calc_rows[p] < r1:
                while b + 1 < b_hi and b_start[b + 1] <= calc_rows[p]:
                    b += 1
                end = r1  # the run of rows under basket b ends at the next basket or block
                if b + 1 < b_hi:
                    end = min(end, b_start[b + 1])
                q = _search_nb(calc_rows, p, c_hi, end, False)
                lo = 0
                hi = 0
                if b >= b_lo:
                    lo = member_offsets[b]
                    hi = member_offsets[b + 1]
                _run_values_nb(filled, fresh, masks, calc_rows, p, q, b, lo, hi, member_asset,
                               member_units, value, status)
                p = q
    return sink


@jit
def _enter_basket_nb(nb, mode, d, ref_level, ref_mc, last_level, base, is_empty, at_start,
                     new_at_c, old_at_c, c_row):
    """The state after basket ``nb`` comes into force (SPEC §3.5, §8.5).

    ``mode`` and the other values describe the previous basket of the same index;
    ``last_level`` is the last published level. Returns ``(mode, d, ref_level, ref_mc)``.
    """
    if is_empty:
        # SPEC §8.5: an empty basket suspends the index; it resumes from ``last_level``.
        return _SUSPENDED, np.nan, np.nan, np.nan
    if c_row < 0 or (mode != _ACTIVE and not np.isfinite(last_level)):
        # First basket: d = MV(E) / base so that I(E) = base (SPEC §3.5).
        return _ACTIVE, at_start / base, base, at_start
    if mode == _ACTIVE:
        # d_new = d_old * MV_new(C) / MV_old(C): I(C) is the same under both baskets (§3.5).
        # The chain form passes through C: IV(C) = IV_ref * MC_old(C) / MC_old(ref).
        return _ACTIVE, d * (new_at_c / old_at_c), ref_level * (old_at_c / ref_mc), new_at_c
    # Resume after a suspension from the last level: d = MV_new(C) / L_last (§8.5).
    return _ACTIVE, new_at_c / last_level, last_level, new_at_c


@jit
def _recurrence_nb(level, divisor, status, calc_offsets, calc_rows, basket_offsets, b_start,
                   b_link, member_offsets, at_start, new_at_c, old_at_c, base_value, chain):
    """Turn the per-row market values in ``level`` into levels, divisors and statuses, in place
    (SPEC §3.1, §3.5-§3.8).

    Sequential: a few operations per row, and most rows often belong to a few (hourly) indices,
    so threads over indices would mostly wait for one another."""
    n_idx = calc_offsets.shape[0] - 1
    for j in range(n_idx):
        base = base_value[j]
        is_chain = chain[j]
        mode = _NONE
        d = np.nan
        ref_level = np.nan
        ref_mc = np.nan
        last_level = np.nan
        b = basket_offsets[j] - 1
        b_hi = basket_offsets[j + 1]
        for p in range(calc_offsets[j], calc_offsets[j + 1]):
            t = calc_rows[p]
            while b + 1 < b_hi and b_start[b + 1] <= t:
                b += 1
                mode, d, ref_level, ref_mc = _enter_basket_nb(
                    b, mode, d, ref_level, ref_mc, last_level, base,
                    member_offsets[b + 1] == member_offsets[b], at_start[b], new_at_c[b],
                    old_at_c[b], b_link[b])
            m = level[p]
            lev = np.nan
            div = np.nan
            if mode == _ACTIVE:
                if is_chain:
                    # SPEC §3.6: IV_t = IV_{t-1} * MC_c / MC_o, divisor = MC_c / IV_t.
                    lev = ref_level * (m / ref_mc)
                    div = m / lev
                else:
                    lev = m / d
                    div = d
            if np.isfinite(lev):
                level[p] = lev
                divisor[p] = div
                last_level = lev
                if is_chain:
                    ref_level = lev
                    ref_mc = m
            else:
                level[p] = np.nan
                divisor[p] = np.nan
                status[p] = NO_LEVEL


@jit
def check_members_nb(member_offsets, member_asset, n_cols):
    """First problem in the baskets: ``(code, basket, asset)``; code 0 none, 1 an asset outside
    ``[0, n_cols)``, 2 an asset twice in one basket."""
    seen = np.full(n_cols, -1, dtype=np.int64)
    for b in range(member_offsets.shape[0] - 1):
        for k in range(member_offsets[b], member_offsets[b + 1]):
            a = member_asset[k]
            if a < 0 or a >= n_cols:
                return 1, b, a
            if seen[a] == b:
                return 2, b, a
            seen[a] = b
    return 0, -1, -1


@jit
def check_rows_nb(calc_rows, calc_offsets, n_rows):
    """First problem in the calculation rows: ``(code, position)``; code 0 none, 1 a row outside
    ``[0, n_rows)`` (the first one), else 2 a row at ``position + 1`` not after the one at
    ``position`` of the same index (the first one)."""
    n_idx = calc_offsets.shape[0] - 1
    ok = True
    for j in range(n_idx):  # the smallest step of each index (vectorised); positions if needed
        x = calc_rows[calc_offsets[j]:calc_offsets[j + 1]]
        if x.size:
            step = np.int64(1)
            for i in range(1, x.size):
                d = x[i] - x[i - 1]
                step = d if d < step else step
            ok &= step > 0 and x[0] >= 0 and x[-1] < n_rows
    if ok:
        return 0, -1
    for i in range(calc_rows.shape[0]):
        if calc_rows[i] < 0 or calc_rows[i] >= n_rows:
            return 1, i
    for j in range(n_idx):
        for i in range(calc_offsets[j] + 1, calc_offsets[j + 1]):
            if calc_rows[i] <= calc_rows[i - 1]:
                return 2, i - 1
    return 0, -1


@jit
def levels_into_nb(level, divisor, status, filled, fresh, calc_offsets, calc_rows,
                   basket_offsets, b_start, b_link, member_offsets, member_asset, member_units,
                   base_value, chain):
    """``levels_nb`` writing into ``level``, ``divisor`` (float64) and ``status`` (int8), one
    entry per calculation row (callers allocate them with NumPy), from the packed fresh mask
    ``fresh`` (``ffill_fresh_into_nb``, ``fresh_bits_nb``) instead of the price matrix."""
    at_start, new_at_c, old_at_c = _link_values_nb(filled, basket_offsets, b_start, b_link,
                                                   member_offsets, member_asset, member_units)
    _calc_values_nb(filled, fresh, calc_offsets, calc_rows, basket_offsets, b_start,
                    member_offsets, member_asset, member_units, level, status)
    _recurrence_nb(level, divisor, status, calc_offsets, calc_rows, basket_offsets, b_start,
                   b_link, member_offsets, at_start, new_at_c, old_at_c, base_value, chain)


@jit
def levels_nb(filled, price, calc_offsets, calc_rows, basket_offsets, b_start, b_link,
              member_offsets, member_asset, member_units, base_value, chain):
    """Levels, divisors and statuses of many indices (SPEC §3.1, §3.5-§3.8).

    Index ``j`` has calculation rows ``calc_rows[calc_offsets[j]:calc_offsets[j+1]]`` (sorted)
    and baskets ``basket_offsets[j]:basket_offsets[j+1]`` in time order; basket ``b`` holds
    columns ``member_asset[k]`` with units ``member_units[k]`` (``s*f``) for ``k`` in
    ``member_offsets[b]:member_offsets[b+1]``, and is in force at calculation rows
    ``>= b_start[b]`` until the next basket starts.

    - First basket (``b_link = -1``): ``d = MV(E) / base_value``, ``E = b_start`` (§3.5).
    - Later basket with ``C = b_link``: ``d_new = d_old * MV_new(C) / MV_old(C)`` (§3.5).
    - Empty basket: suspended, no level (status -1); the next non-empty basket resumes from the
      last published level, ``d = MV_new(C) / L_last`` (§8.5); with no level ever published it
      starts at the base value at its own start row.
    - ``chain[j]``: chain-linked form ``IV_t = IV_prev * MC(t) / MC(prev)`` over the basket in
      force at t (§3.6), passing through C at a basket change; ``divisor = MC(t) / IV_t``.
    - Status 0 firm, 1 indicative (a member with no fresh fix at t keeps its last price, §3.8),
      -1 no level (before the first basket, suspended, or a member never priced yet).

    Returns ``(level, divisor, status)`` aligned with ``calc_rows`` (status int8).
    """
    n_calc = calc_rows.shape[0]
    level = np.empty(n_calc, dtype=np.float64)
    divisor = np.empty(n_calc, dtype=np.float64)
    status = np.empty(n_calc, dtype=np.int8)
    levels_into_nb(level, divisor, status, filled, fresh_bits_nb(price), calc_offsets,
                   calc_rows, basket_offsets, b_start, b_link, member_offsets, member_asset,
                   member_units, base_value, chain)
    return level, divisor, status
