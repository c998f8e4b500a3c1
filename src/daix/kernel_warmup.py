"""Numba kernels compiled once per host, for runs on several processes (dask workers).

:func:`warm_kernels` runs the kernels on tiny inputs, which compiles them or loads them from
Numba's on-disk cache (``NUMBA_CACHE_DIR``, else the kernels' ``__pycache__``). It takes an
inter-process file lock (``fcntl.flock``) next to the cache first: when no stamp says the cache
is complete for this daix, Numba and kernel source, it compiles under the lock, writing the
cache, and leaves the stamp; otherwise it releases the lock and loads the cache side by side
with the other processes. So two processes of one host never write the same cache file at once
and each kernel compiles once per host. :class:`KernelWarmup` runs it on every dask worker as
the worker starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from daix.errors import ConfigError

try:  # the plugin base class, when dask is installed
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPluginBase
except ImportError:  # pragma: no cover - depends on the environment
    _WorkerPluginBase = object  # type: ignore[assignment,misc]

#: What the warm-up runs: the reference price fixes and a small backfill.
WARM_TARGETS = ("fixes", "backfill")
LOCK_NAME = ".daix-numba.lock"
STAMP_PREFIX = ".daix-warm-"

_WARMED: dict[tuple[str, ...], dict] = {}


class KernelWarmup(_WorkerPluginBase):
    """Worker plugin: :func:`warm_kernels` on each worker as it starts (in a thread, so the
    worker keeps answering the scheduler); its statistics stay in ``stats``."""

    idempotent = True

    def __init__(self, targets: Iterable[str] = WARM_TARGETS) -> None:
        self.targets = tuple(targets)
        self.name = "daix-kernels-" + "-".join(self.targets)
        self.stats: dict = {}

    async def setup(self, worker) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        self.stats = await loop.run_in_executor(None, warm_kernels, self.targets)


def worker_kernel_stats(c, targets: Iterable[str] = WARM_TARGETS) -> dict[str, dict]:
    """Per worker address, what :func:`warm_kernels` did there (compiled, loaded, seconds)."""
    name = "daix-kernels-" + "-".join(tuple(targets))
    return c.run(_plugin_stats, name)


def _plugin_stats(name: str, dask_worker=None) -> dict:
    plugin = dask_worker.plugins.get(name) if dask_worker is not None else None
    return dict(plugin.stats) if plugin is not None else {}


def kernel_cache_dir() -> Path:
    """Where Numba caches the kernels: ``NUMBA_CACHE_DIR``, else the kernels' ``__pycache__``
    (a per-user temporary directory when that is not writable)."""
    import numba

    configured = getattr(numba.config, "CACHE_DIR", "") or ""
    if configured:
        path = Path(configured)
    else:
        from daix import kernels

        path = Path(kernels.__file__).resolve().parent / "__pycache__"
        with contextlib.suppress(OSError):
            path.mkdir(exist_ok=True)
        if not os.access(path, os.W_OK):
            uid = os.getuid() if hasattr(os, "getuid") else 0
            path = Path(tempfile.gettempdir()) / f"daix-numba-{uid}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def cache_lock(directory: Path) -> Iterator[None]:
    """An exclusive inter-process lock (``fcntl.flock``) on a file in ``directory``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    with open(directory / LOCK_NAME, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _kernel_dispatchers() -> list:
    import importlib
    import pkgutil

    from daix import kernels

    found = []
    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name == "options":
            continue
        try:
            module = importlib.import_module(f"daix.kernels.{info.name}")
        except Exception:  # a module no run imports: nothing of it to count
            continue
        found += [obj for obj in vars(module).values()
                  if hasattr(obj, "stats") and hasattr(obj, "signatures")]
    return found


def _cache_counts() -> tuple[int, int]:
    """(loaded from the cache, compiled) over every kernel of this process so far."""
    hits = misses = 0
    for d in _kernel_dispatchers():
        stats = d.stats
        hits += sum(stats.cache_hits.values())
        misses += sum(stats.cache_misses.values())
    return hits, misses


def _stamp_prefix(targets: tuple[str, ...]) -> str:
    return STAMP_PREFIX + "-".join(targets) + "-"


def _stamp_name(targets: tuple[str, ...]) -> str:
    """A stamp file name that changes with daix, Numba, Python and the kernels' sources."""
    import numba

    from daix import __version__, kernels

    h = hashlib.sha256(f"{__version__} {numba.__version__} {sys.version}".encode())
    for path in sorted(Path(kernels.__file__).resolve().parent.glob("*.py")):
        st = path.stat()
        h.update(f"{path.name} {st.st_mtime_ns} {st.st_size}".encode())
    return _stamp_prefix(targets) + h.hexdigest()[:20]


def warm_kernels(targets: Iterable[str] = WARM_TARGETS) -> dict:
    """Compile (or load from the cache) every kernel ``targets`` use, once per process.

    Under the cache lock: when no stamp says the cache is complete, run the targets (which
    compiles and writes the cache) and leave the stamp; with a stamp, release the lock and run
    them (loading from the cache, side by side with other processes). Returns what it did:
    kernels ``compiled`` and ``loaded`` from the cache, ``seconds``, ``cache_dir`` and a
    ``digest`` of the results (the same in every process).
    """
    targets = tuple(targets)
    unknown = [t for t in targets if t not in _WARMERS]
    if unknown:
        raise ConfigError(f"unknown warm-up target(s) {unknown}; known: {', '.join(_WARMERS)}")
    if targets in _WARMED:
        return _WARMED[targets]
    t0 = time.perf_counter()
    hits0, misses0 = _cache_counts()
    directory = kernel_cache_dir()
    stamp = directory / _stamp_name(targets)
    digest = None
    with cache_lock(directory):
        if not (stamp.exists() and next(directory.rglob("*.nbi"), None) is not None):
            digest = _run_warmers(targets)
            for old in directory.glob(_stamp_prefix(targets) + "*"):
                with contextlib.suppress(OSError):
                    old.unlink()
            stamp.touch()
    if digest is None:
        digest = _run_warmers(targets)
    hits, misses = _cache_counts()
    stats = {"pid": os.getpid(), "targets": list(targets), "compiled": misses - misses0,
             "loaded": hits - hits0, "seconds": round(time.perf_counter() - t0, 3),
             "cache_dir": str(directory), "digest": digest}
    _WARMED[targets] = stats
    return stats


def _run_warmers(targets: tuple[str, ...]) -> str:
    from daix import progress

    h = hashlib.sha256()
    quiet = getattr(progress, "_QUIET", False)  # restored below: no bars for tiny runs
    progress.set_quiet(True)
    try:
        with tempfile.TemporaryDirectory(prefix="daix-warm-") as tmp:
            for name in targets:
                for table in _WARMERS[name](Path(tmp)):
                    h.update(repr(table.to_pylist()).encode())
    finally:
        progress.set_quiet(quiet)
    return h.hexdigest()


def _warm_keys(tmp: Path) -> list:
    """The input checks (duplicate keys, SPEC §6.2) on a tiny prices table, in memory and
    read back from Parquet with its dictionary columns."""
    import pyarrow as pa

    from daix.io import DataSet
    from daix.writing import write_table

    prices = pa.table({
        "ts": pa.array([0, 3_600_000_000_000, 0], pa.timestamp("ns", tz="UTC")),
        "asset": ["A", "A", "B"], "window": ["15m", "15m", "1h"], "price": [1.0, 2.0, 3.0]})
    write_table(prices, tmp / "keys" / "prices.parquet")
    return [DataSet({"prices": prices}).table("prices"),
            DataSet(tmp / "keys").table("prices", dictionary=True).cast(prices.schema)]


def _warm_fixes(tmp: Path) -> list:
    """Hourly and real-time fixes of a few trades: plain text and unsorted, dictionary-encoded
    and sorted, with a large asset dictionary, and from Parquet files."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from daix.fixes import compute_fixes
    from daix.synth import synthetic_trades
    from daix.timeutil import NS_PER_HOUR, NS_PER_MINUTE, parse_instant
    from daix.writing import write_table

    data = synthetic_trades(3000, n_assets=3, n_exchanges=4, days=0.25, seed=0)
    t0 = parse_instant("2025-01-01T01:00Z")
    spans = [((t0, t0 + 4 * NS_PER_HOUR), False), ((t0, t0 + 5 * NS_PER_MINUTE), True)]
    trades = data["trades"]
    ordered = trades.sort_by("ts")
    encoded = pa.table({n: ordered[n].dictionary_encode() if n in ("asset", "exchange", "quote")
                        else ordered[n] for n in ordered.column_names})
    names = [f"W{i:04d}" for i in range(4100)] + pc.unique(ordered["asset"]).to_pylist()
    codes = pc.index_in(ordered["asset"], value_set=pa.array(names))
    wide = encoded.set_column(1, "asset", pa.chunked_array(
        [pa.DictionaryArray.from_arrays(codes.combine_chunks().cast(pa.int32()), names)]))
    out = []
    for variant in (trades, encoded, wide):
        for (lo, hi), realtime in spans:
            out.append(compute_fixes({**data, "trades": variant}, lo, hi,
                                     realtime=realtime).table)
    for name, table in data.items():
        write_table(table, tmp / "fixes" / f"{name}.parquet")
    for (lo, hi), realtime in spans:
        out.append(compute_fixes(tmp / "fixes", lo, hi, realtime=realtime).table)
    return out


def _warm_backfill(tmp: Path) -> list:
    """Every index of the catalogue on half a year of synthetic data, official and hourly."""
    from daix.engine.backfill import backfill
    from daix.synth import synthesize

    synthesize(tmp / "backfill", assets=12, years=0.5, seed=0, trades_days=0.1)
    out = []
    for hourly in (False, True):
        r = backfill(tmp / "backfill", hourly=hourly)
        out += [r.levels.slice(0, 200), r.constituents, r.reviews]
    return out


_WARMERS = {"keys": _warm_keys, "fixes": _warm_fixes, "backfill": _warm_backfill}


__all__ = ["LOCK_NAME", "WARM_TARGETS", "KernelWarmup", "cache_lock", "kernel_cache_dir",
           "warm_kernels", "worker_kernel_stats"]
