"""Working arrays from kept mappings and Arrow's pool, and the paused cycle collector
(daix.memory)."""

from __future__ import annotations

import gc
import mmap
import re
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from daix.kernels.fill import fill_nb
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import fill_naive

from daix import memory

MIB = 1 << 20


@pytest.fixture
def small_mappings(monkeypatch):
    """Mappings from 2 MiB (instead of 64), none kept from earlier tests."""
    monkeypatch.setattr(memory, "MAP_MIN_BYTES", 2 * MIB)
    memory.release()
    yield
    memory.release()


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


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
@pytest.mark.parametrize("dtype", [np.float64, np.uint64, np.int32, np.uint8])
def test_fill_matches_reference(n, dtype):
    out = np.zeros(n, dtype=dtype)
    fill_nb(out, out.dtype.type(7))
    assert out.tolist() == fill_naive(n, 7)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5000), st.sampled_from([0.5, np.nan, -np.inf, 0.0]))
def test_fill_floats_property(n, value):
    out = np.ones(n)
    fill_nb(out, value)
    want = np.array(fill_naive(n, value), dtype=np.float64)
    assert np.array_equal(out, want, equal_nan=True)


@pytest.mark.parametrize("shape", [(2, 3 * MIB // 16), 3 * MIB // 8, (4, 5, MIB // 16)])
def test_mapped_arrays_behave_like_numpy(small_mappings, shape):
    want = np.full(shape, np.nan)
    got = memory.full(shape, np.nan)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.flags.c_contiguous and got.flags.writeable
    np.testing.assert_array_equal(got, want)
    got[...] = 3
    assert (got == 3).all()
    assert (memory.zeros(shape, np.int64) == 0).all()


def test_a_freed_mapping_is_reused_by_the_next_array_of_its_size(small_mappings):
    a = memory.full(MIB, 1.0)  # 8 MiB
    where = a.ctypes.data
    view = a[10:20]
    del a
    b = memory.empty(MIB)  # the first is still held by a view: a new mapping
    assert b.ctypes.data != where
    del view
    assert memory.kept_bytes() == 8 * MIB  # freed, kept
    c = memory.empty((2, MIB // 2))  # same size: the same pages
    assert c.ctypes.data == where and memory.kept_bytes() == 0
    del b, c
    assert memory.kept_bytes() == 16 * MIB
    # A request of more than half of a kept mapping reuses it; a smaller one does not.
    d = memory.empty(3 * MIB // 8)  # 3 MiB: a new mapping
    assert d.nbytes == 3 * MIB and memory.kept_bytes() == 16 * MIB
    e = memory.empty(5 * MIB // 8)  # 5 MiB: in an 8 MiB one
    assert memory.kept_bytes() == 8 * MIB
    e[:] = 2.0
    assert (e == 2.0).all()
    del d, e
    assert memory.release() == 8 * MIB + 8 * MIB + 3 * MIB
    assert memory.kept_bytes() == 0


def test_at_most_keep_bytes_are_kept(small_mappings, monkeypatch):
    monkeypatch.setattr(memory, "KEEP_BYTES", 10 * MIB)
    a, b = memory.empty(MIB), memory.empty(MIB)  # 8 MiB each
    older = a.ctypes.data
    del a
    del b  # the older one is handed back to keep 10 MiB at most
    assert memory.kept_bytes() == 8 * MIB
    assert memory.empty(MIB).ctypes.data != older


def test_mappings_shared_by_threads(small_mappings):
    errors = []

    def work(k: int) -> None:
        for i in range(30):
            arr = memory.full(MIB // 2, float(k))  # 4 MiB
            if not (arr == k).all():
                errors.append((k, i))
            del arr

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memory.kept_bytes() <= 4 * 4 * MIB  # no more than one mapping per thread kept


@pytest.mark.skipif(not hasattr(mmap, "MADV_FREE"), reason="no MADV_FREE on this platform")
def test_kept_mappings_are_private_so_their_pages_can_be_freed(small_mappings):
    """A kept mapping's pages are marked free (MADV_FREE), which the kernel refuses for a
    shared mapping: the mappings must be private, and their pages private, not shared memory.
    """
    a = memory.full(MIB, 1.0)
    where = a.ctypes.data
    del a
    (region,) = memory._MAPPINGS.free
    region.madvise(mmap.MADV_FREE)  # would raise OSError (EINVAL) on a shared mapping
    smaps = Path("/proc/self/smaps")
    if smaps.exists():  # the mapping's entry in the kernel's list: private, not shared
        heads = [x.split() for x in smaps.read_text().splitlines()
                 if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", x)]
        (perms,) = [h[1] for h in heads
                    if int(h[0].split("-")[0], 16) <= where < int(h[0].split("-")[1], 16)]
        assert perms.endswith("p"), perms
    memory.release()
