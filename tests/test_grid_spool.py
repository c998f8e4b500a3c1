"""Price matrices built in a file beside the output and linked into ``state/`` (SPEC §7.2).

``backfill(spool=DIR)`` (what ``daix backfill`` does, with the directory that will hold the
output) builds the hourly matrices of SPEC §3.1 in a ``.npy`` file in DIR; ``write_backfill``
links it as ``state/grid.npy`` instead of writing the matrices again. The levels and the kept
matrices must be exactly those of a backfill held in memory, a recalc must restart from such
a ``state/``, and nothing may be left in DIR once the result is gone.
"""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scenarios import HOUR, scale_rows, write_groups

from daix.cli import main
from daix.engine.backfill import backfill
from daix.engine.grid_store import load_grid
from daix.engine.outputs import write_backfill
from daix.engine.recalc import recalc, write_recalc
from daix.synth import synthesize


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """16 assets over 1.3 years, the prices file in many row groups."""
    path = tmp_path_factory.mktemp("spool") / "data"
    synthesize(path, assets=16, years=1.3, seed=11, trades_days=0.5, defects=False)
    (path / "trades.parquet").unlink()
    write_groups(pq.read_table(path / "prices.parquet"), path / "prices.parquet")
    return path


def spool_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".daix-grid-"))


