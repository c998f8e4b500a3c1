"""Numba compile options, set in one place for every kernel.

Kernels are ``*_nb`` functions taking only NumPy arrays and scalars. They treat their inputs as
read-only so that zero-copy Arrow buffers can be passed straight in.
"""

from __future__ import annotations

import os

from numba import njit

#: Options shared by every kernel: on-disk cache and the GIL released while running.
JIT_OPTIONS = {"cache": True, "nogil": True}

#: Whether kernels that can use several threads do so (``DAIX_PARALLEL=0`` turns it off).
PARALLEL = os.environ.get("DAIX_PARALLEL", "1") != "0"


def jit(func=None, **extra):
    """``numba.njit`` with the project options (cache, nogil)."""
    options = {**JIT_OPTIONS, **extra}
    if func is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(func)


def jit_parallel(func=None, **extra):
    """``jit`` with ``parallel=True`` for kernels whose outer loop is ``prange``."""
    return jit(func, parallel=PARALLEL, **extra)


def threads() -> int:
    """The threads a parallel kernel runs on (1 when parallel kernels are turned off)."""
    if not PARALLEL:
        return 1
    import numba

    return int(numba.get_num_threads())
