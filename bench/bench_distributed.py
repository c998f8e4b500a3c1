"""Benchmark of the reference price fixes on a dask cluster against one process (SPEC §2, §8.1).

Workload: 100 million synthetic trades (``DAIX_BENCH_DASK_TRADES``) of 50 assets on 10 exchanges
quoting in USD, USDT, USDC and EUR over 30 days (a few defective trades, rejected), made the
way ``daix.synth.synthetic_trades`` makes them but one day at a time along one price path and
one FX path, each day sorted by time and appended to one Parquet file (row groups of 1M rows),
so that memory stays bounded. ``DAIX_BENCH_DASK_DATA`` names a directory to keep the data in
and reuse. Reported together, for the hourly 15m and 1h fixes of the 30 days:

- one process: ``compute_fixes(dir, S, E)``, Numba on every core;
- ``daix.distributed_fixes.fixes_distributed`` on a ``LocalCluster`` of ``DAIX_BENCH_DASK_WORKERS``
  (default 2) single-threaded worker processes with one Numba thread each (starting the
  cluster and loading the kernels are timed apart);
- the speed-up, and that both runs give the same table (``Table.equals``) and report counts.

Run with ``pytest bench/bench_distributed.py --benchmark-only``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

N_TRADES = int(os.environ.get("DAIX_BENCH_DASK_TRADES", 100_000_000))
N_WORKERS = int(os.environ.get("DAIX_BENCH_DASK_WORKERS", 2))
N_ASSETS = 50
N_EXCHANGES = 10
DAYS = 30
START = "2025-01-01"
ROW_GROUP = 1 << 20
COUNTED = ("trades_read", "trades_used", "trades_outside_range", "rejected", "assets",
           "fixes_written", "stale_fixes", "null_fixes", "markets_excluded")

RESULTS: dict[str, object] = {}


def write_trades(out: Path, n_trades: int, seed: int = 0) -> None:
    """``trades.parquet``, ``fx.parquet`` and ``exchanges.parquet`` in ``out``, day by day."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from daix.schemas import arrow_schema
    from daix.synth_assets import asset_ids
    from daix.synth_market import (
        HOURS_PER_YEAR,
        exchanges_table,
        fx_rates,
        fx_table,
        make_trades,
        make_venues,
        student_t,
    )
    from daix.timeutil import NS_PER_DAY, parse_instant
    from daix.writing import write_table

    out.mkdir(parents=True, exist_ok=True)
    start_ns = parse_instant(START)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    n_hours = DAYS * 24 + 1
    ids = asset_ids(N_ASSETS)
    log_p0 = np.log(10 ** rng.uniform(-2.0, 3.0, N_ASSETS))
    log_p0[0] = np.log(80_000.0)
    steps = student_t(rng, (n_hours, N_ASSETS)) * (0.8 / np.sqrt(HOURS_PER_YEAR))
    log_price = log_p0 + np.cumsum(steps, axis=0)
    weight = 1.0 / np.arange(1, N_ASSETS + 1) ** 0.9
    fx_first = start_ns - NS_PER_DAY
    rates = fx_rates(rng, n_hours + 24, depeg_hour=None)
    venues = make_venues(N_EXCHANGES, rng)
    schema = arrow_schema("trades")
    tmp = out / ".trades.parquet.tmp"
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for day, n in enumerate(rng.multinomial(n_trades, np.full(DAYS, 1.0 / DAYS))):
            lo = start_ns + day * NS_PER_DAY
            trades = make_trades(
                rng, ids=ids, counts=rng.multinomial(n, weight / weight.sum()),
                lo_ns=np.full(N_ASSETS, lo), hi_ns=lo + NS_PER_DAY, hour0_ns=start_ns,
                log_price=log_price, fx_first_ns=fx_first, rates=rates, venues=venues,
                defects=True, sort=True)
            writer.write_table(trades.cast(schema), row_group_size=ROW_GROUP)
    os.replace(tmp, out / "trades.parquet")
    write_table(fx_table(fx_first, rates), out / "fx.parquet")
    write_table(exchanges_table(venues, np.full(N_EXCHANGES, fx_first), [None] * N_EXCHANGES),
                out / "exchanges.parquet")
    assert pq.ParquetFile(out / "trades.parquet").metadata.num_rows == n_trades
    assert isinstance(schema, pa.Schema)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    given = os.environ.get("DAIX_BENCH_DASK_DATA")
    path = Path(given) if given else tmp_path_factory.mktemp("dask_bench") / "data"
    if not (path / "trades.parquet").exists():
        t0 = time.perf_counter()
        write_trades(path, N_TRADES)
        RESULTS["generate"] = time.perf_counter() - t0
    return path


@pytest.fixture(scope="module")
def span() -> tuple[int, int]:
    from daix.timeutil import NS_PER_DAY, parse_instant

    start = parse_instant(START)
    return start, start + DAYS * NS_PER_DAY


@pytest.fixture(scope="module")
def dask_client():
    from daix.distributed import prepare_workers

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=N_WORKERS, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": "1"})
    client = distributed.Client(cluster)
    RESULTS["cluster_start"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare_workers(client)
    RESULTS["warm"] = time.perf_counter() - t0
    yield client
    client.close()
    cluster.close()


def test_fixes_dask_vs_one_process(benchmark, data_dir, span, dask_client, record):
    from daix.distributed_fixes import fixes_distributed
    from daix.fixes import compute_fixes

    t0 = time.perf_counter()
    one = compute_fixes(data_dir, *span)
    one_seconds = time.perf_counter() - t0
    dist = benchmark.pedantic(fixes_distributed, (data_dir, *span, dask_client), rounds=1,
                              iterations=1)
    dask_seconds = benchmark.stats.stats.min
    assert dist.table.equals(one.table)
    assert {k: dist.report[k] for k in COUNTED} == {k: one.report[k] for k in COUNTED}
    assert one.report["trades_read"] == N_TRADES
    parts = dist.report["partitions"]
    n = one.report["trades_read"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"{n:,} trades, {N_ASSETS} assets, {DAYS} days -> {one.table.num_rows:,} fixes "
        f"(15m and 1h); {os.cpu_count()} CPUs, load average {load}",
        f"  one process (Numba on every core)    {one_seconds:7.2f} s  "
        f"{n / one_seconds / 1e6:6.1f} M trades/s",
        f"  dask, {N_WORKERS} workers x 1 thread, {len(parts)} partitions "
        f"{dask_seconds:7.2f} s  {n / dask_seconds / 1e6:6.1f} M trades/s",
        f"  speed-up {one_seconds / dask_seconds:.2f}x; tables equal (Table.equals) and the "
        f"same counts: yes",
        f"  cluster start {RESULTS['cluster_start']:.1f} s, kernel warm-up "
        f"{RESULTS['warm']:.1f} s (not in the times above)"
        + (f"; data generated in {RESULTS['generate']:.0f} s" if "generate" in RESULTS else ""),
    ]
    for line in lines:
        record("dask fixes:", line)
