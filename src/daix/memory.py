"""Large working arrays from Arrow's memory pool.

A backfill allocates a few arrays of hundreds of megabytes (the decoded price columns, the
hourly price matrices and their forward-filled copies, SPEC §3.1). NumPy takes such arrays
straight from the operating system and gives them back when they are freed, so every run
faults in fresh pages again, which on a virtual machine can cost more than the work done in
them. Arrow's pool (mimalloc or jemalloc) keeps freed memory for reuse, as it does for every
Arrow read: the arrays below come from it, so a second backfill in the same process (a batch
job, a Dask worker, a benchmark round) reuses the pages of the first, and the price matrices
can reuse pages Arrow freed while decoding. Small arrays stay plain NumPy.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Arrays of at least this many bytes come from Arrow's pool.
POOL_MIN_BYTES = 1 << 20


def empty(shape: int | tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """An uninitialised, writable, C-contiguous array (like :func:`numpy.empty`)."""
    dtype = np.dtype(dtype)
    dims = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if nbytes < POOL_MIN_BYTES:
        return np.empty(dims, dtype=dtype)
    import pyarrow as pa

    buf = pa.allocate_buffer(nbytes)  # the default pool; freed when the array is
    return np.frombuffer(buf, dtype=dtype).reshape(dims)


def full(shape: int | tuple[int, ...], value: Any, dtype: Any = np.float64) -> np.ndarray:
    """An array filled with ``value`` (like :func:`numpy.full`)."""
    out = empty(shape, dtype)
    out.fill(value)
    return out


def zeros(shape: int | tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """An array of zeros (like :func:`numpy.zeros`)."""
    return full(shape, 0, dtype)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for a block (or, as ``@gc_paused()``, a function) that
    makes many small objects and no cycles (the rows of the output tables): otherwise it walks
    the whole heap again and again as the rows pile up, which costs more than the block's own
    work on a long history."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
