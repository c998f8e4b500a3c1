"""Fixes on a Dask cluster (SPEC §2, §8.1), bit-identical to one process.

:func:`fixes_distributed` cuts the fix grid (SPEC §8.1) into time partitions. Partition p with
grid times ``T_p0 .. T_p1 - step`` reads the trades with ``T_p0 - step <= ts < T_p1 - step``:
exactly the time buckets its windows need (the longest window, 1 h, is the hourly step; 15 s
for the real-time stream), so each trade is read by one partition, counted once in the report,
and every window's sums are taken over the same trades in the same order as in one run. The
first partition also reads every earlier trade and the last every later one (counted as
outside the grid, as one run counts them). The carry of SPEC §2.6 ("previous fix" is the
previous one of the same run, SPEC §8.1) is then redone over the whole grid. The client and
the workers are those of :mod:`daix.distributed`.
"""

from __future__ import annotations

import time
from typing import Any

from daix.distributed import data_root, prepare_workers, run_partitions
from daix.errors import ConfigError, InputError

#: Default time partitions of ``fixes_distributed`` per worker thread.
PARTITIONS_PER_WORKER = 4


def fixes_distributed(data_dir, start_ns: int, end_ns: int, client, *, realtime: bool = False,
                      ped: float = 0.05, partitions: int | None = None,
                      windows: tuple[str, ...] = ("15m", "1h"),
                      batch_rows: int | None = None):
    """:func:`daix.fixes.compute_fixes` of ``data_dir`` over [start_ns, end_ns] on ``client``.

    The grid (SPEC §8.1) is cut into ``partitions`` runs of consecutive grid times (default:
    4 per worker thread); each reads only the trades its windows need (see the module notes)
    and the carry of SPEC §2.6 is redone over the whole grid, so the table equals the one of a
    single run bit for bit. The report counts every trade once; ``markets`` is None unless the
    partitions' reports name their markets (``market_keys``), since markets seen by several
    partitions cannot be told apart from counts.
    """
    from daix.fixes import FixResult, fix_grid
    from daix.fixes_input import TradeSource
    from daix.io import DataSet
    from daix.timeutil import NS_PER_HOUR, NS_PER_SECOND, ns_to_iso

    t_start = time.perf_counter()
    if int(start_ns) > int(end_ns):
        raise ConfigError(f"start {ns_to_iso(start_ns)} is after end {ns_to_iso(end_ns)}")
    root = data_root(data_dir)
    TradeSource(DataSet(root), None)  # the trades table is there, with its columns (SPEC §6.1)
    step = 15 * NS_PER_SECOND if realtime else NS_PER_HOUR
    ticks = fix_grid(start_ns, end_ns, step)
    if partitions is not None and int(partitions) < 1:
        raise ConfigError(f"partitions must be a positive number, got {partitions!r}")
    wanted = int(partitions) if partitions is not None else \
        PARTITIONS_PER_WORKER * max(1, sum(client.nthreads().values()))
    n = max(1, min(wanted, len(ticks)))
    cuts = [len(ticks) * j // n for j in range(n + 1)]
    args = []
    for p in range(n):
        k0, k1 = cuts[p], cuts[p + 1]
        lo = None if p == 0 else int(ticks[k0]) - step
        hi = None if p == n - 1 else int(ticks[k1]) - step
        grid = (int(ticks[k0]), int(ticks[k1 - 1])) if len(ticks) else (int(start_ns),
                                                                           int(end_ns))
        args.append((root, lo, hi, *grid, realtime, float(ped), tuple(windows), batch_rows))
    prepare_workers(client)
    parts = run_partitions(client, _fix_partition, args, "fixes")
    t_merge = time.perf_counter()
    table, stale = _merge_fix_tables(parts, ticks)
    report = _merge_fix_reports(parts, table, stale, start_ns, end_ns)
    report["seconds"]["merge"] = round(time.perf_counter() - t_merge, 6)
    report["seconds"]["total"] = round(time.perf_counter() - t_start, 6)
    return FixResult(table=table, report=report)


def read_trades_slice(ds, lo: int | None, hi: int | None):
    """The trades with ``lo <= ts < hi`` (None: no bound), in file order.

    A Parquet file or dataset with UTC timestamps is filtered while reading (row groups
    outside the range are skipped); other forms are read whole, validated (SPEC §6.2), then
    filtered. The first partition (``lo`` None) also gets rows with a null ``ts``, so that
    they raise the error of SPEC §6.2 as in one run.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    from daix.fixes_input import CODE_COLUMNS, TRADE_COLUMNS

    path = ds.path("trades")
    if path is None:
        ds.table("trades")  # the standard "missing table" error
    assert path is not None
    dataset = None
    if not path.name.endswith((".csv", ".csv.gz")):
        fmt = pads.ParquetFileFormat(read_options=pads.ParquetReadOptions(
            dictionary_columns=list(CODE_COLUMNS)))
        try:
            dataset = pads.dataset(str(path), format=fmt,
                                   partitioning="hive" if path.is_dir() else None)
        except Exception as exc:
            raise InputError(f"cannot open as a Parquet dataset: {exc}", path=str(path)) from exc
    names = dataset.schema.names if dataset is not None else []
    ts_type = dataset.schema.field("ts").type if "ts" in names else None
    if ts_type is None or not pa.types.is_timestamp(ts_type) or ts_type.tz is None:
        table = ds.table("trades")
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        keep = np.ones(len(ts), dtype=bool)
        if lo is not None:
            keep &= ts >= lo
        if hi is not None:
            keep &= ts < hi
        return table.filter(pa.array(keep))
    per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[ts_type.unit]
    field = pc.field("ts")
    expr = None
    if lo is not None:  # bounds are whole multiples of 15 s: exact in every unit
        expr = field >= pa.scalar(lo // per_unit, ts_type)
    if hi is not None:
        upper = field < pa.scalar(hi // per_unit, ts_type)
        expr = upper if expr is None else expr & upper
        if lo is None:
            expr = expr | field.is_null()
    columns = [c for c in TRADE_COLUMNS if c in names]
    try:
        return dataset.to_table(columns=columns, filter=expr)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read the trades: {exc}", path=str(path)) from exc


def _fix_partition(root: str, lo: int | None, hi: int | None, t0: int, t1: int,
                   realtime: bool, ped: float, windows: tuple[str, ...],
                   batch_rows: int | None) -> dict:
    """One partition on a worker: its trades, :func:`compute_fixes` on its grid, compacted."""
    from daix.fixes import compute_fixes
    from daix.io import DataSet

    ds = DataSet(root)
    tables = {"trades": read_trades_slice(ds, lo, hi)}
    for name in ("fx", "exchanges"):
        table = ds.table(name, required=False)
        if table is not None:
            tables[name] = table
    try:
        result = compute_fixes(tables, t0, t1, realtime=realtime, ped=ped, windows=windows,
                               batch_rows=batch_rows)
    except InputError as exc:
        raise _relabel(exc, ds, lo, hi) from None
    return _compact(result, t0, t1, realtime)


def _relabel(exc: InputError, ds, lo: int | None, hi: int | None) -> InputError:
    """An error about an in-memory table of a partition, naming the file instead."""
    from daix.timeutil import ns_to_iso

    for name in ("trades", "fx", "exchanges"):
        if exc.path == f"{name} (in memory)":
            detail = exc.detail
            if name == "trades" and (lo is not None or hi is not None):
                span = " and ".join(x for x in (
                    f"ts >= {ns_to_iso(lo)}" if lo is not None else "",
                    f"ts < {ns_to_iso(hi)}" if hi is not None else "") if x)
                detail += f" (rows numbered among the trades with {span})"
            return InputError(detail, path=ds.label(name), column=exc.column, rows=exc.rows,
                              kind=exc.kind)
    return exc


_FIX_VALUES = ("price", "volume", "n_trades", "n_markets", "n_excluded", "stale")


def _compact(result, t0: int, t1: int, realtime: bool) -> dict:
    """A partition's fixes as ``(window, asset, tick)`` arrays (the table is that full grid)."""
    import math

    import numpy as np
    import pyarrow.compute as pc

    from daix.fixes import fix_grid
    from daix.timeutil import NS_PER_HOUR, NS_PER_SECOND

    table = result.table
    windows = list(result.report["windows"])
    ticks = fix_grid(t0, t1, 15 * NS_PER_SECOND if realtime else NS_PER_HOUR)
    w, t = len(windows), len(ticks)
    a = table.num_rows // (w * t) if w * t else 0
    out: dict[str, Any] = {"windows": windows, "ticks": t, "report": result.report}
    out["names"] = table.column("asset").slice(0, a * t).take(
        np.arange(0, a * t, max(t, 1))).to_pylist() if a else []
    if table.num_rows != w * a * t or (a and not np.array_equal(
            table.column("ts").cast("int64").to_numpy(), np.tile(ticks, w * a))):
        raise RuntimeError("compute_fixes did not return the full (window, asset, ts) grid")
    for name in _FIX_VALUES:
        col = table.column(name)
        if name == "price":
            col = pc.fill_null(col, math.nan)
        out[name] = col.to_numpy().reshape(w, a, t)
    return out


def _merge_fix_tables(parts: list[dict], ticks):
    """The fixes table of one run from the partitions', with the carry over the whole grid
    (SPEC §2.6: an empty window gives the previous fix of the same asset and window, stale;
    none before: null)."""
    import numpy as np
    import pyarrow as pa

    from daix.schemas import arrow_schema

    windows = parts[0]["windows"]
    names = sorted(set().union(*(p["names"] for p in parts)))
    row = {name: i for i, name in enumerate(names)}
    w, a, t = len(windows), len(names), len(ticks)
    price = np.full((w, a, t), np.nan)
    volume = np.zeros((w, a, t))
    counts = {k: np.zeros((w, a, t), dtype=np.int64) for k in ("n_trades", "n_markets",
                                                                "n_excluded")}
    stale = np.ones((w, a, t), dtype=bool)
    offset = 0
    for p in parts:
        rows = np.array([row[name] for name in p["names"]], dtype=np.int64)
        cols = slice(offset, offset + p["ticks"])
        for target, name in ((price, "price"), (volume, "volume"), (stale, "stale"),
                             *((counts[k], k) for k in counts)):
            target[:, rows, cols] = p[name]
        offset += p["ticks"]
    if offset != t:
        raise RuntimeError("the partitions do not cover the fix grid")
    last = np.where(stale, -1, np.arange(t))
    np.maximum.accumulate(last, axis=2, out=last)
    price = np.where(last >= 0, np.take_along_axis(price, np.maximum(last, 0), axis=2), np.nan)
    schema = arrow_schema("fixes", outputs=True)
    if w * a * t == 0:
        return schema.empty_table(), stale
    codes = np.tile(np.repeat(np.arange(a, dtype=np.int32), t), w)
    flat = price.reshape(-1)
    columns = {
        "ts": pa.array(np.tile(np.asarray(ticks, dtype=np.int64), w * a)).cast(
            pa.timestamp("ns", tz="UTC")),
        "asset": pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names, pa.string())
                                                ).cast(pa.string()),
        "window": pa.array(np.repeat(np.array(windows), a * t), pa.string()),
        "price": pa.array(flat, pa.float64(), mask=np.isnan(flat)),
        "volume": pa.array(volume.reshape(-1), pa.float64()),
        **{k: pa.array(v.reshape(-1), pa.int64()) for k, v in counts.items()},
        "stale": pa.array(stale.reshape(-1), pa.bool_()),
    }
    return pa.Table.from_arrays([columns[n] for n in schema.names], schema=schema), stale