def same_matrix(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (NaN where the other has NaN)."""
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def test_spooled_matrices_are_linked_into_state_not_written(data, tmp_path):
    memory = backfill(data)
    spool = tmp_path / "spool"
    spool.mkdir()
    result = backfill(data, spool=spool)
    path, windows = result.grid.file
    assert path.parent == spool and spool_files(spool) == [path.name]
    assert windows == ("15m", "1h")
    for name in ("levels", "constituents", "reviews"):
        assert getattr(result, name).equals(getattr(memory, name)), name
    for w in windows:
        assert same_matrix(result.grid.matrices[w], memory.grid.matrices[w])

    out = spool / "out"  # the output beside the spooled file, on the same file system
    write_backfill(result, out)
    state = out / "state"
    assert (state / "grid.npy").stat().st_ino == path.stat().st_ino  # a link, not a copy
    assert not list(state.glob("grid_*.npy"))
    meta = json.loads((state / "grid.json").read_text())
    assert meta["files"] == {"15m": ["grid.npy", 0], "1h": ["grid.npy", 1]}
    # The output's file is not written again through the result's matrices.
    assert not result.grid.matrices["15m"].flags.writeable
    kept, _ = load_grid(state)
    for w in windows:
        assert same_matrix(kept.matrices[w], memory.grid.matrices[w])

    del result, kept
    gc.collect()
    assert spool_files(spool) == []  # the spooled name goes with the result ...
    again, _ = load_grid(state)  # ... the output's link stays
    assert same_matrix(again.matrices["1h"], memory.grid.matrices["1h"])


def test_a_state_written_from_memory_has_a_file_per_window(data, tmp_path):
    out = tmp_path / "out"
    result = backfill(data)
    assert result.grid.file is None
    write_backfill(result, out)
    meta = json.loads((out / "state" / "grid.json").read_text())
    assert meta["files"] == {"15m": ["grid_15m.npy", None], "1h": ["grid_1h.npy", None]}
    # An output written before ``files`` was kept names one file per window.
    del meta["files"]
    (out / "state" / "grid.json").write_text(json.dumps(meta))
    kept, how = load_grid(out / "state")
    assert {w: (k.base.name, k.slot) for w, k in how.items()} == {
        "15m": ("grid_15m.npy", None), "1h": ("grid_1h.npy", None)}
    for w in ("15m", "1h"):
        assert same_matrix(kept.matrices[w], result.grid.matrices[w])


def test_recalc_restarts_from_a_spooled_state(data, tmp_path):
    out = tmp_path / "out"
    write_backfill(backfill(data, spool=tmp_path), out)
    prices = pq.read_table(data / "prices.parquet")
    ts = prices.column("ts").cast(pa.int64()).to_numpy()
    day = int(np.median(ts)) // (24 * HOUR) * (24 * HOUR)
    edited, n = scale_rows(prices, "BTC", "15m", day, 1.01)
    assert n >= 20
    new = tmp_path / "new"
    shutil.copytree(data, new)
    write_groups(edited, new / "prices.parquet")

    res = recalc(new, out)
    full = backfill(new)
    for name in ("levels", "constituents", "reviews"):  # SPEC §7.2: a full backfill's tables
        assert getattr(res.result, name).equals(getattr(full, name)), name
    out2 = tmp_path / "out2"
    write_recalc(res, out2, out)
    state = out2 / "state"
    # The kept stacked file is linked, with the corrected 15m cells beside it.
    assert (state / "grid.npy").stat().st_ino == (out / "state" / "grid.npy").stat().st_ino
    meta = json.loads((state / "grid.json").read_text())
    assert meta["files"] == {"15m": ["grid.npy", 0], "1h": ["grid.npy", 1]}
    with np.load(state / "grid_15m.cells.npz") as z:
        assert len(z["rows"]) == n
    kept, _ = load_grid(state)
    for w in ("15m", "1h"):
        assert same_matrix(kept.matrices[w], full.grid.matrices[w])
    # The previous output's matrices were not written through (copy-on-write mapping).
    before, _ = load_grid(out / "state")
    assert not same_matrix(before.matrices["15m"], full.grid.matrices["15m"])
    assert same_matrix(before.matrices["1h"], full.grid.matrices["1h"])


def test_a_failed_backfill_leaves_no_spooled_file(data, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("reviews failed")

    monkeypatch.setattr("daix.engine.backfill.run_reviews", broken)
    with pytest.raises(RuntimeError, match="reviews failed"):
        backfill(data, spool=tmp_path)
    gc.collect()
    assert spool_files(tmp_path) == []


def test_a_failed_spool_write_fails_the_output_and_leaves_nothing(data, tmp_path,
                                                                 monkeypatch):
    # The matrices are saved in the background; an error there (a full disk) surfaces when
    # state/ links the file, and neither the file nor a partial output is left.
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", full_disk)
    result = backfill(data, spool=tmp_path)
    monkeypatch.undo()
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        write_backfill(result, out)
    assert spool_files(tmp_path) == [] and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_cli_backfill_links_its_matrices_and_leaves_nothing_beside(data, tmp_path):
    out = tmp_path / "runs" / "out"
    out.parent.mkdir()
    res = CliRunner().invoke(main, ["backfill", str(data), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in out.parent.iterdir()] == ["out"]
    assert (out / "state" / "grid.npy").stat().st_nlink == 1  # the spooled name is gone
    assert not list((out / "state").glob("grid_*.npy"))


def test_backfill_lets_the_decoded_prices_go_before_the_forward_fill(data, monkeypatch):
    # The forward-filled matrices (SPEC §3.8) reuse the memory of the decoded prices: by the
    # time the first is made, the data set no longer holds the prices table, and the state
    # hashes of the prices are already computed from it.
    from daix.engine import market

    seen = []
    fill = market.PriceGrid.filled

    def spy(self, window):
        if not seen:
            seen.append({key for key in ds_ref[0]._cache if key[0] == "prices"})
        return fill(self, window)

    ds_ref = []
    real = backfill.__globals__["DataSet"]

    def keep(source):
        ds_ref.append(real(source))
        return ds_ref[0]

    monkeypatch.setattr(market.PriceGrid, "filled", spy)
    monkeypatch.setattr("daix.engine.backfill.DataSet", keep)
    result = backfill(data)
    monkeypatch.undo()
    assert seen == [set()]
    # The state hashes are those of the prices as read, hashed on their own.
    from daix.engine.state import input_state
    from daix.io import DataSet

    alone = input_state(DataSet(data))
    assert result.state_hashes.result().merged.equals(alone.merged)
    assert list(result.state_hashes.result().tables) == list(alone.tables)


def test_duplicate_price_key_fails_before_anything_is_spooled(data, tmp_path):
    """SPEC §6.2: a duplicate (ts, asset, window), found by the price grid on the way, is an
    error naming the file and both rows; nothing is left beside the output nor in it."""
    src = tmp_path / "data"
    shutil.copytree(data, src)
    prices = pq.read_table(src / "prices.parquet")
    twice = prices.slice(1000, 1)
    pq.write_table(pa.concat_tables([prices, twice]), src / "prices.parquet")
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    r = CliRunner().invoke(main, ["backfill", str(src), "--out", str(out)])
    assert r.exit_code != 0
    assert "duplicate key" in r.output and "prices.parquet" in r.output
    assert "row 1001" in r.output and f"row {prices.num_rows + 1}" in r.output
    gc.collect()
    assert not out.exists() and list(out.parent.iterdir()) == []
