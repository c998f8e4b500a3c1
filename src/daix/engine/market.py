"""Market data held for the index engine: dense hourly price matrices and as-of lookups.

Prices of each window become a dense ``float64[T, A]`` matrix on the hourly UTC grid (row r is
``grid_start + r`` hours), NaN where there is no usable fix (SPEC §8.2: a null, non-finite or
non-positive price counts as no price). Supply and FX are looked up as of an instant: the latest
row at or before it (SPEC §3.2, §2.2).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daix.convert import DictionaryChunks, int64_chunk
from daix.errors import InputError
from daix.timeutil import NS_PER_HOUR


@dataclass
class PriceGrid:
    """Hourly fix matrices per window over one asset list."""

    assets: list[str]
    grid_start: int  # ns of row 0
    n_rows: int
    matrices: dict[str, np.ndarray]  # window -> float64[T, A]
    counts: dict[str, int] = field(default_factory=dict)  # manifest counts (SPEC §8.2)
    #: (path, windows): a ``.npy`` file holding a copy of the ``(windows, rows, assets)`` array
    #: the matrices of ``windows`` are views of (:func:`build_price_grid` with ``spool``),
    #: being written while ``writing`` runs (:meth:`spooled`); None: in memory only.
    file: tuple | None = None
    writing: Any = field(default=None, repr=False, compare=False)  # a Future, or None
    _filled: dict[str, np.ndarray] = field(default_factory=dict)
    _fresh: dict[str, np.ndarray] = field(default_factory=dict)  # set with ``_filled``

    def __post_init__(self) -> None:
        self.asset_index: dict[str, int] = {a: i for i, a in enumerate(self.assets)}

    def spooled(self) -> tuple | None:
        """:attr:`file` once it is completely written (waits for the writer; raises its
        error), or None when the grid was not spooled or its file is gone."""
        if self.writing is not None:
            self.writing.result()
        if self.file is None or not self.file[0].exists():
            return None
        return self.file

    @property
    def grid_end(self) -> int:
        """ns of the last row."""
        return self.grid_start + (self.n_rows - 1) * NS_PER_HOUR

    def row(self, ts: int) -> int:
        """Row of a whole-hour instant (may be outside ``[0, n_rows)``)."""
        return (int(ts) - self.grid_start) // NS_PER_HOUR

    def rows(self, ts: np.ndarray) -> np.ndarray:
        return (np.asarray(ts, dtype=np.int64) - self.grid_start) // NS_PER_HOUR

    def inside(self, ts: int) -> bool:
        return self.grid_start <= ts <= self.grid_end

    def matrix(self, window: str) -> np.ndarray:
        if window not in self.matrices:
            from daix import memory

            self.matrices[window] = memory.full((self.n_rows, len(self.assets)), np.nan)
        return self.matrices[window]

    def filled(self, window: str) -> np.ndarray:
        """The matrix with each column's last finite price carried forward (SPEC §3.8)."""
        if window not in self._filled:
            from daix.engine.levels import forward_fill_fresh

            # The fresh mask comes with the fill, in the same pass over the matrix.
            self._filled[window], self._fresh[window] = forward_fill_fresh(self.matrix(window))
        return self._filled[window]

    def fresh_bits(self, window: str) -> np.ndarray:
        """The matrix's fresh mask ``isfinite`` packed 64 assets to a uint64 word (SPEC §3.8,
        ``daix.engine.levels.fresh_bits``), made and dropped together with :meth:`filled`."""
        if window not in self._filled or window not in self._fresh:
            self._filled.pop(window, None)
            self.filled(window)
        return self._fresh[window]

    def fresh(self, window: str, ts: int, asset: str) -> float:
        """The fix of ``asset`` at exactly ``ts`` (NaN when none or off the grid)."""
        r = self.row(ts)
        a = self.asset_index.get(asset)
        if a is None or r < 0 or r >= self.n_rows:
            return float("nan")
        return float(self.matrix(window)[r, a])

    def last(self, window: str, ts: int, asset: str) -> float:
        """The last fix of ``asset`` at or before ``ts`` (NaN when none)."""
        r = min(self.row(ts), self.n_rows - 1)
        a = self.asset_index.get(asset)
        if a is None or r < 0:
            return float("nan")
        return float(self.filled(window)[r, a])


