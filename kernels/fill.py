"""Fill a large new array on every core (``daix.memory.full``): each thread writes, and so
first touches, its own share of the pages."""

from __future__ import annotations

from daix.kernels.options import jit_parallel
from numba import prange

#: Parts of the array written in parallel.
PARTS = 64


@jit_parallel
def fill_nb(out, value):
    """``out[:] = value`` for a 1-d array, in parallel parts."""
    n = out.shape[0]
    parts = min(PARTS, max(1, n))
    for k in prange(parts):
        for i in range(n * k // parts, n * (k + 1) // parts):
            out[i] = value
