"""``fix`` and ``backfill`` on a dask cluster equal one process bit for bit (SPEC §2, §6.3, §8.1).

One 2-worker ``LocalCluster`` (separate processes) serves the module; the data is small
synthetic data (20 assets, 1 year, 2 days of trades with defects). Every distributed table is
compared with ``Table.equals`` to the table of one in-process run, and the run reports' counts
to one run's report (each trade is counted by exactly one partition).
"""

from __future__ import annotations

import logging
import socket
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed")

from daix import distributed as dd  # noqa: E402
from daix.catalogue import CATALOGUE  # noqa: E402
from daix.cli import main  # noqa: E402
from daix.distributed_fixes import fixes_distributed  # noqa: E402
from daix.engine.backfill import backfill  # noqa: E402
from daix.errors import ConfigError, InputError  # noqa: E402
from daix.fixes import compute_fixes, fix_grid  # noqa: E402
from daix.kernel_warmup import (  # noqa: E402
    LOCK_NAME,
    KernelWarmup,
    warm_kernels,
    worker_kernel_stats,
)
from daix.synth import synthesize  # noqa: E402
from daix.timeutil import NS_PER_HOUR, NS_PER_SECOND, parse_instant  # noqa: E402
from daix.writing import write_table  # noqa: E402

#: Report entries that must equal one run's (``markets`` needs market names, ``seconds`` vary).
COUNTED = ("start", "end", "windows", "trades_read", "trades_used", "trades_outside_range",
           "rejected", "assets", "fixes_written", "stale_fixes", "null_fixes",
           "markets_excluded")
TS = pa.timestamp("ns", tz="UTC")


def _cluster(**env):
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": "1", **env})
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("dask") / "data"
    synthesize(out, assets=20, years=1, seed=3, trades_days=2, defects=True)
    return out


@pytest.fixture(scope="module")
def dask_client():
    cluster, c = _cluster()
    try:
        dd.prepare_workers(c)
        yield c
    finally:
        c.close()
        cluster.close()


def _same_report(got: dict, want: dict) -> None:
    assert {k: got[k] for k in COUNTED} == {k: want[k] for k in COUNTED}


def _carried_across(table, ticks, cuts) -> int:
    """Rows at the first tick of a later partition that are stale with a price: a carry
    that only the fix-up across partitions can give."""
    firsts = pa.array(ticks[cuts[1:-1]], TS)
    at = pc.is_in(table.column("ts"), value_set=firsts)
    mask = pc.and_(pc.and_(at, table.column("stale")), pc.is_valid(table.column("price")))
    return int(pc.sum(mask).as_py() or 0)


# --- fixes ------------------------------------------------------------------------------------


def test_fixes_hourly_equal_one_run(data_dir, dask_client):
    # trades run from 2025-12-29 22:00 to 2025-12-31 22:00 UTC: the grid starts before them
    # (null rows until the first fix) and ends before the last ones (outside the grid)
    start, end = parse_instant("2025-12-29T20:00Z"), parse_instant("2025-12-31T20:00Z")
    want = compute_fixes(data_dir, start, end)
    got = fixes_distributed(data_dir, start, end, dask_client, partitions=7)
    assert got.table.equals(want.table)
    _same_report(got.report, want.report)
    assert want.report["trades_outside_range"] > 0
    assert len(got.report["partitions"]) == 7
    # each trade read by exactly one partition: reads add up to the rows of the file
    assert sum(p["trades_read"] for p in got.report["partitions"]) == \
        pq.ParquetFile(data_dir / "trades.parquet").metadata.num_rows
    ticks = fix_grid(start, end, NS_PER_HOUR)  # 49 hours -> 7 partitions of 7 ticks
    assert len(ticks) == 49
    assert _carried_across(got.table, ticks, np.arange(0, 50, 7)) > 0


