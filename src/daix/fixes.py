"""Reference price fixes from trades (SPEC §2, §8.1): the public wrapper of ``kernels/fixes.py``.

:func:`compute_fixes` reads the ``trades`` table batch by batch (:mod:`daix.fixes_input`) and
feeds each batch to Numba kernels that reject invalid trades (SPEC §2.3, counted under the
first failing reason of SPEC §8.1), convert prices to USD (SPEC §2.2) and add them to dense
per-series sums in time buckets (15 min, or 15 s for the real-time stream), shared by all
batches: in one pass when the batch is in time order, else after a stable counting sort of the
batch by time bucket, so that the sums are read from cache rather than all over memory. A last
kernel turns the buckets into the windows of SPEC §2.5 with the median screen of SPEC §2.4 and
carries the last fix over empty windows (SPEC §2.6). Sums are taken in input order, one thread
per cell, so neither the batch size nor the number of threads changes a bit; a permutation of
the trades may change the last bits. Batches of a table in memory have their quotes checked
one by one (SPEC §2.2: the error still names every unknown quote of the table); a file's quote
column is read first.

Choices where the SPEC is open (each tested in ``tests/test_fixes.py``):

* A vetted period is half-open, ``valid_from <= ts < valid_to``; a null ``valid_to`` has no end
  and a null ``valid_from`` no start. An exchange may have several rows (several periods).
* A row with no previous fix has a null price and ``stale = True`` (it is not a fresh fix).
* A stale row has volume 0 and every count 0, ``n_excluded`` included, even when the window was
  stale because the screen excluded every market (SPEC §8.1); the run report still counts those
  markets under ``markets_excluded``.
* Rows are sorted by window (``15m`` before ``1h``), then asset, then ts.
* The grid lists every asset appearing in the trades table, even one whose trades were all
  rejected (its prices are null).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from daix.errors import ConfigError
from daix.fixes_input import (
    CODE_COLUMNS,
    INT64_MAX,
    INT64_MIN,
    Encoded,
    FxIndex,
    TradeSource,
    Vetting,
    check_quotes,
    known_quotes,
)
from daix.timeutil import NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND, ns_to_iso, step_times

#: Window lengths of SPEC §2.5 in ns; ``15s`` is the real-time stream.
WINDOW_NS = {"15m": 15 * NS_PER_MINUTE, "1h": NS_PER_HOUR, "15s": 15 * NS_PER_SECOND}
#: Rejection reasons in the order of SPEC §8.1 (the first failing one is counted).
REASONS = ("price", "size", "unknown_exchange", "outside_vetted_period", "before_first_fx")
#: Batches whose dictionaries make at most this many (asset, exchange, quote) triples give
#: each triple a series without looking for the ones used (an unused one stays empty), when
#: their sums take at most 256 MiB.
DENSE_SERIES = 4096
#: Largest dense table of bucket sums (series x buckets x 24 bytes) a run may allocate.
MAX_BUCKET_BYTES = 16 << 30
#: Series and address space reserved for the bucket sums at first, whichever is less (only
#: the series used take memory).
RESERVE_SERIES = 4096
RESERVE_BYTES = 1 << 30
#: Batches of fewer rows run on one thread.
PARALLEL_ROWS = 1 << 15
#: Parts a batch is cut into (rows for the counting sort, time ranges for trades in time
#: order); None: one per thread. Results do not depend on it.
PARTS: int | None = None
#: Most keys of the counting sort of unsorted trades: the sort key is a run of buckets, so
#: that the write position of every key stays in cache.
SORT_KEYS = 256


@dataclass
class FixResult:
    """Fixes (SPEC §2.6 columns, ``daix.schemas.OUTPUTS["fixes"]``) and the run report."""

    table: Any
    report: dict = field(default_factory=dict)


def fix_grid(start_ns: int, end_ns: int, step_ns: int):
    """Grid times: every multiple of ``step_ns`` since the epoch with S <= T <= E (SPEC §8.1)."""
    return step_times(start_ns, end_ns, step_ns)


def compute_fixes(
    data,
    start_ns: int,
    end_ns: int,
    *,
    realtime: bool = False,
    ped: float = 0.05,
    windows: tuple[str, ...] = ("15m", "1h"),
    batch_rows: int | None = None,
) -> FixResult:
    """Fixes of every asset of the trades table at every grid time of [start_ns, end_ns].

    Hourly (SPEC §2.7): every whole UTC hour, one row per window of ``windows`` (``15m``,
    ``1h``). ``realtime``: every 15-second tick, window ``15s`` (``windows`` is then unused).
    ``data`` is a :class:`daix.io.DataSet`, a data directory or a ``{name: table}`` mapping
    holding ``trades``, ``fx`` (unless every quote is USD) and optionally ``exchanges``.
    ``batch_rows`` bounds the rows read at a time; the result does not depend on it.
    """
    from daix.io import DataSet

    windows = _check_args(start_ns, end_ns, realtime, ped, windows, batch_rows)
    ds = data if isinstance(data, DataSet) else DataSet(data)
    clock = _Clock()
    source = TradeSource(ds, batch_rows, reuse_buffers=True)
    fx = ds.table("fx", required=False)
    known = known_quotes(fx)
    if source.path is not None:  # a file: a pass over the quote column first
        check_quotes(source, fx, known=known)
    fx_index = FxIndex(fx, ds.label("fx") if fx is not None else "fx")
    exchanges = ds.table("exchanges", required=False)
    vetting = Vetting(exchanges, ds.label("exchanges")) if exchanges is not None else None
    clock.lap("read")

    step = 15 * NS_PER_SECOND if realtime else NS_PER_HOUR
    bucket = 15 * NS_PER_SECOND if realtime else 15 * NS_PER_MINUTE
    ticks = fix_grid(start_ns, end_ns, step)
    acc = _Accumulator(ticks, step, bucket, fx_index, vetting)
    from daix.progress import track

    for raw in track(source.batches(), "fixes: reading trades", total=source.total_batches):
        batch = source.encode(raw)
        if source.path is None:  # in memory: the quotes of each batch before its trades
            check_quotes(source, fx, batch, known=known)
        clock.lap("read")
        acc.add(batch)
        clock.lap("accumulate")

    names, asset_ptr, asset_series, series_keys = acc.series_by_asset()
    results = {}
    sums = acc.buckets()
    small = len(asset_series) * acc.n_buckets < PARALLEL_ROWS
    with _threads(1 if small else acc.parts):
        for label in windows:
            first, stride, width = _window_buckets(label, realtime)
            results[label] = _kernel().window_fixes_nb(
                sums, asset_ptr, asset_series, len(ticks), first, stride, width, float(ped))
    clock.lap("windows")
    table = _fixes_table(ticks, names, results)
    clock.lap("table")
    report = _report(acc, results, series_keys, table, windows, start_ns, end_ns, clock)
    return FixResult(table=table, report=report)


# --- arguments ------------------------------------------------------------------------------


def _check_args(start_ns, end_ns, realtime, ped, windows, batch_rows) -> tuple[str, ...]:
    if int(start_ns) > int(end_ns):
        raise ConfigError(f"start {ns_to_iso(start_ns)} is after end {ns_to_iso(end_ns)}")
    if not (isinstance(ped, (int, float)) and math.isfinite(ped) and ped >= 0):
        raise ConfigError(f"ped must be a finite number >= 0 (SPEC §2.4), got {ped!r}")
    if batch_rows is not None and int(batch_rows) < 1:
        raise ConfigError(f"batch_rows must be a positive number of rows, got {batch_rows!r}")
    if realtime:
        return ("15s",)
    if isinstance(windows, str):
        windows = (windows,)
    bad = [w for w in windows if w not in ("15m", "1h")]
    if bad or not windows:
        raise ConfigError(
            f"unknown fix window(s) {bad or list(windows)}: hourly fixes use 15m and/or 1h "
            "(SPEC §2.5); the 15s stream needs realtime=True"
        )
    return tuple(w for w in ("15m", "1h") if w in windows)


def _window_buckets(label: str, realtime: bool) -> tuple[int, int, int]:
    """(first bucket, buckets per tick, buckets per window): buckets start 1 h before T0."""
    if realtime:
        return 0, 1, 1
    return (3, 4, 1) if label == "15m" else (0, 4, 4)


def _kernel():
    from daix.kernels import fixes

    return fixes


class _Clock:
    """Seconds per stage, for the report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now


