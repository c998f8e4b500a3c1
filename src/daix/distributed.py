"""Dask beyond one machine: ``fix`` and ``backfill`` on a cluster, bit-identical to one process.

:func:`client` starts a ``LocalCluster`` on this machine's cores (``"local"``) or connects to a
running scheduler (``"tcp://HOST:PORT"``), checks that every worker runs this daix version and
prepares the kernels (:func:`prepare_workers`). Workers read the data directory themselves: on a
cluster of several machines its path must be visible, at the same path, to every worker.

Kernels compile once per host (:mod:`daix.kernel_warmup`): this process compiles or loads them
first, writing Numba's on-disk cache, then a worker plugin loads them on every worker.

* :func:`fixes_distributed` cuts the fix grid (SPEC §8.1) into time partitions. Partition p
  with grid times ``T_p0 .. T_p1 - step`` reads the trades with ``T_p0 - step <= ts < T_p1 -
  step``: exactly the time buckets its windows need (the longest window, 1 h, is the hourly
  step; 15 s for the real-time stream), so each trade is read by one partition, counted once in
  the report, and every window's sums are taken over the same trades in the same order as in
  one run. The first partition also reads every earlier trade and the last every later one
  (counted as outside the grid, as one run counts them). The carry of SPEC §2.6 ("previous fix"
  is the previous one of the same run, SPEC §8.1) is then redone over the whole grid.
* :func:`backfill_distributed` runs independent groups of indices (one per Custom or Crypto
  Select index, the Grayscale family together, single asset indices by fix window) and merges
  their tables in the order of one run (SPEC §6.3).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from daix.errors import ConfigError, DaixError, InputError
from daix.kernel_warmup import WARM_TARGETS, KernelWarmup, warm_kernels

INSTALL_HINT = 'pip install "daix[dask]"'
#: Seconds to wait for a scheduler (and for its first worker) before giving up.
CONNECT_TIMEOUT = 30.0
#: Default time partitions of ``fixes_distributed`` per worker thread.
PARTITIONS_PER_WORKER = 4


# --- the client ------------------------------------------------------------------------------


def import_distributed():
    """The ``distributed`` package, or a ConfigError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(f"--dask needs dask.distributed, which is not installed: "
                          f"{INSTALL_HINT}") from exc
    return distributed


