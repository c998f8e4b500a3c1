"""Dask beyond one machine: ``fix`` and ``backfill`` on a cluster, bit-identical to one process.

:func:`client` starts a ``LocalCluster`` on this machine's cores (``"local"``) or connects to a
running scheduler (``"tcp://HOST:PORT"``), checks that every worker runs this daix version and
prepares the kernels (:func:`prepare_workers`). Workers read the data directory themselves: on a
cluster of several machines its path must be visible, at the same path, to every worker.

Kernels compile once per host (:mod:`daix.kernel_warmup`): this process compiles or loads them
first, writing Numba's on-disk cache, then a worker plugin loads them on every worker.

* :func:`daix.distributed_fixes.fixes_distributed` cuts the fix grid (SPEC §8.1) into time
  partitions whose trades each window reads exactly once (see that module).
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

from daix.errors import ConfigError, DaixError
from daix.kernel_warmup import WARM_TARGETS, KernelWarmup, warm_kernels

INSTALL_HINT = 'pip install "daix[dask]"'
#: Seconds to wait for a scheduler (and for its first worker) before giving up.
CONNECT_TIMEOUT = 30.0


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
    import pyarrow as pa

    from daix.background import in_background
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
    grid = in_background(_state_grid, ds, name="grid")
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

    prices = _prices(ds)[0]
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
    # The real-time rows are counted by the parts with single asset indices (SPEC §8.2).
    data = dict(manifests[0]["data"])
    for m in manifests:
        if "realtime_rows" in m["data"]:
            data["realtime_rows"] = m["data"]["realtime_rows"]
    return {
        **manifests[0],
        "data": data,
        "parameters": params,
        "counts": {"indices": len(defs), "levels": levels.num_rows,
                   "constituents": constituents.num_rows, "reviews": reviews.num_rows,
                   "per_index": ordered(per_index)},
        "skipped": ordered(skipped),
        "timings_s": timings,
        "partitions": [{"indices": g, "seconds": m["timings_s"].get("total")}
                       for g, m in zip(groups, manifests, strict=True)],
    }


__all__ = ["backfill_distributed", "client", "index_groups", "merge_backfill_tables",
           "prepare_workers"]
