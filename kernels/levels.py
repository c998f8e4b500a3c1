"""Kernels for index levels on an hourly UTC grid (SPEC §3.1, §3.5-§3.8).

Row ``r`` of a price matrix is the grid hour ``grid_start + r``; column ``a`` is one asset. A NaN
(or infinite) price means no fresh fix at that hour. Inputs are read-only; ``*_into_nb`` kernels
write into arrays the caller allocated (NumPy gives large arrays huge pages, which saves most
of the cost of first touching a new array), the others return new arrays.

``levels_nb`` works in three passes so that the price matrix is read about once whatever the
number of indices: (1) the market values of every basket at its E and C rows, in parallel over
indices; (2) the market value and freshness of every index at every calculation row, in parallel
over blocks of grid rows, each block serving every index while it is in cache; (3) the level
recurrence of each index (divisor or chain-linked), a cheap sequential walk per index.
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

#: Row blocks of ``ffill_nb`` (filled in parallel, then joined in order).
FFILL_BLOCKS = 64

# Per-index states of the level recurrence.
_NONE = 0  # no basket in force yet, no level ever published
_ACTIVE = 1  # a non-empty basket in force with a divisor / chain reference
_SUSPENDED = 2  # an empty basket in force (SPEC §8.5)


@jit_parallel
def ffill_into_nb(price, out):
    """Write into ``out`` the last finite price at or before each row, per column (NaN before
    the first).

    Blocks of rows are filled in parallel, each from NaN; a sequential pass then carries each
    block's last row into the leading gaps of the next. ``isfinite(price)`` is the fresh mask of
    SPEC §3.8.
    """
    n_rows, n_cols = price.shape
    n_blocks = max(1, min(FFILL_BLOCKS, n_rows // 64))
    size = (n_rows + n_blocks - 1) // n_blocks
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
    return out


@jit
def ffill_nb(price):
    """Last finite price at or before each row, per column (NaN before the first).

    ``ffill_into_nb`` with a new output (callers with large matrices allocate the output with
    NumPy, whose large allocations use huge pages, and call ``ffill_into_nb``).
    """
    return ffill_into_nb(price, np.empty(price.shape, dtype=np.float64))


@jit
def _fresh_bits_rows_nb(raw, n_cols, r0, r1, bits):
    """The fresh mask ``isfinite(price)`` of rows ``r0:r1`` packed 64 columns to a word:
    ``bits[t - r0, a // 64]`` has bit ``a % 64`` set when asset ``a`` has a fresh fix at row
    ``t`` (SPEC §3.8). ``raw`` is the price matrix viewed as uint64."""
    n_words = bits.shape[1]
    # A float64 is finite unless its exponent bits are all ones; integer tests vectorise.
    exponent = np.uint64(0x7FF0000000000000)
    for t in range(r0, r1):
        for w in range(n_words):
            lo = w * 64
            width = min(n_cols - lo, 64)
            word = np.uint64(0)
            for i in range(width):
                word |= np.uint64((raw[t, lo + i] & exponent) != exponent) << np.uint64(i)
            bits[t - r0, w] = word


@jit
def _market_value_nb(filled, row, lo, hi, member_asset, member_units):
    """``sum filled[row, a_k] * u_k`` over members ``lo:hi`` (SPEC §3.1 numerator)."""
    mv = 0.0
    for k in range(lo, hi):
        mv += filled[row, member_asset[k]] * member_units[k]
    return mv


@jit
def _is_fresh_nb(bits, row, masks, b, lo, hi, member_asset):
    """Whether every member ``lo:hi`` of basket ``b`` has a fresh fix at ``row`` (SPEC §3.8)."""
    n_words = bits.shape[1]
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    missing = np.uint64(0)  # accumulated without branches: bits of members with no fresh fix
    if hi - lo > n_words:
        for w in range(n_words):
            missing |= masks[b, w] & (bits[row, w] ^ ones)
    else:
        for k in range(lo, hi):
            a = member_asset[k]
            missing |= ((bits[row, a >> 6] ^ ones) >> np.uint64(a & 63)) & np.uint64(1)
    return missing == np.uint64(0)


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
    """Per basket, its members as a bit mask over the asset columns (layout of ``bits``)."""
    n_baskets = member_offsets.shape[0] - 1
    masks = np.zeros((n_baskets, n_words), dtype=np.uint64)
    one = np.uint64(1)
    for b in range(n_baskets):
        for k in range(member_offsets[b], member_offsets[b + 1]):
            a = member_asset[k]
            masks[b, a >> 6] |= one << np.uint64(a & 63)
    return masks


@jit_parallel
def _link_values_nb(filled, basket_offsets, b_start, b_link, member_offsets, member_asset,
                    member_units):
    """Per basket: its MV at its start row (E), its MV at C and the previous basket's MV at C."""
    n_idx = basket_offsets.shape[0] - 1
    n_baskets = b_start.shape[0]
    at_start = np.full(n_baskets, np.nan)
    new_at_c = np.full(n_baskets, np.nan)
    old_at_c = np.full(n_baskets, np.nan)
    for j in prange(n_idx):
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


@jit_parallel
def _calc_values_nb(filled, price, calc_offsets, calc_rows, basket_offsets, b_start,
                    member_offsets, member_asset, member_units, value, status):
    """Per calculation row: ``value`` = the MV of the basket in force (NaN if none or empty),
    ``status`` = firm or indicative by the freshness of its members, else -1.

    Parallel over blocks of grid rows; each block's fresh mask is computed once and every index
    is served while the block is in cache."""
    n_idx = calc_offsets.shape[0] - 1
    n_rows, n_cols = filled.shape
    n_words = (n_cols + 63) // 64
    masks = _basket_masks_nb(member_offsets, member_asset, n_words)
    raw = np.ascontiguousarray(price).view(np.uint64)
    n_blocks = (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    for blk in prange(n_blocks):
        r0 = blk * BLOCK_ROWS
        r1 = min(n_rows, r0 + BLOCK_ROWS)
        bits = np.empty((r1 - r0, n_words), dtype=np.uint64)
        bits_done = False
        for j in range(n_idx):
            c_lo = calc_offsets[j]
            c_hi = calc_offsets[j + 1]
            p = _search_nb(calc_rows, c_lo, c_hi, r0, False)
            if p >= c_hi or calc_rows[p] >= r1:
                continue
            if not bits_done:
                _fresh_bits_rows_nb(raw, n_cols, r0, r1, bits)
                bits_done = True
            b_lo = basket_offsets[j]
            b_hi = basket_offsets[j + 1]
            b = _search_nb(b_start, b_lo, b_hi, calc_rows[p], True) - 1
            while p < c_hi and calc_rows[p] < r1:
                t = calc_rows[p]
                while b + 1 < b_hi and b_start[b + 1] <= t:
                    b += 1
                lo = 0
                hi = 0
                if b >= b_lo:
                    lo = member_offsets[b]
                    hi = member_offsets[b + 1]
                if hi > lo:
                    value[p] = _market_value_nb(filled, t, lo, hi, member_asset, member_units)
                    fresh = _is_fresh_nb(bits, t - r0, masks, b, lo, hi, member_asset)
                    status[p] = FIRM if fresh else INDICATIVE
                else:
                    value[p] = np.nan
                    status[p] = NO_LEVEL
                p += 1


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


@jit_parallel
def _recurrence_nb(level, divisor, status, calc_offsets, calc_rows, basket_offsets, b_start,
                   b_link, member_offsets, at_start, new_at_c, old_at_c, base_value, chain):
    """Turn the per-row market values in ``level`` into levels, divisors and statuses, in place
    (SPEC §3.1, §3.5-§3.8)."""
    n_idx = calc_offsets.shape[0] - 1
    for j in prange(n_idx):
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
def levels_into_nb(level, divisor, status, filled, price, calc_offsets, calc_rows,
                   basket_offsets, b_start, b_link, member_offsets, member_asset, member_units,
                   base_value, chain):
    """``levels_nb`` writing into ``level``, ``divisor`` (float64) and ``status`` (int8), one
    entry per calculation row (callers allocate them with NumPy)."""
    at_start, new_at_c, old_at_c = _link_values_nb(filled, basket_offsets, b_start, b_link,
                                                   member_offsets, member_asset, member_units)
    _calc_values_nb(filled, price, calc_offsets, calc_rows, basket_offsets, b_start,
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
    levels_into_nb(level, divisor, status, filled, price, calc_offsets, calc_rows,
                   basket_offsets, b_start, b_link, member_offsets, member_asset, member_units,
                   base_value, chain)
    return level, divisor, status