def client(spec: str, *, timeout: float | None = None, n_workers: int | None = None):
    """A ``distributed.Client`` for ``spec``, ready to run daix (use it as a context manager).

    ``"local"``: a ``LocalCluster`` of ``os.cpu_count()`` single-threaded worker processes
    (closed with the client); ``"tcp://HOST:PORT"`` (or ``HOST:PORT``): a running scheduler,
    reached within ``timeout`` seconds (default :data:`CONNECT_TIMEOUT`). Raises ConfigError
    when dask is not installed, the scheduler is unreachable or has no workers, or a worker
    runs another daix version.
    """
    distributed = import_distributed()
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    text = str(spec).strip()
    if text == "local":
        n = int(n_workers or os.cpu_count() or 2)
        threads = os.environ.get("NUMBA_NUM_THREADS") or str(max(1, (os.cpu_count() or n) // n))
        made = distributed.Client(n_workers=n, threads_per_worker=1, processes=True,
                                  silence_logs=logging.ERROR,
                                  env={"NUMBA_NUM_THREADS": threads})
        where = "the local cluster"
    else:
        address = scheduler_address(text)
        try:
            made = distributed.Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the dask scheduler at {address} within {timeout:g} s ({exc}); "
                "start one with `dask scheduler` and workers with `dask worker "
                f"{address}`") from exc
        where = f"the dask scheduler at {address}"
    try:
        check_workers(made, where, timeout)
        prepare_workers(made)
    except BaseException:
        made.close()
        raise
    return made


def scheduler_address(text: str) -> str:
    """``tcp://HOST:PORT`` from ``tcp://HOST:PORT`` (any ``proto://``) or ``HOST:PORT``."""
    if "://" in text:
        return text
    if re.fullmatch(r"[\w.\-]+:\d+|\[[0-9a-fA-F:]+\]:\d+", text):
        return f"tcp://{text}"
    raise ConfigError(f"--dask takes 'local' or the address of a dask scheduler "
                      f"(tcp://HOST:PORT), got '{text}'")


def check_workers(c, where: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """At least one worker, each importing this very daix version (ConfigError otherwise)."""
    from daix import __version__

    if not c.scheduler_info().get("workers"):
        try:
            c.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise ConfigError(f"{where} has no workers (waited {timeout:g} s); start some with "
                              f"`dask worker <scheduler address>`") from exc
    try:
        versions = c.run(_daix_version)
    except Exception as exc:
        raise ConfigError(f"the workers of {where} cannot run daix ({exc}): install daix "
                          f"{__version__} on every worker") from exc
    other = {w: v for w, v in versions.items() if v != __version__}
    if other:
        shown = ", ".join(f"{w} has {v}" for w, v in sorted(other.items())[:5])
        raise ConfigError(f"every worker needs daix {__version__} (this process): {shown}")


def _daix_version() -> str:
    from daix import __version__

    return __version__


def prepare_workers(c, targets: Iterable[str] = WARM_TARGETS) -> None:
    """Warm the kernels here (writing the on-disk cache), then on every worker (plugin)."""
    targets = tuple(targets)
    if targets in getattr(c, "_daix_prepared", ()):
        return
    warm_kernels(targets)
    try:
        c.register_plugin(KernelWarmup(targets))
    except DaixError:
        raise
    except Exception as exc:
        raise ConfigError(f"the workers could not prepare the daix kernels: {exc}") from exc
    c._daix_prepared = (*getattr(c, "_daix_prepared", ()), targets)


# --- running partitions -----------------------------------------------------------------------


def data_root(data_dir: Any) -> str:
    """The data directory as an absolute path (what every worker reads)."""
    from daix.io import DataSet

    if not isinstance(data_dir, (str, os.PathLike)):
        raise ConfigError("a distributed run reads a data directory (a path every worker can "
                          "see), not tables in memory")
    root = Path(data_dir).expanduser().resolve()
    DataSet(root)  # InputError when it is not a directory
    return str(root)


def run_partitions(c, fn, args: list[tuple], label: str) -> list:
    """``fn(*a)`` for every ``a`` of ``args`` on the cluster, in that order of priority; the
    results in the order of ``args``. A progress bar counts finished partitions; the first
    error cancels the rest and is raised here (a DaixError as the worker raised it)."""
    import uuid

    from daix import progress

    distributed = import_distributed()
    token = uuid.uuid4().hex[:12]
    futures = [c.submit(fn, *a, key=f"daix-{label}-{i}-{token}", priority=len(args) - i,
                        pure=False) for i, a in enumerate(args)]
    try:
        with progress.task(f"{label}: {len(futures)} partitions", total=len(futures)) as advance:
            for future in distributed.as_completed(futures):
                future.result()
                advance(1)
        return [f.result() for f in futures]
    except DaixError:
        c.cancel(futures)
        raise
    except (distributed.KilledWorker, OSError) as exc:
        c.cancel(futures)
        raise ConfigError(f"the dask cluster failed while computing {label} ({exc}); a "
                          "worker may have run out of memory") from exc
    except BaseException:
        c.cancel(futures)
        raise


# --- fixes (SPEC §2, §8.1) --------------------------------------------------------------------


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


# --- backfill (SPEC §3-§6) ------------------------------------------------------------------


def index_groups(defs: Iterable) -> list[list[str]]:
    """Independent groups of index ids, largest work first: the Grayscale family together
    (its totals use the sector screens), each Custom and Crypto Select index alone, the single
    asset indices by fix window."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for d in defs:
        if d.family == "grayscale":
            key: tuple[str, ...] = ("grayscale",)
        elif d.family == "single":
            key = ("single", d.window)
        else:
            key = (d.family, d.id)
        groups.setdefault(key, []).append(d.id)
    weight = {"grayscale": 0, "select": 1, "custom": 2, "single": 3}
    return [groups[k] for k in sorted(groups, key=lambda k: weight.get(k[0], 4))]


def backfill_distributed(data_dir, client, indices: Iterable[str] | None = None,
                         family: str | None = None, start: Any = None, end: Any = None,
                         hourly: bool = False):
    """:func:`daix.engine.backfill.backfill` of ``data_dir`` on ``client``, group by group.

    Each group of :func:`index_groups` runs ``backfill`` on a worker; the levels,
    constituents and reviews are merged in the order of one run (catalogue order of the
    index, then time), so they equal one run's tables. The
    manifest sums the counts, takes the largest time of each stage and lists the partitions.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from daix.engine.backfill import BackfillResult, select_indices
    from daix.engine.state import StateHashes
    from daix.io import DataSet

    t0 = time.perf_counter()
    defs = select_indices(indices, family)
    if not defs:
        raise ConfigError("no index selected")
    root = data_root(data_dir)
    groups = index_groups(defs)
    prepare_workers(client)
    # While the workers compute: the state/ a later recalc restarts from (SPEC §7), here.
    ds = DataSet(root)
    hashes = StateHashes(ds)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="daix-grid")
    grid = pool.submit(_state_grid, ds)
    pool.shutdown(wait=False)
    parts = run_partitions(client, _backfill_part,
                           [(root, g, start, end, hourly) for g in groups], "backfill")
    levels, constituents, reviews = merge_backfill_tables(parts)
    manifest = _merge_manifests([p[3] for p in parts], groups, defs, levels, constituents,
                                reviews, dict(indices=[d.id for d in defs], start=start,
                                              end=end, hourly=hourly, family=family), t0)
    result = BackfillResult(levels, constituents, reviews, manifest, {}, ds)
    result.state_hashes = hashes
    result.grid = grid.result()
    result.kept_books = tuple(pa.concat_tables([p[k] for p in parts]) for k in (4, 5))
    reads = [p[6] for p in parts if p[6] is not None]
    result.reads = pa.concat_tables(reads) if reads else None
    return result


def _state_grid(ds):
    """The hourly price matrices of the data, for ``state/`` (None without hourly fixes)."""
    from daix.engine.backfill import _has_hourly, _prices
    from daix.engine.market import build_price_grid

    prices, _ = _prices(ds)
    return build_price_grid(prices, ds.label("prices")) if _has_hourly(prices) else None


def _backfill_part(root: str, ids: list[str], start: Any, end: Any, hourly: bool) -> tuple:
    from daix.engine.backfill import backfill
    from daix.engine.state import baskets_tables

    r = backfill(root, indices=ids, start=start, end=end, hourly=hourly, state=False)
    baskets, rows = baskets_tables(r.books)
    return r.levels, r.constituents, r.reviews, r.manifest, baskets, rows, r.reads


def _catalogue_position() -> dict[str, int]:
    from daix.catalogue import CATALOGUE

    return {iid: k for k, iid in enumerate(CATALOGUE)}


def merge_backfill_tables(parts: list[tuple]) -> tuple:
    """(levels, constituents, reviews) of disjoint groups of indices in the order of one run
    (``daix.engine.outputs.build_tables``): catalogue order of the index, then each index's
    rows as computed (time order)."""
    position = _catalogue_position()
    late = len(position)

    def by_position(iid: str) -> int:
        return position.get(iid, late)

    return tuple(_sorted_by_index([p[k] for p in parts], by_position) for k in range(3))


def _sorted_by_index(tables: list, key) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        return table
    encoded = pc.dictionary_encode(table.column("index").combine_chunks())
    lookup = np.array([key(v) for v in encoded.dictionary.to_pylist()], dtype=np.int64)
    rank = lookup[encoded.indices.to_numpy(zero_copy_only=False)]
    order = np.argsort(rank, kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        return table
    return table.take(pa.array(order))


def _merge_manifests(manifests: list[dict], groups: list[list[str]], defs, levels,
                     constituents, reviews, params: dict, t0: float) -> dict:
    position = _catalogue_position()

    def ordered(d: dict) -> dict:
        return dict(sorted(d.items(), key=lambda kv: position.get(kv[0], len(position))))

    per_index: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    timings: dict[str, float] = {}
    for m in manifests:
        per_index.update(m["counts"]["per_index"])
        skipped.update(m["skipped"])
        for stage, s in m["timings_s"].items():
            timings[stage] = max(timings.get(stage, 0.0), s)
    timings["total"] = round(time.perf_counter() - t0, 4)
    params["derived_prices"] = any(m["parameters"].get("derived_prices") for m in manifests)
    return {
        **manifests[0],
        "parameters": params,
        "counts": {"indices": len(defs), "levels": levels.num_rows,
                   "constituents": constituents.num_rows, "reviews": reviews.num_rows,
                   "per_index": ordered(per_index)},
        "skipped": ordered(skipped),
        "timings_s": timings,
        "partitions": [{"indices": g, "seconds": m["timings_s"].get("total")}
                       for g, m in zip(groups, manifests, strict=True)],
    }


__all__ = ["backfill_distributed", "client", "fixes_distributed", "index_groups",
           "merge_backfill_tables", "prepare_workers", "read_trades_slice"]
