"""Market data held for the index engine: dense hourly price matrices and as-of lookups.

Prices of each window become a dense ``float64[T, A]`` matrix on the hourly UTC grid (row r is
``grid_start + r`` hours), NaN where there is no usable fix (SPEC §8.2: a null, non-finite or
non-positive price counts as no price). Supply and FX are looked up as of an instant: the latest
row at or before it (SPEC §3.2, §2.2).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

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
    _filled: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.asset_index: dict[str, int] = {a: i for i, a in enumerate(self.assets)}

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
            self.matrices[window] = np.full((self.n_rows, len(self.assets)), np.nan)
        return self.matrices[window]

    def filled(self, window: str) -> np.ndarray:
        """The matrix with each column's last finite price carried forward (SPEC §3.8)."""
        if window not in self._filled:
            from daix.engine.levels import forward_fill

            self._filled[window] = forward_fill(self.matrix(window))
        return self._filled[window]

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

    Dictionary-encoded columns are mapped through their (small) dictionary; plain text is
    looked up row by row by Arrow, never as Python strings.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = pa.array(values, pa.string())
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        lookup = pc.fill_null(pc.index_in(col.dictionary.cast(pa.string()),
                                          value_set=value_set), -1)
        lookup = np.asarray(lookup.to_numpy(zero_copy_only=False), dtype=np.int64)
        idx = col.indices
        if idx.null_count:
            idx = pc.fill_null(idx, -1).to_numpy()
            return np.where(idx >= 0, lookup[np.maximum(idx, 0)], -1)
        return lookup[idx.to_numpy()]  # a gather through the small dictionary
    codes = pc.fill_null(pc.index_in(col, value_set=value_set), -1)
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)


def distinct_text(col) -> list[str]:
    """The distinct non-null values of a text column (dictionary or plain), sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        used = pc.unique(pc.drop_null(col.indices))
        return sorted(col.dictionary.take(used).to_pylist())
    return sorted(v for v in pc.unique(col).to_pylist() if v is not None)


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
                     assets: list[str] | None = None) -> PriceGrid:
    """Dense hourly matrices from a validated ``prices`` table (SPEC §6.1, §8.2).

    Rows of the ``15s`` window and rows not on a whole UTC hour are not part of the hourly grid
    and are counted (``off_grid``); unusable prices are counted (``bad_price``) and left NaN.
    """
    from daix.kernels.grid import hourly_span_nb, scatter_hourly_nb

    ts = prices.column("ts").cast("int64").to_numpy()
    price = np.asarray(prices.column("price").to_numpy(), dtype=np.float64)
    widx, wvalues = dictionary_codes(prices.column("window"))
    aidx, avalues = dictionary_codes(prices.column("asset"))
    if assets is None:
        present = np.unique(aidx) if len(aidx) else np.zeros(0, np.int64)
        assets = sorted(avalues[i] for i in present if avalues[i] is not None)
    where = {a: i for i, a in enumerate(assets)}
    acol = np.array([where.get(v, -1) for v in avalues], dtype=np.int64)
    wslot = np.array([windows.index(v) if v in windows else -1 for v in wvalues],
                     dtype=np.int64)
    lo, hi = hourly_span_nb(ts, widx, wslot)
    if hi < lo:
        raise InputError("no hourly fixes of the 15m or 1h windows (SPEC §2.7)", path=label,
                         column="ts")
    n_rows = int((hi - lo) // NS_PER_HOUR) + 1
    out = np.full((len(windows), n_rows, len(assets)), np.nan)
    used, bad, off = scatter_hourly_nb(ts, widx, wslot, aidx, acol, price, lo, out)
    counts = {"rows": len(ts), "hourly_rows": int(used), "bad_price": int(bad),
              "off_grid": int(off)}
    matrices = {w: out[k] for k, w in enumerate(windows)}
    return PriceGrid(list(assets), int(lo), n_rows, matrices, counts)


@dataclass
class AsOf:
    """A step function per key: the latest value at or before an instant (SPEC §3.2, §2.2)."""

    times: dict[str, np.ndarray]
    values: dict[str, np.ndarray]

    @classmethod
    def from_table(cls, table, key: str, value: str) -> AsOf:
        import pyarrow.compute as pc

        if table is None or table.num_rows == 0:
            return cls({}, {})
        order = pc.sort_indices(table, sort_keys=[(key, "ascending"), ("ts", "ascending")])
        t = table.take(order)
        keys = np.asarray(t.column(key).to_numpy(zero_copy_only=False))
        ts = t.column("ts").cast("int64").to_numpy()
        vals = np.asarray(t.column(value).to_numpy(zero_copy_only=False), dtype=np.float64)
        times, values = {}, {}
        bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
        for lo, hi in itertools.pairwise(bounds):
            times[str(keys[lo])] = ts[lo:hi]
            values[str(keys[lo])] = vals[lo:hi]
        return cls(times, values)

    def at(self, key: str, ts: int) -> float:
        """Latest value at or before ``ts`` (NaN when none). Zero or negative values are
        returned as they are: no fallback to an older row (SPEC §8.3)."""
        t = self.times.get(key)
        if t is None:
            return float("nan")
        i = int(np.searchsorted(t, ts, side="right")) - 1
        return float(self.values[key][i]) if i >= 0 else float("nan")

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