def test_fixes_realtime_equal_one_run(data_dir, dask_client):
    # 3 hours of 15 s ticks (720 + 1) in 6 partitions; the first fix of the range
    start, end = parse_instant("2025-12-30T09:00Z"), parse_instant("2025-12-30T12:00Z")
    want = compute_fixes(data_dir, start, end, realtime=True)
    got = fixes_distributed(data_dir, start, end, dask_client, realtime=True, partitions=6)
    assert got.table.equals(want.table)
    _same_report(got.report, want.report)
    ticks = fix_grid(start, end, 15 * NS_PER_SECOND)
    cuts = np.array([len(ticks) * j // 6 for j in range(7)])
    assert _carried_across(got.table, ticks, cuts) > 0


def test_fixes_small_grids(data_dir, dask_client):
    # more partitions than grid times (3 ticks: 3 partitions), and a range with no whole hour
    start = parse_instant("2025-12-30T10:00Z")
    for end, ticks in ((start + 2 * NS_PER_HOUR, 3), (start + 5, 1)):
        want = compute_fixes(data_dir, start, end)
        got = fixes_distributed(data_dir, start, end, dask_client, partitions=50)
        assert got.table.equals(want.table)
        assert len(got.report["partitions"]) == ticks
        _same_report(got.report, want.report)
    want = compute_fixes(data_dir, start + 1, start + 5)  # no whole hour: an empty grid
    empty = fixes_distributed(data_dir, start + 1, start + 5, dask_client)
    assert empty.table.num_rows == 0 and empty.table.equals(want.table)
    _same_report(empty.report, want.report)
    assert empty.report["markets"] == want.report["markets"]


@pytest.mark.parametrize("layout", ["hive", "csv"])
def test_fixes_other_trade_layouts(tmp_path, data_dir, dask_client, layout):
    # a hive-partitioned dataset (filtered while reading) and a CSV file (read whole)
    for name in ("fx", "exchanges"):
        (tmp_path / f"{name}.parquet").write_bytes((data_dir / f"{name}.parquet").read_bytes())
    trades = pq.read_table(data_dir / "trades.parquet")
    if layout == "hive":
        day = pc.strftime(trades.column("ts"), format="%Y-%m-%d")
        pq.write_to_dataset(trades.append_column("date", day), tmp_path / "trades",
                            partition_cols=["date"])
    else:
        write_table(trades, tmp_path / "trades.csv")
    start, end = parse_instant("2025-12-30T00:00Z"), parse_instant("2025-12-31T23:00Z")
    want = compute_fixes(tmp_path, start, end)
    got = fixes_distributed(tmp_path, start, end, dask_client, partitions=4)
    assert got.table.equals(want.table)
    _same_report(got.report, want.report)


def test_fixes_input_error_names_the_file(tmp_path, dask_client):
    # a quote with no fx row (SPEC §2.2) in the second partition's trades
    t0 = parse_instant("2025-01-01T00:00Z")
    trades = pa.table({
        "ts": pa.array([t0 + 60 * NS_PER_SECOND, t0 + 3 * NS_PER_HOUR + 60 * NS_PER_SECOND],
                       TS),
        "asset": ["BTC", "BTC"], "exchange": ["EX01", "EX01"], "quote": ["USD", "XYZ"],
        "price": [100.0, 101.0], "size": [1.0, 1.0]})
    write_table(trades, tmp_path / "trades.parquet")
    with pytest.raises(InputError) as info:
        fixes_distributed(tmp_path, t0, t0 + 4 * NS_PER_HOUR, dask_client, partitions=2)
    text = str(info.value)
    assert str(tmp_path / "trades.parquet") in text
    assert "XYZ" in text and "SPEC §2.2" in text


# --- backfill -------------------------------------------------------------------------------


@pytest.mark.parametrize("hourly", [False, True])
def test_backfill_equal_one_run(data_dir, dask_client, hourly):
    want = backfill(data_dir, hourly=hourly)
    got = dd.backfill_distributed(data_dir, dask_client, hourly=hourly)
    for name in ("levels", "constituents", "reviews"):
        assert getattr(got, name).equals(getattr(want, name)), name
    for key in ("inputs", "data", "skipped", "parameters"):
        assert got.manifest[key] == want.manifest[key], key
    assert got.manifest["counts"] == want.manifest["counts"]
    # 9 groups (see test_index_groups), every index in exactly one
    groups = [p["indices"] for p in got.manifest["partitions"]]
    assert len(groups) == 9
    assert sorted(i for g in groups for i in g) == sorted(CATALOGUE)


def _rows(table) -> list:
    return sorted(map(repr, table.to_pylist()))


def test_backfill_on_cluster_keeps_state_and_recalc_on_cluster(data_dir, dask_client,
                                                                 tmp_path):
    # SPEC §7: the output of a distributed backfill holds the state/ a recalc restarts from,
    # the same as one run's; a recalc on the cluster equals one in this process and a full
    # backfill on the new data, bit for bit.
    import shutil

    from daix.engine.outputs import write_backfill
    from daix.engine.recalc import recalc, write_recalc

    one = tmp_path / "one"
    write_backfill(backfill(data_dir), one)
    out = tmp_path / "out"
    write_backfill(dd.backfill_distributed(data_dir, dask_client), out)
    for name in ("baskets", "rows", "reads", "hashes"):
        got = pq.read_table(out / "state" / f"{name}.parquet")
        want = pq.read_table(one / "state" / f"{name}.parquet")
        assert _rows(got) == _rows(want), name
    for name in ("grid_15m.npy", "grid_1h.npy"):
        assert (out / "state" / name).read_bytes() == (one / "state" / name).read_bytes()
    # A supply correction: the reviews of every multi-asset index run again.
    new = tmp_path / "new"
    shutil.copytree(data_dir, new)
    supply = pq.read_table(new / "supply.parquet")
    values = supply.column("circulating_supply").to_numpy().copy()
    values[len(values) // 2] *= 4
    pq.write_table(supply.set_column(supply.schema.get_field_index("circulating_supply"),
                                     "circulating_supply", pa.array(values)),
                   new / "supply.parquet")
    full = backfill(new)
    here = recalc(new, out)
    there = recalc(new, out, client=dask_client)
    assert there.result.manifest["recalc"]["dask"]["partitions"] >= 2
    assert there.result.manifest["recalc"]["reviews_from"]
    for name in ("levels", "constituents", "reviews"):
        assert getattr(there.result, name).equals(getattr(full, name)), name
        assert getattr(here.result, name).equals(getattr(full, name)), name
    assert there.diff.equals(here.diff)
    # Its state/ serves the next recalc as one in this process does.
    o1, o2 = tmp_path / "o1", tmp_path / "o2"
    write_recalc(here, o1, out)
    write_recalc(there, o2, out)
    for name in ("baskets", "rows", "reads"):
        assert _rows(pq.read_table(o1 / "state" / f"{name}.parquet")) == _rows(
            pq.read_table(o2 / "state" / f"{name}.parquet")), name
    r = CliRunner().invoke(main, ["recalc", str(new), "--previous", str(out), "--out",
                                  str(tmp_path / "cli"), "--dask",
                                  dask_client.scheduler.address, "--quiet"])
    assert r.exit_code == 0, r.output
    assert pq.read_table(tmp_path / "cli" / "levels.parquet").equals(full.levels)


def test_backfill_chosen_indices(data_dir, dask_client):
    ids = ["GS_TOTAL", "BTC_UTC", "CUSTOM_TOP20", "BTC_1H_1700_CET"]
    kw = dict(indices=ids, start="2025-06-01", end="2025-09-30")
    want = backfill(data_dir, **kw)
    got = dd.backfill_distributed(data_dir, dask_client, **kw)
    for name in ("levels", "constituents", "reviews"):
        assert getattr(got, name).equals(getattr(want, name)), name
    assert got.manifest["parameters"] == want.manifest["parameters"]
    with pytest.raises(ConfigError, match="no index selected"):
        dd.backfill_distributed(data_dir, dask_client, indices=["BTC_UTC"], family="custom")


def test_index_groups():
    # SPEC §5: 3 Custom and 2 Crypto Select indices alone, the 8 Grayscale indices together,
    # the 37 single asset indices by window -> 1 + 2 + 3 + 3 = 9 groups. Of the 31 daily and
    # hourly ones, the 17 named "_1H_" use the 1-hour window and 14 the 15-minute one (BTC 5,
    # ADA 2, ETH 3, DOT, SOL, TON, XRP 1 each); the 6 real-time ones use 15 s. The 15m group
    # comes first: BTC_UTC is the first single asset index of the catalogue.
    groups = dd.index_groups(CATALOGUE.values())
    assert groups[0] == [i for i, d in CATALOGUE.items() if d.family == "grayscale"]
    assert len(groups[0]) == 8
    assert groups[1:3] == [["SELECT10"], ["SELECT10_EXBTC"]]
    assert groups[3:6] == [["CUSTOM_TOP20"], ["CUSTOM_INFRA"], ["CUSTOM_APP"]]
    singles = groups[6:]
    assert [len(g) for g in singles] == [14, 17, 6]
    assert all("_1H_" in i for i in singles[1])
    assert {CATALOGUE[i].window for i in singles[2]} == {"15s"}
    assert sorted(i for g in groups for i in g) == sorted(CATALOGUE)


def test_merge_order_of_one_run():
    # catalogue positions: CUSTOM_TOP20 0, BTC_UTC 5, BTC_1H_1700_CET 8, ETH_UTC 18: every
    # table in that order (build_tables), each index's rows as they came
    def table(ids: list[str], **cols) -> pa.Table:
        return pa.table({"index": pa.array(ids, pa.string()), **cols})

    parts = [
        (table(["BTC_UTC", "BTC_UTC", "ETH_UTC"], v=[1, 2, 3]),
         table(["BTC_UTC", "ETH_UTC"], v=[1, 2]), table([], v=pa.array([], pa.int64()))),
        (table(["CUSTOM_TOP20", "CUSTOM_TOP20"], v=[4, 5]),
         table(["CUSTOM_TOP20"], v=[3]), table(["CUSTOM_TOP20", "CUSTOM_TOP20"], v=[1, 2])),
        (table(["BTC_1H_1700_CET"], v=[6]), table(["BTC_1H_1700_CET"], v=[4]),
         table([], v=pa.array([], pa.int64()))),
    ]
    levels, constituents, reviews = dd.merge_backfill_tables(parts)
    assert levels.column("v").to_pylist() == [4, 5, 1, 2, 6, 3]
    assert constituents.column("index").to_pylist() == [
        "CUSTOM_TOP20", "BTC_UTC", "BTC_1H_1700_CET", "ETH_UTC"]
    assert reviews.column("v").to_pylist() == [1, 2]


# --- command line -----------------------------------------------------------------------------


def test_cli_fix_and_backfill_on_the_cluster(tmp_path, data_dir, dask_client):
    address = dask_client.scheduler.address
    out = tmp_path / "fixes.parquet"
    runner = CliRunner()
    res = runner.invoke(main, ["fix", str(data_dir), "--out", str(out), "--start",
                               "2025-12-30", "--end", "2025-12-30", "--dask", address])
    assert res.exit_code == 0, res.output
    assert "trades read" in res.output
    # a bare --end date is the end of that day: 00:00 .. 23:00 UTC
    start = parse_instant("2025-12-30T00:00Z")
    want = compute_fixes(data_dir, start, start + 24 * NS_PER_HOUR - 1)
    assert pq.read_table(out).equals(want.table)
    res = runner.invoke(main, ["backfill", str(data_dir), "--out", str(tmp_path / "bf"),
                               "--family", "custom", "--quiet", "--dask", address])
    assert res.exit_code == 0, res.output
    want = backfill(data_dir, family="custom")
    assert pq.read_table(tmp_path / "bf" / "levels.parquet").equals(want.levels)
    assert pq.read_table(tmp_path / "bf" / "reviews.parquet").equals(want.reviews)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler(tmp_path, data_dir, monkeypatch):
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ConfigError, match="cannot reach the dask scheduler"):
        dd.client(address, timeout=0.5)
    monkeypatch.setattr(dd, "CONNECT_TIMEOUT", 0.5)
    res = CliRunner().invoke(main, ["backfill", str(data_dir), "--out", str(tmp_path / "o"),
                                    "--dask", address.removeprefix("tcp://")])
    assert res.exit_code == 1
    assert "cannot reach the dask scheduler" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(ConfigError, match="'local' or the address"):
        dd.client("my-cluster")


def test_dask_not_installed(tmp_path, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(ConfigError, match=r'pip install "daix\[dask\]"'):
        dd.client("local")
    res = CliRunner().invoke(main, ["fix", str(data_dir), "--out", str(tmp_path / "f.parquet"),
                                    "--start", "2025-12-30", "--end", "2025-12-30",
                                    "--dask", "local"])
    assert res.exit_code == 1
    assert 'pip install "daix[dask]"' in res.output
    assert not (tmp_path / "f.parquet").exists()


# --- kernels: compiled once per host ---------------------------------------------------------


def test_workers_warmed_the_same_kernels(dask_client):
    stats = worker_kernel_stats(dask_client)
    assert len(stats) == 2
    local = warm_kernels()
    assert {s["digest"] for s in stats.values()} == {local["digest"]}


def test_fresh_cache_compiled_once(tmp_path):
    # workers with an empty NUMBA_CACHE_DIR: the first to take the lock compiles and writes
    # the cache, the second loads every kernel from those files (valid cache, no compile)
    cache = tmp_path / "numba-cache"
    cluster, c = _cluster(NUMBA_CACHE_DIR=str(cache))
    try:
        c.register_plugin(KernelWarmup(("keys",)))
        stats = list(worker_kernel_stats(c, ("keys",)).values())
    finally:
        c.close()
        cluster.close()
    assert len(stats) == 2
    assert {s["cache_dir"] for s in stats} == {str(cache)}
    first, second = sorted(stats, key=lambda s: -s["compiled"])
    assert first["compiled"] > 0 and first["loaded"] == 0
    # (a kernel called by another is compiled with it, but not loaded on its own)
    assert second["compiled"] == 0 and 0 < second["loaded"] <= first["compiled"]
    assert first["digest"] == second["digest"] == warm_kernels(("keys",))["digest"]
    assert list(cache.rglob("*.nbi")) and list(cache.rglob("*.nbc"))
    assert (cache / LOCK_NAME).exists()
