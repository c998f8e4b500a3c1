"""Digests of byte ranges of a file (SPEC §7.2): which parts of an input changed, at memory
speed.

The file is given as little-endian 64-bit words (its bytes, zero-padded past the end); each
range ``[start, end)`` of bytes is digested into two 64-bit words. The range is read as its own
sequence of 8-byte words (two aligned words funnel-shifted), so the digest depends only on the
bytes, not on where they lie in the file: a row group that moved because an earlier one grew
keeps its digest. Four independent lanes (word ``j`` of the range goes to lane ``j % 4``)
multiply-xorshift their words, so the loop is not one long dependency chain; the lanes and the
range length are then mixed with splitmix64. It is a change detector, not a cryptographic hash:
equal bytes give equal digests, and a change of the bytes changes the 128-bit digest except
with negligible odds.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.hashing import splitmix64_nb
from daix.kernels.options import jit, jit_parallel
from numba import prange

_M = np.uint64(0xFFFFFFFFFFFFFFFF)


@jit
def _lane_nb(h, x, mult):
    """One lane step: mix a word in, multiply, fold the high bits down."""
    h = ((h ^ x) * mult) & _M
    return h ^ (h >> np.uint64(29))


@jit
def vword_nb(words, base, shift, j):
    """The ``j``-th 8 bytes of a range starting at byte ``8 * base + shift // 8``: two aligned
    words funnel-shifted, so the digest does not depend on where the range lies in the file."""
    if shift == 0:
        return words[base + j]
    return (words[base + j] >> np.uint64(shift)) | (
        (words[base + j + 1] << np.uint64(64 - shift)) & _M)


@jit
def range_digest_one_nb(words, start, end):
    """(d0, d1): the digest of bytes ``[start, end)`` of the file held by ``words`` (which
    has at least one zero word of padding past the file's end)."""
    m0 = np.uint64(0x9E3779B97F4A7C15)
    m1 = np.uint64(0xC2B2AE3D27D4EB4F)
    m2 = np.uint64(0x165667B19E3779F9)
    m3 = np.uint64(0xD6E8FEB86659FD93)
    h0 = np.uint64(0x243F6A8885A308D3)
    h1 = np.uint64(0x13198A2E03707344)
    h2 = np.uint64(0xA4093822299F31D0)
    h3 = np.uint64(0x082EFA98EC4E6C89)
    base = start // 8
    shift = 8 * (start % 8)
    n_bytes = end - start
    full = n_bytes // 8
    j = 0
    while j + 4 <= full:
        h0 = _lane_nb(h0, vword_nb(words, base, shift, j), m0)
        h1 = _lane_nb(h1, vword_nb(words, base, shift, j + 1), m1)
        h2 = _lane_nb(h2, vword_nb(words, base, shift, j + 2), m2)
        h3 = _lane_nb(h3, vword_nb(words, base, shift, j + 3), m3)
        j += 4
    while j < full:
        h0 = _lane_nb(h0, vword_nb(words, base, shift, j), m0)
        j += 1
    rest = n_bytes - 8 * full
    if rest > 0:  # the ragged tail: its bytes only
        x = vword_nb(words, base, shift, full)
        x = x & ((np.uint64(1) << np.uint64(8 * rest)) - np.uint64(1))
        h1 = _lane_nb(h1, x, m1)
    n = np.uint64(n_bytes)
    d0 = splitmix64_nb(splitmix64_nb(h0 ^ n) ^ h1)
    d0 = splitmix64_nb(d0 ^ h2)
    d0 = splitmix64_nb(d0 ^ h3)
    d1 = splitmix64_nb(splitmix64_nb(h3 ^ ((n * m1) & _M)) ^ h2)
    d1 = splitmix64_nb(d1 ^ h1)
    d1 = splitmix64_nb(d1 ^ h0)
    return d0, d1


@jit_parallel
def range_digests_nb(words, starts, ends, out):
    """``out[k] = digest of bytes [starts[k], ends[k])`` for every range, ranges in parallel.
    ``out`` is uint64[n, 2]."""
    for k in prange(starts.shape[0]):
        d0, d1 = range_digest_one_nb(words, starts[k], ends[k])
        out[k, 0] = d0
        out[k, 1] = d1
