"""Trades as a hive-partitioned dataset are scanned in batches with bounded memory (SPEC §2,
§6.1): the Arrow memory the fixes hold at once stays a small fraction of the dataset, and the
fixes equal those of the same trades read whole."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from daix.fixes import compute_fixes
from daix.synth import synthesize_tables
from daix.timeutil import NS_PER_DAY

DAYS = 24
BATCH_ROWS = 20_000
ROW_GROUP = 20_000

#: Run in a fresh interpreter, so that the peak of Arrow's memory pool is this run's alone;
#: ``traced`` is the peak of what Python and NumPy allocate (tracemalloc), after a first run
#: that loads the kernels.
SCRIPT = textwrap.dedent("""
    import json, sys, tracemalloc
    import pyarrow as pa
    from daix.fixes import compute_fixes
    root, start, end, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    pool = pa.default_memory_pool()
    base = pool.bytes_allocated()
    res = compute_fixes(root, start, end, batch_rows=batch)
    arrow = pool.max_memory() - base
    tracemalloc.start()
    compute_fixes(root, start, end, batch_rows=batch)
    traced = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"arrow": arrow, "traced": traced, "rows": res.table.num_rows,
                      "read": res.report["trades_read"]}))
""")


def make_hive(root, copies: int = 1):
    """A data directory with the trades as a hive dataset by date: two synthetic days repeated
    over ``DAYS`` days, each trade ``copies`` times (a second apart): more trades, the same
    fixes grid. Returns (root, the trades in memory, start, end)."""
    tables = synthesize_tables(assets=12, years=0.3, seed=4, trades_days=2, defects=False)
    one = tables["trades"]
    ts = one.column("ts").cast(pa.int64())
    lo = pc.min(ts).as_py()
    first_day = lo - lo % NS_PER_DAY
    parts = []
    for k in range(0, DAYS, 2):
        for c in range(copies):
            shifted = pc.add(ts, k * NS_PER_DAY + c * 1_000_000_000)
            parts.append(one.set_column(0, "ts", shifted.cast(one.schema.field("ts").type)))
    trades = pa.concat_tables(parts)
    day = pc.strftime(trades.column("ts"), format="%Y-%m-%d")
    # Row groups of a bounded size, as a writer of a large dataset makes them: a row group is
    # the smallest piece a Parquet reader decodes.
    pq.write_to_dataset(trades.append_column("date", day), root / "trades",
                        partition_cols=["date"], max_rows_per_group=ROW_GROUP,
                        min_rows_per_group=ROW_GROUP // 2)
    for name in ("fx", "exchanges"):
        pq.write_table(tables[name], root / f"{name}.parquet")
    return root, trades, first_day + NS_PER_DAY, first_day + (DAYS - 1) * NS_PER_DAY


@pytest.fixture(scope="module")
def hive(tmp_path_factory):
    return make_hive(tmp_path_factory.mktemp("hive"))


def peak_memory(root, start: int, end: int) -> dict:
    """Peaks of memory while computing the fixes, in a fresh interpreter (``SCRIPT``)."""
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(root), str(start), str(end),
                          str(BATCH_ROWS)], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_hive_dataset_scanned_with_bounded_memory(hive, tmp_path):
    root, trades, start, end = hive
    assert len(list((root / "trades").iterdir())) >= DAYS
    small = peak_memory(root, start, end)
    assert small["read"] == trades.num_rows > 10 * BATCH_ROWS
    # Four times the trades over the same hours, read whole, would be four times the memory.
    # Scanned file by file in batches, Arrow holds about one file's row group at a time (a
    # small fraction of the data), and what the fixes allocate besides (the sums per bucket,
    # the output) does not grow with the number of trades.
    root4, trades4, start4, end4 = make_hive(tmp_path, copies=4)
    large = peak_memory(root4, start4, end4)
    assert large["read"] == trades4.num_rows == 4 * trades.num_rows
    assert large["rows"] == small["rows"]
    assert large["arrow"] < 0.15 * trades4.nbytes, (large, trades4.nbytes)
    assert large["traced"] < 1.1 * small["traced"], (small, large)


def test_hive_dataset_fixes_equal_whole_table(hive):
    root, trades, start, end = hive
    from daix.io import DataSet

    fx = pq.read_table(root / "fx.parquet")
    exchanges = pq.read_table(root / "exchanges.parquet")
    whole = compute_fixes(DataSet({"trades": trades, "fx": fx, "exchanges": exchanges}),
                          start, end)
    scanned = compute_fixes(root, start, end, batch_rows=BATCH_ROWS)
    assert scanned.table.equals(whole.table)
    assert scanned.report["trades_read"] == whole.report["trades_read"]