# --- accumulation ----------------------------------------------------------------------------


class _Accumulator:
    """Global dictionaries, the series table and the dense bucket sums shared by all batches."""

    def __init__(self, ticks, step: int, bucket: int, fx: FxIndex, vetting: Vetting | None):
        import numba
        import numpy as np

        from daix.kernels.options import PARALLEL

        self.np = np
        self.base = int(ticks[0]) - step if len(ticks) else 0
        self.bucket = bucket
        self.n_buckets = len(ticks) * (step // bucket)
        self.fx = fx
        self.vetting = vetting
        self.parts = PARTS or (numba.get_num_threads() if PARALLEL else 1)
        self.names: dict[str, dict[str, int]] = {c: {} for c in CODE_COLUMNS}
        self.asset_seen = np.zeros(0, dtype=np.bool_)
        self.series: dict[tuple[int, int, int], int] = {}  # global codes -> series id
        self.n_series = 0
        self.acc = np.zeros((0, self.n_buckets, 3))
        self.series_used = np.zeros(0, dtype=np.bool_)
        self.counts = np.zeros((self.parts, _kernel().N_COUNTS), dtype=np.int64)
        self.trades_read = 0
        self._starts = self.base + bucket * np.arange(max(1, self.n_buckets), dtype=np.int64)
        self._rec = None  # records of the counting sort, reused by every batch
        self._rec_cell = None

    def _codes(self, column: str, values: list[str]):
        """Global codes of a batch dictionary, extending the global dictionary."""
        table = self.names[column]
        return self.np.array([table.setdefault(v, len(table)) for v in values],
                             dtype=self.np.int64)

    def _grow(self) -> None:
        """The asset flags sized to the global dictionary."""
        n = len(self.names["asset"])
        if len(self.asset_seen) < n:
            self.asset_seen = self.np.concatenate([self.asset_seen, self.np.zeros(
                n - len(self.asset_seen), dtype=self.np.bool_)])

    def _series_of(self, batch: Encoded, maps, parts: int):
        """Series id of each (asset, exchange, quote) code triple of the batch (-1: unused).

        Small dictionaries take every triple (an unused one stays an empty series); larger
        ones take the triples some trade uses. New series get ids in key order.
        """
        np = self.np
        kernel = _kernel()
        n_a, n_e, n_q = (len(m) for m in maps)
        if n_a * n_e * n_q <= DENSE_SERIES and n_a * n_e * n_q * self.n_buckets * 24 <= 1 << 28:
            combos = np.arange(n_a * n_e * n_q)
            ordered = kernel.is_sorted_nb(batch.ts)
        else:
            seen = np.zeros((parts, n_a * n_e * n_q), dtype=np.uint8)
            ordered = kernel.mark_series_nb(
                batch.ts, *(batch.codes[c] for c in CODE_COLUMNS), n_e, n_q, seen)
            combos = np.flatnonzero(seen.any(axis=0))
        a_l, rest = np.divmod(combos, n_e * n_q)
        keys = zip(maps[0][a_l].tolist(), maps[1][rest // n_q].tolist(),
                   maps[2][rest % n_q].tolist(), strict=True)
        series = self.series
        ids = [series.setdefault(k, len(series)) for k in keys]
        self.n_series = len(series)
        series_of = np.full(n_a * n_e * n_q, -1, dtype=np.int64)
        series_of[combos] = ids
        return series_of, bool(ordered)

    def _owners(self, ts, parts: int):
        """Time partitions of sorted trades on bucket edges, splitting the rows about evenly."""
        np = self.np
        bounds = [INT64_MIN]
        for j in range(1, parts):
            sample = int(ts[len(ts) * j // parts])
            edge = self.base + (sample - self.base) // self.bucket * self.bucket
            bounds.append(min(max(edge, bounds[-1], INT64_MIN), INT64_MAX))
        bounds.append(INT64_MAX)
        return np.array(bounds, dtype=np.int64)

    def add(self, batch: Encoded) -> None:
        """Validate, convert and accumulate one batch (SPEC §2.2-§2.4)."""
        maps = [self._codes(c, batch.dictionaries[c]) for c in CODE_COLUMNS]
        self._grow()
        self.trades_read += len(batch.ts)
        if not len(batch.ts):
            return
        # a small batch on one thread: waking the others would cost more than it saves
        parts = self.parts if len(batch.ts) >= PARALLEL_ROWS else 1
        with _threads(parts):
            self._add(batch, maps, parts)

    def _add(self, batch: Encoded, maps, parts: int) -> None:
        np = self.np
        filled = self.n_series  # the series whose sums may be non-zero
        series_of, ordered = self._series_of(batch, maps, parts)
        if self.n_series > len(self.acc):
            need = self.n_buckets * self.n_series * 24
            if need > MAX_BUCKET_BYTES:
                raise ConfigError(
                    f"{self.n_series:,} markets x {self.n_buckets:,} time buckets need "
                    f"{need / 2**30:.1f} GiB of sums (limit {MAX_BUCKET_BYTES / 2**30:.0f} GiB): "
                    "compute a shorter range at a time")
            # room to grow, since a larger table is a copy: the rows of unused series are
            # never written, so they take address space but no memory
            row = max(1, self.n_buckets) * 24
            room = max(2 * self.n_series, min(RESERVE_SERIES, RESERVE_BYTES // row))
            room = min(room, max(self.n_series, MAX_BUCKET_BYTES // row, 1),
                       (2**31 - 1) // max(1, self.n_buckets))  # cells fit int32
            acc = np.zeros((room, self.n_buckets, 3))
            acc[:filled] = self.acc[:filled]
            self.acc = acc
        vet = self.vetting
        quotes = batch.dictionaries["quote"]
        fx_seg = np.array([self.fx.segment(q) for q in quotes], dtype=np.int64).reshape(-1, 2)
        starts = self._starts
        fx_at = np.stack([self.fx.at_buckets(q, starts) for q in quotes]) if quotes else \
            np.zeros((0, len(starts)), dtype=np.int64)
        fx_flat = np.stack([self.fx.flat_buckets(q, starts, self.bucket) for q in quotes]) \
            if quotes else np.zeros((0, len(starts)))
        ex_seg = np.array([vet.segment(e) if vet else (-1, -1)
                           for e in batch.dictionaries["exchange"]], dtype=np.int64).reshape(-1, 2)
        # the periods end with one that never matches (read for an unknown exchange)
        periods = (vet.period_from, vet.period_to) if vet else (
            np.array([INT64_MAX], dtype=np.int64), np.array([INT64_MIN], dtype=np.int64))
        seen = np.zeros((parts, len(maps[0])), dtype=np.bool_)
        used = np.zeros((parts, self.n_series), dtype=np.bool_)
        common = (
            batch.ts, *(batch.codes[c] for c in CODE_COLUMNS), batch.price, batch.size,
            series_of, len(maps[1]), len(maps[2]), np.ascontiguousarray(fx_seg[:, 0]),
            np.ascontiguousarray(fx_seg[:, 1]), self.fx.ts, self.fx.rate, fx_at, fx_flat,
            vet is not None, np.ascontiguousarray(ex_seg[:, 0]),
            np.ascontiguousarray(ex_seg[:, 1]), *periods, np.int64(self.base),
            np.int64(self.bucket))
        if ordered:
            _kernel().accumulate_sorted_nb(*common, self._owners(batch.ts, parts),
                                           self.acc[: self.n_series], self.counts, seen, used)
        else:
            self._add_unsorted(batch, common, seen, used, parts)
        self.asset_seen[maps[0][seen.any(axis=0)]] = True
        used = used.any(axis=0)
        used[: len(self.series_used)] |= self.series_used[: len(used)]
        self.series_used = used

    def _add_unsorted(self, batch: Encoded, common: tuple, seen, used, parts: int) -> None:
        """Trades in any order: a stable counting sort by runs of buckets, then the sums (see
        the kernels); each part of the rows keeps its own cursors, so the sort is parallel."""
        np = self.np
        k = _kernel()
        n = len(batch.ts)
        n_buckets = self.n_buckets
        # runs of 2**shift buckets: at most SORT_KEYS keys, whose write positions stay in cache
        shift = max(0, (n_buckets - 1).bit_length() - SORT_KEYS.bit_length() + 1)
        n_keys = ((n_buckets - 1) >> shift) + 1 if n_buckets else 0
        bounds = np.array([n * j // parts for j in range(parts + 1)], dtype=np.int64)
        hist = np.zeros((parts, n_keys + 1), dtype=np.int64)
        base, bucket = np.int64(self.base), np.int64(self.bucket)
        k.bucket_counts_nb(batch.ts, base, bucket, np.int64(n_buckets), np.int64(shift), bounds,
                           hist)
        per_key = hist[:, :-1]
        # slots key by key, and within a key part by part (input order)
        ends = np.cumsum(per_key.T.reshape(-1)).reshape(n_keys, parts).T
        starts = np.ascontiguousarray(ends - per_key)
        cursor = starts.copy()
        records = int(per_key.sum())
        if self._rec is None or len(self._rec) < records:
            self._rec = np.empty((max(records, 1), 2))
            self._rec_cell = np.empty(max(records, 1), dtype=np.int32)
        k.scatter_trades_nb(*common, np.int64(n_buckets), np.int64(shift), bounds, cursor,
                            self._rec, self._rec_cell, self.counts, seen, used)
        # ranges of keys holding about the same number of records, one per thread
        filled = np.cumsum((cursor - starts).sum(axis=0))
        split = np.searchsorted(filled, filled[-1] * np.arange(1, parts) / parts,
                                side="right") if n_keys else np.zeros(parts - 1, dtype=np.int64)
        owner = np.concatenate([[0], split, [n_keys]]).astype(np.int64)
        cells = self.acc.view()
        cells.shape = (-1, 3)  # a view of the same sums (never a copy)
        k.accumulate_records_nb(starts, cursor, self._rec, self._rec_cell, owner, cells)

    def buckets(self):
        """The bucket sums of the series so far, ``[series, bucket, V/PV/N]``."""
        return self.acc[: self.n_series]

    def series_by_asset(self):
        """Assets in name order and, per asset, its series ordered by (exchange, quote)."""
        np = self.np
        assets, exchanges, quotes = (list(self.names[c]) for c in CODE_COLUMNS)
        names = sorted(a for i, a in enumerate(assets) if self.asset_seen[i])
        rank = {a: r for r, a in enumerate(names)}
        used = self.series_used
        keyed = sorted((rank[assets[a]], exchanges[e], quotes[q], sid)
                       for (a, e, q), sid in self.series.items() if sid < len(used) and used[sid])
        ptr = np.zeros(len(names) + 1, dtype=np.int64)
        for r, *_ in keyed:
            ptr[r + 1] += 1
        keys: list[tuple[str, str]] = [("", "")] * self.n_series
        for _, e, q, sid in keyed:
            keys[sid] = (e, q)
        series = np.array([k[3] for k in keyed], dtype=np.int64)
        return names, np.cumsum(ptr), series, keys


@contextmanager
def _threads(n: int):
    """At most ``n`` threads for the kernels called in the block."""
    import numba

    before = numba.get_num_threads()
    if n >= before:
        yield
        return
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


# --- output ----------------------------------------------------------------------------------


def _fixes_table(ticks, names: list[str], results: dict):
    """The SPEC §2.6 table, sorted by window, asset, ts."""
    import numpy as np
    import pyarrow as pa

    from daix.schemas import arrow_schema

    n_t, n_a = len(ticks), len(names)
    cols: dict[str, list] = {c: [] for c in arrow_schema("fixes", outputs=True).names}
    for label, (price, volume, n_trades, n_markets, n_excluded, stale, _) in results.items():
        cols["ts"].append(np.tile(ticks, n_a))
        cols["asset"].append(np.repeat(np.arange(n_a, dtype=np.int32), n_t))
        cols["window"].append(np.full(n_a * n_t, label))
        for name, arr in (("price", price), ("volume", volume), ("n_trades", n_trades),
                          ("n_markets", n_markets), ("n_excluded", n_excluded),
                          ("stale", stale)):
            cols[name].append(arr.reshape(-1))
    schema = arrow_schema("fixes", outputs=True)
    if not results or n_a * n_t == 0:
        return schema.empty_table()
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    asset = pa.DictionaryArray.from_arrays(pa.array(cat["asset"]), pa.array(names, pa.string()))
    arrays = [
        pa.array(cat["ts"]).cast(pa.timestamp("ns", tz="UTC")),
        asset.cast(pa.string()),
        pa.array(cat["window"], pa.string()),
        pa.array(cat["price"], pa.float64(), mask=np.isnan(cat["price"])),
        pa.array(cat["volume"], pa.float64()),
        pa.array(cat["n_trades"], pa.int64()),
        pa.array(cat["n_markets"], pa.int64()),
        pa.array(cat["n_excluded"], pa.int64()),
        pa.array(cat["stale"], pa.bool_()),
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _report(acc: _Accumulator, results, series_keys, table, windows, start_ns, end_ns,
            clock: _Clock) -> dict:
    """The run report: trades read, rejections by reason, fixes written, exclusions."""
    import pyarrow.compute as pc

    k = _kernel()
    counts = [int(c) for c in acc.counts.sum(axis=0)]
    excluded: dict[str, dict[str, int]] = {}
    for *_, flags in results.values():
        for sid, n in enumerate(flags.sum(axis=0)):
            if n:
                ex, quote = series_keys[sid]
                excluded.setdefault(ex, {})
                excluded[ex][quote] = excluded[ex].get(quote, 0) + int(n)
    return {
        "start": ns_to_iso(start_ns),
        "end": ns_to_iso(end_ns),
        "windows": list(windows),
        "trades_read": acc.trades_read,
        "trades_used": counts[k.USED],
        "trades_outside_range": counts[k.OUTSIDE_RANGE],
        "rejected": {r: counts[i + 1] for i, r in enumerate(REASONS)},
        "assets": int(acc.asset_seen.sum()),
        "markets": int(acc.series_used.sum()),  # (asset, exchange, quote) with trades used
        "fixes_written": table.num_rows,
        "stale_fixes": int(pc.sum(table.column("stale")).as_py() or 0),
        "null_fixes": table.column("price").null_count,
        "markets_excluded": excluded,
        "seconds": {s: round(v, 6) for s, v in clock.seconds.items()},
    }


__all__ = ["REASONS", "WINDOW_NS", "FixResult", "compute_fixes", "fix_grid"]