def text_codes(col, values: list[str]):
    """Positions of a text column's values in ``values`` (-1 where absent), as int64.

    Dictionary-encoded columns are mapped through their (small) dictionaries chunk by chunk;
    plain text is encoded first. When every row gets the same code (no row holds one of
    ``values``, typically) the result is a read-only broadcast of that code: no allocation.
    """
    where = {v: i for i, v in enumerate(values)}
    chunks = DictionaryChunks.of(col)
    lookups = chunks.lookups(lambda v: where.get(v, -1) if v is not None else -1)
    n = sum(len(i) for i in chunks.indices)
    used = {int(x) for k in set(chunks.which) for x in np.unique(lookups[k])}
    if len(used) <= 1:
        return np.broadcast_to(np.int64(used.pop() if used else -1), (n,))
    out = np.empty(n, dtype=np.int64)
    at = 0
    for idx, k in zip(chunks.indices, chunks.which, strict=True):
        np.take(lookups[k], idx, out=out[at:at + len(idx)])
        at += len(idx)
    return out


def distinct_text(col) -> list[str]:
    """The distinct non-null values of a text column (dictionary or plain), sorted."""
    return sorted(DictionaryChunks.of(col).used())


def dictionary_codes(col):
    """(indices as a NumPy int array, dictionary values) of a text column, nulls as -1."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    idx = col.indices
    values = col.dictionary.cast(pa.string()).to_pylist()
    if idx.null_count:
        return pc.fill_null(idx, len(values)).to_numpy(), [*values, None]
    return idx.to_numpy(), values


def build_price_grid(prices, label: str = "prices", windows: tuple[str, ...] = ("15m", "1h"),
                     assets: list[str] | None = None, spool=None,
                     check_keys: bool = False) -> PriceGrid:
    """Dense hourly matrices from a validated ``prices`` table (SPEC §6.1, §8.2).

    Rows of the ``15s`` window are not part of the hourly grid (the real-time stream counts
    them, :class:`daix.engine.single.TickStream`); rows of the hourly windows not on a whole
    UTC hour are counted (``off_grid``); unusable prices on the grid are counted
    (``bad_price``) and left NaN.
    The table is read chunk by chunk as it is held (no combined copy of a column); a null
    ``ts`` is off the grid. With ``spool`` (a directory) the matrices are also saved to a file
    there, in the background (:func:`spool_matrices`), which ``state/`` can then link instead
    of writing them again.

    ``check_keys``: also settle that no two rows share a key (SPEC §6.2), as
    :func:`daix.io.conform` would, at little cost: when every row lands on the grid with a
    usable price, the keys are unique exactly when as many cells hold a price as there are
    rows (a duplicate writes one cell twice); otherwise :func:`daix.io.check_unique` checks
    the table. A duplicate raises InputError before anything is spooled.
    """
    from daix.kernels.grid import scatter_hourly_nb, span_and_used_nb

    batches = prices.select(["ts", "asset", "window", "price"]).to_batches()
    ts = [int64_chunk(b.column(0), 1) for b in batches]
    price = [np.asarray(b.column(3).to_numpy(zero_copy_only=False), dtype=np.float64)
             for b in batches]
    win = DictionaryChunks.of([b.column(2) for b in batches])
    ast = DictionaryChunks.of([b.column(1) for b in batches])
    wslots = win.lookups(lambda v: windows.index(v) if v in windows else -1)
    marks = [np.zeros(len(d), dtype=np.bool_) for d in ast.dictionaries]
    lo, hi = 0, -1
    for k in range(len(batches)):
        c_lo, c_hi = span_and_used_nb(ts[k], win.indices[k], wslots[win.which[k]],
                                      ast.indices[k], marks[ast.which[k]])
        if c_hi >= c_lo:
            lo, hi = (c_lo, c_hi) if hi < lo else (min(lo, c_lo), max(hi, c_hi))
    if hi < lo:
        raise InputError("no hourly fixes of the 15m or 1h windows (SPEC §2.7)", path=label,
                         column="ts")
    if assets is None:
        assets = sorted({d[i] for d, m in zip(ast.dictionaries, marks, strict=True)
                         for i in np.flatnonzero(m) if d[i] is not None})
    where = {a: i for i, a in enumerate(assets)}
    acols = ast.lookups(lambda v: where.get(v, -1) if v is not None else -1)
    n_rows = int((hi - lo) // NS_PER_HOUR) + 1
    from daix import memory

    shape = (len(windows), n_rows, len(assets))
    out = memory.full(shape, np.nan)  # pages reused
    used = bad = off = 0
    for k in range(len(batches)):
        u, b, o = scatter_hourly_nb(ts[k], win.indices[k], wslots[win.which[k]],
                                    ast.indices[k], acols[ast.which[k]], price[k], lo, out)
        used, bad, off = used + u, bad + b, off + o
    if check_keys:
        _check_grid_keys(prices, label, out, used, bad)
    counts = {"rows": prices.num_rows, "hourly_rows": int(used), "bad_price": int(bad),
              "off_grid": int(off)}
    matrices = {w: out[k] for k, w in enumerate(windows)}
    grid = PriceGrid(list(assets), int(lo), n_rows, matrices, counts)
    if spool is not None:
        path, grid.writing = spool_matrices(spool, out)
        grid.file = (path, tuple(windows))
        # The file goes with the grid (a hard link made by ``state/`` keeps its data).
        weakref.finalize(grid, _unlink_quietly, path)
    return grid


def _check_grid_keys(prices, label: str, out: np.ndarray, used: int, bad: int) -> None:
    """No duplicate ``(ts, asset, window)`` among the rows just scattered into ``out`` (NaN
    before; SPEC §6.2): see :func:`build_price_grid`."""
    from daix.io import check_unique
    from daix.kernels.grid import count_finite_nb
    from daix.schemas import INPUTS

    if used == prices.num_rows and bad == 0 and int(count_finite_nb(out)) == used:
        return
    check_unique(prices, INPUTS["prices"].key, label)


def spool_matrices(spool, array: np.ndarray) -> tuple[Path, Any]:
    """Save ``array`` as a new ``.npy`` file in the directory ``spool``, in a background thread
    (the write releases the GIL: it runs beside the reviews); (path, future of the write).

    The matrices themselves stay in memory (:mod:`daix.memory`, whose pages a later run
    reuses, while a file's pages are new every time); the file is what ``state/`` links. A
    failed write removes the file and raises from the future. ``array`` must not change until
    the write is done.
    """
    from concurrent.futures import ThreadPoolExecutor

    while True:  # like tempfile.mkstemp, but with the permissions of a file np.save writes
        name = os.path.join(spool, f".daix-grid-{secrets.token_hex(8)}.npy")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue

    def write() -> None:
        # Through the descriptor opened above: once the name is removed (the grid gone, a
        # failed run), the write goes to no file, and never creates the name again.
        try:
            with os.fdopen(fd, "wb") as f:
                np.lib.format.write_array(f, array, allow_pickle=False)
        except BaseException:
            _unlink_quietly(name)
            raise

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="daix-spool")
    try:
        return Path(name), pool.submit(write)
    except BaseException:
        os.close(fd)
        _unlink_quietly(name)
        raise
    finally:
        pool.shutdown(wait=False)


def _unlink_quietly(path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@dataclass
class AsOf:
    """A step function per key: the latest value at or before an instant (SPEC §3.2, §2.2)."""

    times: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    #: Set by :meth:`from_table` for :meth:`snapshot`: (key of each non-empty group, its
    #: code, every key's times and values in one array, where each code's rows start).
    _groups: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_table(cls, table, key: str, value: str) -> AsOf:
        """One step function per value of ``key`` (rows in time order; a null key is the
        key ``"None"``, a null instant sorts last)."""
        if table is None or table.num_rows == 0:
            return cls({}, {})
        from daix.engine.grouping import group_order, int64_keys, text_rank_codes

        codes, names = text_rank_codes(table.column(key))
        ts = int64_keys(table.column("ts"))
        vals = np.asarray(table.column(value).to_numpy(zero_copy_only=False), dtype=np.float64)
        order, starts, ts = group_order(codes, len(names) + 1, ts)  # by key, then time
        vals = vals[order]
        names.append("None")
        times, values, used = {}, {}, []
        for code, (lo, hi) in enumerate(itertools.pairwise(starts)):
            if hi > lo:
                times[names[code]] = ts[lo:hi]
                values[names[code]] = vals[lo:hi]
                used.append(code)
        out = cls(times, values)
        out._groups = ([names[c] for c in used], np.array(used, dtype=np.int64), ts, vals,
                       starts)
        return out

    def at(self, key: str, ts: int) -> float:
        """Latest value at or before ``ts`` (NaN when none). Zero or negative values are
        returned as they are: no fallback to an older row (SPEC §8.3)."""
        t = self.times.get(key)
        if t is None:
            return float("nan")
        i = int(np.searchsorted(t, ts, side="right")) - 1
        return float(self.values[key][i]) if i >= 0 else float("nan")

    def snapshot(self, ts: int) -> dict[str, float]:
        """:meth:`at` of every key at one instant, as a dict (a key with no row at or before
        ``ts`` maps to NaN); one pass over the keys in a kernel."""
        if self._groups is None:
            return {k: self.at(k, ts) for k in self.times}
        from daix.kernels.grouping import asof_rows_nb

        keys, used, times, values, starts = self._groups
        rows = asof_rows_nb(times, starts, np.int64(ts))[used]
        found = np.where(rows >= 0, values[rows], np.nan)
        return dict(zip(keys, found.tolist(), strict=True))

    def series(self, key: str, ts: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`at` over many instants."""
        t = self.times.get(key)
        out = np.full(len(ts), np.nan)
        if t is None:
            return out
        i = np.searchsorted(t, ts, side="right") - 1
        ok = i >= 0
        out[ok] = self.values[key][i[ok]]
        return out
