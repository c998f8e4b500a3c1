"""Working arrays from Arrow's pool and the paused cycle collector (daix.memory)."""

from __future__ import annotations

import gc

import numpy as np
import pyarrow as pa
import pytest

from daix import memory


@pytest.mark.parametrize("shape", [5, (3, 4), (0, 7), (2, 1 << 17), 1 << 18])
@pytest.mark.parametrize("dtype", [np.float64, np.uint64, np.int32, np.uint8])
def test_arrays_behave_like_numpy(shape, dtype):
    want = np.full(shape, 7, dtype=dtype)
    got = memory.full(shape, 7, dtype)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.flags.c_contiguous and got.flags.writeable
    np.testing.assert_array_equal(got, want)
    got[...] = 3  # writable through and through
    assert (got == 3).all()
    np.testing.assert_array_equal(memory.zeros(shape, dtype), np.zeros(shape, dtype))
    assert memory.empty(shape, dtype).shape == want.shape


def test_large_arrays_come_from_the_arrow_pool_and_go_back():
    pool = pa.default_memory_pool()
    before = pool.bytes_allocated()
    big = memory.full((256, 1024), np.nan)  # 2 MiB: from the pool
    assert pool.bytes_allocated() - before >= big.nbytes
    view = big[10:20]
    del big
    assert pool.bytes_allocated() - before >= view.base.nbytes  # a view keeps it alive
    del view
    assert pool.bytes_allocated() == before
    small_before = pool.bytes_allocated()
    memory.full(100, 1.0)  # small: plain NumPy
    assert pool.bytes_allocated() == small_before


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with memory.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), memory.gc_paused():
        raise ValueError("inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with memory.gc_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()

    @memory.gc_paused()
    def rows(n: int) -> list[tuple[int, int]]:
        assert not gc.isenabled()
        return [(k, k) for k in range(n)]

    assert len(rows(3)) == 3 and gc.isenabled()
