"""Recalculation edge cases (SPEC §7.2: identical, bit for bit, to a full backfill on the new
data): a previous output computed from tables held in memory, a list change reaching one
Grayscale index only, and trades whose row groups trade places (the fixes sum trades in input
order, so their order is part of the data)."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daix.engine.backfill import backfill
from daix.engine.outputs import write_backfill
from daix.engine.recalc import recalc
from daix.synth import synthesize


def assert_same(res, full) -> None:
    for name in ("levels", "constituents", "reviews"):
        got, want = getattr(res.result, name), getattr(full, name)
        assert got.schema.equals(want.schema), name
        assert got.equals(want), f"{name} differs from a full backfill"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("recalc_edges")
    synthesize(root / "data", assets=15, years=2, seed=1, trades_days=0, defects=False)
    (root / "data" / "trades.parquet").unlink()
    return root / "data"


def test_previous_output_from_tables_in_memory(data, tmp_path):
    """No change: nothing is recomputed, yet the levels are made again from a grid (the kept
    grid cannot serve, the previous prices having been hashed in memory), equal to a full
    backfill, and the diff reports no change, on tables in memory and on the files."""
    tables = {p.stem: pq.read_table(p) for p in data.glob("*.parquet")}
    full = backfill(tables)
    write_backfill(full, tmp_path / "old")
    for new in (tables, data):
        res = recalc(new, tmp_path / "old")
        assert_same(res, full)
        assert not any(res.diff.column("changed").to_pylist())


def test_access_list_change_reaches_the_grayscale_family_whole(data, tmp_path):
    """A grayscale_access row reaches GS_SCP_INVESTIBLE alone; the family's reviews run
    again together (they share the sector screens), none of them twice."""
    old = tmp_path / "old"
    write_backfill(backfill(data), old)
    new = tmp_path / "new"
    shutil.copytree(data, new)
    lists = pq.read_table(new / "lists.parquet")
    months = sorted(set(lists.column("review").to_pylist()))
    row = pa.table({"review": [months[-1]], "list": ["grayscale_access"], "asset": ["XRP"]})
    pq.write_table(pa.concat_tables([lists, row.cast(lists.schema)]), new / "lists.parquet")
    res = recalc(new, old)
    assert_same(res, backfill(new))
    assert "GS_SCP_INVESTIBLE" in res.result.manifest["recalc"]["recomputed"]


def test_trades_row_groups_trading_places(tmp_path):
    """Prices derived from trades (SPEC §8.2). The same trades with their two row groups
    swapped sum in another order: the recalc sees the change and equals a full backfill."""
    d = tmp_path / "d"
    synthesize(d, assets=6, years=0.5, seed=3, trades_days=5, end="2025-09-30", defects=False)
    (d / "prices.parquet").unlink()
    t = pq.read_table(d / "trades.parquet")
    n = t.num_rows - t.num_rows % 2
    even = t.take(pa.array(np.arange(0, n, 2)))
    odd = t.take(pa.array(np.arange(1, n, 2)))
    pq.write_table(pa.concat_tables([even, odd]), d / "trades.parquet",
                   row_group_size=even.num_rows)
    old = tmp_path / "old"
    write_backfill(backfill(d), old)
    new = tmp_path / "new"
    shutil.copytree(d, new)
    pq.write_table(pa.concat_tables([odd, even]), new / "trades.parquet",
                   row_group_size=even.num_rows)
    assert pq.ParquetFile(new / "trades.parquet").num_row_groups == 2
    res = recalc(new, old)
    full = backfill(new)
    assert_same(res, full)
    assert res.result.manifest["recalc"]["n_changes"] > 0


def test_skipped_reasons_are_those_of_a_full_backfill(data, tmp_path):
    """Without the fx table the EUR single asset indices have no level: a recalc names the
    same reason as a backfill (no EUR rows, SPEC §3.2), not the one kept from before."""
    old = tmp_path / "old"
    write_backfill(backfill(data), old)
    new = tmp_path / "new"
    shutil.copytree(data, new)
    (new / "fx.parquet").unlink()
    res = recalc(new, old)
    full = backfill(new)
    assert_same(res, full)
    assert res.result.manifest["skipped"] == full.manifest["skipped"]
    assert full.manifest["skipped"]["BTC_RT_EUR"] == "no EUR rows in the fx table (SPEC §3.2)"
