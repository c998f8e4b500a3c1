"""Fill a large new array on every core (``daix.memory.full``): each thread writes, and so
first touches, its own share of the pages."""

from __future__ import annotations

from daix.kernels.options import jit, jit_parallel
from numba import prange

#: Parts of the array written in parallel.
PARTS = 64


@jit_parallel
def fill_nb(out, value):
    """``out[:] = value`` for a 1-d array, in parallel parts."""
    n = out.shape[0]
    parts = min(PARTS, max(1, n))
    for k in prange(parts):
        # each part through a slice of its own: indexing the whole array from inside the
        # parallel loop is about twice slower
        _fill_part_nb(out[n * k // parts: n * (k + 1) // parts], value)


@jit
def _fill_part_nb(part, value):
    for i in range(part.shape[0]):
        part[i] = value