def _merge_fix_reports(parts: list[dict], table, stale, start_ns: int, end_ns: int) -> dict:
    """The run report of one run: every trade was read by exactly one partition."""
    from daix.timeutil import ns_to_iso

    reports = [p["report"] for p in parts]
    excluded: dict[str, dict[str, int]] = {}
    for r in reports:
        for ex, quotes in r["markets_excluded"].items():
            for quote, n in quotes.items():
                excluded.setdefault(ex, {})
                excluded[ex][quote] = excluded[ex].get(quote, 0) + n
    seconds: dict[str, float] = {}
    for r in reports:
        for stage, s in r.get("seconds", {}).items():
            seconds[stage] = max(seconds.get(stage, 0.0), s)
    assets = len(set().union(*(p["names"] for p in parts)))
    markets = None
    if len(reports) == 1:  # one partition (a grid of one time, or none): its own counts
        assets, markets = reports[0]["assets"], reports[0]["markets"]
    elif all("market_keys" in r for r in reports):
        markets = len(set().union(*(map(tuple, r["market_keys"]) for r in reports)))
    return {
        "start": ns_to_iso(start_ns),
        "end": ns_to_iso(end_ns),
        "windows": list(parts[0]["windows"]),
        "trades_read": sum(r["trades_read"] for r in reports),
        "trades_used": sum(r["trades_used"] for r in reports),
        "trades_outside_range": sum(r["trades_outside_range"] for r in reports),
        "rejected": {k: sum(r["rejected"][k] for r in reports) for k in reports[0]["rejected"]},
        "assets": assets,
        "markets": markets,
        "fixes_written": table.num_rows,
        "stale_fixes": int(stale.sum()),
        "null_fixes": table.column("price").null_count,
        "markets_excluded": excluded,
        "seconds": seconds,
        "partitions": [{"start": r["start"], "end": r["end"], "trades_read": r["trades_read"],
                        "markets": r.get("markets"), "seconds": round(sum(
                            r.get("seconds", {}).values()), 6)} for r in reports],
    }


__all__ = ["fixes_distributed", "read_trades_slice"]
