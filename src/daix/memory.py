"""Large working arrays, whose pages a later run in the process reuses.

A backfill allocates a few arrays of hundreds of megabytes (the decoded price columns, the
hourly price matrices and their forward-filled copies, SPEC §3.1). NumPy takes such arrays
straight from the operating system and gives them back when they are freed, so every run
faults in fresh pages again, which on a virtual machine can cost more than the work done in
them; and where the memory comes in huge pages (NumPy and Arrow's pool ask for them), the
kernel must first compact fragmented memory, which took 1-2 s per GB on a busy machine.

So arrays of :data:`MAP_MIN_BYTES` or more get an anonymous mapping of small pages of their
own, and when the last array over a mapping goes, the mapping is kept (its pages marked
free for the kernel to take back if memory runs short, ``MADV_FREE``) for the next array of
about its size: a second backfill in the same process (a batch job, a Dask worker, a
benchmark round) reuses the pages of the first, and the forward-filled matrices reuse those
of the decoded prices let go before them. At most :data:`KEEP_BYTES` are kept;
:func:`release` hands them all back. Arrays from 1 MiB come from Arrow's pool, smaller ones
are plain NumPy.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Arrays of at least this many bytes come from Arrow's pool.
POOL_MIN_BYTES = 1 << 20
#: Arrays of at least this many bytes get a mapping of their own, kept for reuse when freed.
MAP_MIN_BYTES = 64 << 20
#: Freed mappings kept for reuse: at most this many bytes in all (a quarter of the memory).
KEEP_BYTES = (os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
              if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names else 4 << 30)


class _Mappings:
    """Anonymous mappings handed out as arrays and kept for reuse when freed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: list[mmap.mmap] = []  # kept for reuse, oldest first

    def take(self, nbytes: int) -> np.ndarray:
        """``nbytes`` bytes (uint8) of a kept mapping of at most twice that size, or of a new
        one; given back when the last array over them goes."""
        with self.lock:
            fits = [r for r in self.free if nbytes <= len(r) <= 2 * nbytes]
            region = min(fits, key=len) if fits else None
            if region is not None:
                self.free.remove(region)
        if region is None:
            # private: MADV_FREE applies to private anonymous pages only (on a shared
            # mapping, which mmap.mmap(-1, n) makes by default, it fails and the pages stay)
            region = mmap.mmap(-1, nbytes, **_PRIVATE)
            _advise(region, "MADV_NOHUGEPAGE")
        out = np.frombuffer(region, dtype=np.uint8, count=nbytes)
        # The memoryview NumPy holds the mapping by lives as long as any array over it.
        weakref.finalize(out.base, self.give_back, region).atexit = False
        return out

    def give_back(self, region: mmap.mmap) -> None:
        _advise(region, "MADV_FREE")
        with self.lock:
            self.free.append(region)
            while sum(len(r) for r in self.free) > KEEP_BYTES:
                self.free.pop(0).close()

    def release(self) -> int:
        with self.lock:
            gone, self.free = self.free, []
        size = sum(len(r) for r in gone)
        for region in gone:
            region.close()
        return size


#: A private mapping where the platform has the flag (not on Windows).
_PRIVATE = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}


def _advise(region: mmap.mmap, name: str) -> None:
    advice = getattr(mmap, name, None)
    if advice is not None:
        with contextlib.suppress(OSError):  # a kernel without it: nothing to do
            region.madvise(advice)


_MAPPINGS = _Mappings()


def release() -> int:
    """Hand every kept mapping back to the operating system; the bytes they held."""
    return _MAPPINGS.release()


def kept_bytes() -> int:
    """Bytes of the mappings kept for reuse."""
    with _MAPPINGS.lock:
        return sum(len(r) for r in _MAPPINGS.free)


def empty(shape: int | tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """An uninitialised, writable, C-contiguous array (like :func:`numpy.empty`)."""
    dtype = np.dtype(dtype)
    dims = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if nbytes < POOL_MIN_BYTES:
        return np.empty(dims, dtype=dtype)
    if nbytes >= MAP_MIN_BYTES:
        return _MAPPINGS.take(nbytes).view(dtype).reshape(dims)
    import pyarrow as pa

    buf = pa.allocate_buffer(nbytes)  # the default pool; freed when the array is
    return np.frombuffer(buf, dtype=dtype).reshape(dims)


def full(shape: int | tuple[int, ...], value: Any, dtype: Any = np.float64) -> np.ndarray:
    """An array filled with ``value`` (like :func:`numpy.full`); a large one is filled by every
    core, each first touching its own share of new pages."""
    out = empty(shape, dtype)
    if out.nbytes >= MAP_MIN_BYTES:
        from daix.kernels.fill import fill_nb

        fill_nb(out.reshape(-1), out.dtype.type(value))
    else:
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
