"""Recalculation (SPEC §7): bit for bit a full backfill on the new data, recomputing only what
the change reaches, with a diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.cli import main
from daix.engine.backfill import backfill
from daix.engine.outputs import write_backfill
from daix.engine.recalc import recalc, write_recalc
from daix.synth import synthesize

HOUR = 3_600_000_000_000


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A synthetic data set and its backfill output."""
    root = tmp_path_factory.mktemp("recalc")
    data = root / "data"
    synthesize(data, assets=24, years=1.6, seed=11, trades_days=0.5, defects=False)
    (data / "trades.parquet").unlink()  # prices are given: keep the test quick
    out = root / "out"
    write_backfill(backfill(data), out)
    return root, data, out


def edited(base, name: str, edit) -> Path:
    """A copy of the data directory with one table changed by ``edit(table) -> table``."""
    root, data, _ = base
    new = root / f"data_{name}"
    if new.exists():
        shutil.rmtree(new)
    shutil.copytree(data, new)
    table = pq.read_table(new / f"{name}.parquet")
    pq.write_table(edit(table), new / f"{name}.parquet")
    return new


def assert_same_as_full_backfill(new_data: Path, res) -> None:
    full = backfill(new_data)
    for name in ("levels", "constituents", "reviews"):
        got, want = getattr(res.result, name), getattr(full, name)
        assert got.schema.equals(want.schema), name
        assert got.equals(want), f"{name} differs from a full backfill"


def middle_day(table) -> int:
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    mid = int(np.median(ts))
    return mid - mid % (24 * HOUR)


def price_correction(table):
    # BTC's 15m fixes on one day in the middle of the history, 1% higher.
    day = middle_day(table)
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    hit = ((ts >= day) & (ts < day + 24 * HOUR)
           & (table.column("asset").cast(pa.string()).to_numpy(zero_copy_only=False) == "BTC")
           & (table.column("window").cast(pa.string()).to_numpy(zero_copy_only=False) == "15m"))
    price = table.column("price").to_numpy(zero_copy_only=False).copy()
    price[hit] *= 1.01
    return table.set_column(table.schema.get_field_index("price"), "price", pa.array(price))


def test_price_correction(base, tmp_path):
    _, _, out = base
    new = edited(base, "prices", price_correction)
    res = recalc(new, out)
    assert_same_as_full_backfill(new, res)
    info = res.result.manifest["recalc"]
    # Only the 15m window changed: the 1h indices (Crypto Select, 1HR single) are not reached.
    assert "SELECT10" not in info["recomputed"] and "BTC_1H_4PM_ET" not in info["recomputed"]
    assert "BTC_UTC" in info["recomputed"] and "ETH_UTC" not in info["recomputed"]
    diff = {r["index"]: r for r in res.diff.to_pylist()}
    assert diff["BTC_UTC"]["changed"] and diff["BTC_UTC"]["changed_levels"] > 0
    # The BTC level moves by 1% where a corrected fix is read: relative change 0.01.
    assert diff["BTC_UTC"]["max_rel_change"] == pytest.approx(0.01, rel=1e-9)
    assert not diff["ETH_UTC"]["changed"]
    write_recalc(res, tmp_path / "new_out", out)
    assert (tmp_path / "new_out" / "diff.parquet").exists()


def test_supply_correction(base):
    _, _, out = base

    def edit(table):
        supply = table.column("circulating_supply").to_numpy().copy()
        supply[len(supply) // 2] *= 3
        return table.set_column(2, "circulating_supply", pa.array(supply))

    new = edited(base, "supply", edit)
    res = recalc(new, out)
    assert_same_as_full_backfill(new, res)
    assert not any(i.endswith("_UTC") for i in res.result.manifest["recalc"]["recomputed"])


def test_list_change(base):
    _, _, out = base

    def edit(table):
        months = sorted(set(table.column("review").to_pylist()))
        month = months[len(months) // 2]
        extra = pa.table({"review": [month], "list": ["hashkey_exclusion_top20"],
                          "asset": ["ETH"]})
        return pa.concat_tables([table, extra.cast(table.schema)])

    new = edited(base, "lists", edit)
    res = recalc(new, out)
    assert_same_as_full_backfill(new, res)
    assert res.result.manifest["recalc"]["recomputed"] == ["CUSTOM_TOP20"]


def test_new_deletion(base):
    _, data, out = base
    # SOL (a smart contract platform in every synthetic set) leaves mid-history.
    u = middle_day(pq.read_table(data / "prices.parquet")) + 7 * 24 * HOUR + 13 * HOUR

    def edit(table):
        ts = pa.array([u], pa.int64()).cast(table.schema[0].type)
        extra = pa.table({"ts": ts, "asset": ["SOL"]})
        return pa.concat_tables([table, extra.cast(table.schema)])

    new = edited(base, "deletions", edit)
    res = recalc(new, out)
    assert_same_as_full_backfill(new, res)
    deleted = [r for r in res.result.reviews.to_pylist()
               if r["asset"] == "SOL" and r["action"] == "delete"
               and "intra-review" in r["reason"]]
    assert deleted, "the new deletion shows in the review rows"


def test_no_change_recomputes_nothing(base):
    _, data, out = base
    res = recalc(data, out)
    assert res.changes == [] and res.result.manifest["recalc"]["recomputed"] == []
    assert not any(r["changed"] for r in res.diff.to_pylist())
    assert_same_as_full_backfill(data, res)


def test_cli_recalc_never_overwrites_previous(base, tmp_path):
    _, data, out = base
    before = sorted(p.name for p in out.iterdir())
    r = CliRunner().invoke(main, ["recalc", str(data), "--previous", str(out), "--out",
                                  str(out), "--quiet"])
    assert r.exit_code != 0 and "must differ" in r.output
    new = edited(base, "prices", price_correction)
    r = CliRunner().invoke(main, ["recalc", str(new), "--previous", str(out), "--out",
                                  str(tmp_path / "o2"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "BTC_UTC" in r.output
    assert sorted(p.name for p in out.iterdir()) == before
    d = pq.read_table(tmp_path / "o2" / "diff.parquet")
    assert pc.any(d.column("changed")).as_py()
