"""Duplicate-key detection over integer key columns (SPEC §6.2), one pass, no temporaries.

A key of up to three integer columns is packed as ``((c0-lo0)/st0 * w1 + (c1-lo1)/st1) * w2 +
(c2-lo2)/st2`` into a dense space of ``span`` cells, marked in a bitmap (``uint64`` words:
one bit per cell, so a table of n rows touches at most n/2 bytes).
A table read in chunks is checked chunk by chunk against the same ``seen`` cells
(:func:`mark_keys_nb`); a column of dictionary indices whose dictionary differs between chunks
goes through a small per-chunk lookup ``m`` (dictionary index -> code of the whole column).

Quotients by a step are taken in floating point and checked exactly in integers (an integer
division costs tens of cycles a row); a value the float path cannot place exactly falls back to
the integer division, so every result is exact.

A large chunk is checked by :func:`mark_keys_parts_nb` in parallel parts of rows, each marking
its own bitmap (so no two threads write one word); a key marked by two parts, or by a part and
an earlier chunk, is a duplicate found when the bitmaps are merged into ``seen``.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit, jit_parallel
from numba import prange


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
def _quotient(d, step, inv):
    """``d // step`` for ``d >= 0`` (exact; fast when ``d`` is a multiple of ``step``)."""
    if step == 1:
        return d
    q = np.int64(d * inv + 0.5)
    if q * step == d:
        return q
    return d // step


@jit
def divisible_nb(col, lo, step):
    """Whether every ``col - lo`` is a multiple of ``step`` (``lo`` at most every value)."""
    inv = 1.0 / step
    for i in range(col.shape[0]):
        d = np.int64(col[i]) - lo
        q = np.int64(d * inv + 0.5)
        if q * step != d and d % step != 0:
            return False
    return True


@jit
def first_duplicate_nb(c0, lo0, st0, c1, lo1, st1, w1, c2, lo2, st2, w2, ncols, span):
    """Row of the first key seen twice (in row order), or -1. ``ncols`` of 1-3 columns are
    used; unused column arguments are ignored (pass any array)."""
    seen = np.zeros((span + 63) // 64, dtype=np.uint64)
    empty = np.zeros(0, dtype=np.int64)
    return mark_keys_nb(seen, c0, empty, lo0, st0, c1, empty, lo1, st1, w1, c2, empty, lo2, st2,
                        w2, ncols)


@jit
def mark_keys_nb(seen, c0, m0, lo0, st0, c1, m1, lo1, st1, w1, c2, m2, lo2, st2, w2, ncols):
    """Mark the keys of one chunk in ``seen`` (the bitmap ``uint64[(span + 63) // 64]``, bit
    ``key % 64`` of word ``key // 64``, shared by the chunks of a table); the row (in the chunk)
    of the first key already marked, or -1.

    Column k's value is ``m_k[c_k[i]]`` when ``m_k`` is not empty (dictionary indices through
    a lookup), else ``c_k[i]``; ``ncols`` of 1-3 columns are used.
    """
    inv0 = 1.0 / st0
    inv1 = 1.0 / st1
    inv2 = 1.0 / st2
    map0 = m0.shape[0] > 0
    map1 = m1.shape[0] > 0
    map2 = m2.shape[0] > 0
    for i in range(c0.shape[0]):
        v = np.int64(m0[c0[i]]) if map0 else np.int64(c0[i])
        key = _quotient(v - lo0, st0, inv0)
        if ncols > 1:
            v = np.int64(m1[c1[i]]) if map1 else np.int64(c1[i])
            key = key * w1 + _quotient(v - lo1, st1, inv1)
        if ncols > 2:
            v = np.int64(m2[c2[i]]) if map2 else np.int64(c2[i])
            key = key * w2 + _quotient(v - lo2, st2, inv2)
        word = key >> 6
        bit = np.uint64(1) << np.uint64(key & 63)
        if seen[word] & bit:
            return i
        seen[word] |= bit
    return -1


@jit_parallel
def mark_keys_parts_nb(seen, c0, m0, lo0, st0, c1, m1, lo1, st1, w1, c2, m2, lo2, st2, w2,
                       ncols, parts):
    """:func:`mark_keys_nb` of one chunk in ``parts`` parallel parts of its rows: whether some
    key of the chunk is marked twice (within it, or already in ``seen``); ``seen`` then holds
    the chunk's keys too. (Which row repeats is not told: the caller lists duplicates by
    sorting.)"""
    n = c0.shape[0]
    words = seen.shape[0]
    own = np.zeros((parts, words), dtype=np.uint64)
    hit = np.zeros(parts, dtype=np.bool_)
    for k in prange(parts):
        i0 = n * k // parts
        i1 = n * (k + 1) // parts
        hit[k] = mark_keys_nb(own[k], c0[i0:i1], m0, lo0, st0, c1[i0:i1], m1, lo1, st1, w1,
                              c2[i0:i1], m2, lo2, st2, w2, ncols) >= 0
    if hit.any():
        return True
    blocks = max(1, min(64, words // 4096))
    twice = np.zeros(blocks, dtype=np.bool_)
    for b in prange(blocks):
        for w in range(words * b // blocks, words * (b + 1) // blocks):
            acc = seen[w]
            for k in range(parts):
                x = own[k, w]
                if acc & x:
                    twice[b] = True
                acc |= x
            seen[w] = acc
    return twice.any()
