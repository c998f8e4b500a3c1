"""The hourly price matrices kept in ``state/`` for a later recalc (SPEC §7.2).

A backfill saves each window's dense matrix (:class:`daix.engine.market.PriceGrid`) as a NumPy
file beside its asset list and counts: one ``grid_<window>.npy`` per window or, when the grid
was saved to a file while the run went on (``backfill(spool=...)``, as the CLI does), that
file linked as ``grid.npy``, every window in one ``(windows, rows, assets)`` array.
``grid.json`` says which file and slot holds each window (``files``; an older output without
it has a file per window).

A recalc whose price correction changed only the prices of some row groups (same instants,
assets and windows, row for row) maps the kept matrices copy-on-write, lays the corrected row
groups over them and reads nothing else of the prices table. Its own ``state/`` then links the
kept matrix file (hard link; a copy where links are not possible: the files are never written
in place, so both outputs stay valid) and writes beside it only the cells that differ
(``grid_<window>.cells.npz``: row, column, value, applied in order when loading). A matrix is
written whole again when its cells outgrow a tenth of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from daix.engine.market import PriceGrid
from daix.writing import link_or_copy

META = "grid.json"
STACKED = "grid.npy"
NS_PER_HOUR = 3_600_000_000_000


def grid_file(window: str) -> str:
    return f"grid_{window}.npy"


def cells_file(window: str) -> str:
    return f"grid_{window}.cells.npz"


@dataclass
class KeptMatrix:
    """A window's matrix as kept: the base file and the cells laid over it since."""

    base: Path
    slot: int | None = None  # the window's index in a stacked file; None: a 2-d file
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def add(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        self.rows.append(np.asarray(rows, np.int64))
        self.cols.append(np.asarray(cols, np.int64))
        self.values.append(np.asarray(values, np.float64))

    def n_cells(self) -> int:
        return sum(len(r) for r in self.rows)


def save_grid(grid: PriceGrid, state: Path, kept: dict[str, KeptMatrix] | None = None) -> None:
    """Write ``grid`` under ``state``; a window in ``kept`` links its base file and writes its
    changed cells (unless they are many: then the matrix is written whole)."""
    kept = kept or {}
    files: dict[str, list] = {}
    stacked = grid.spooled()  # waits for the file to be written
    if stacked is not None and not kept:  # built in a file: link it, write nothing again
        link_or_copy(stacked[0], state / STACKED)
        files = {w: [STACKED, k] for k, w in enumerate(stacked[1])}
        for w in stacked[1]:  # the output's file is never written again through the grid
            grid.matrices[w].flags.writeable = False
    for window, matrix in grid.matrices.items():
        if window in files:
            continue
        k = kept.get(window)
        if k is not None and k.base.exists() and k.n_cells() * 10 <= matrix.size:
            if not (state / k.base.name).exists():
                link_or_copy(k.base, state / k.base.name)
            files[window] = [k.base.name, k.slot]
            if k.n_cells():
                np.savez(state / cells_file(window), rows=np.concatenate(k.rows),
                         cols=np.concatenate(k.cols), values=np.concatenate(k.values))
            continue
        np.save(state / grid_file(window), np.ascontiguousarray(matrix), allow_pickle=False)
        files[window] = [grid_file(window), None]
    (state / META).write_text(json.dumps({
        "assets": grid.assets, "grid_start": grid.grid_start, "n_rows": grid.n_rows,
        "windows": list(grid.matrices), "files": files, "counts": grid.counts}))


def load_grid(state: Path) -> tuple[PriceGrid, dict[str, KeptMatrix]] | None:
    """The kept grid, its matrices mapped copy-on-write (writes stay private) with their cells
    laid over, and what each window was made of; None when the output has none."""
    if not (state / META).exists():
        return None
    meta = json.loads((state / META).read_text())
    files = meta.get("files") or {w: [grid_file(w), None] for w in meta["windows"]}
    kept = {w: KeptMatrix(state / files[w][0], files[w][1]) for w in meta["windows"]}
    if not all(k.base.exists() for k in kept.values()):
        return None
    matrices, mapped = {}, {}
    for w, k in kept.items():
        if k.base.name not in mapped:
            mapped[k.base.name] = np.asarray(np.load(k.base, mmap_mode="c", allow_pickle=False))
        m = mapped[k.base.name]
        if k.slot is not None:
            if m.ndim != 3 or not 0 <= k.slot < m.shape[0]:
                return None
            m = m[k.slot]
        if m.shape != (meta["n_rows"], len(meta["assets"])) or m.dtype != np.float64:
            return None
        if (state / cells_file(w)).exists():
            with np.load(state / cells_file(w)) as z:
                k.add(z["rows"], z["cols"], z["values"])
            m[k.rows[0], k.cols[0]] = k.values[0]  # in order: a later write of a cell wins
        matrices[w] = m
    grid = PriceGrid(list(meta["assets"]), int(meta["grid_start"]), int(meta["n_rows"]),
                     matrices, dict(meta["counts"]))
    return grid, kept


def patch_grid(grid: PriceGrid, table, kept: dict[str, KeptMatrix] | None = None
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lay a validated piece of the prices table (rows whose instant, asset and window were
    already in the data) over ``grid``; adjusts ``bad_price``; records the cells that changed
    in ``kept``; returns per window whose matrix changed its changed cells (rows, columns)."""
    from daix.convert import DictionaryChunks, int64_chunk
    from daix.kernels.grid import patch_hourly_nb

    windows = list(grid.matrices)
    touched: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for batch in table.select(["ts", "asset", "window", "price"]).to_batches():
        ts = int64_chunk(batch.column(0), 1)
        price = np.asarray(batch.column(3).to_numpy(zero_copy_only=False), dtype=np.float64)
        win = DictionaryChunks.of([batch.column(2)])
        ast = DictionaryChunks.of([batch.column(1)])
        wslot = win.lookups(lambda v: windows.index(v) if v in windows else -1)[win.which[0]]
        acol = ast.lookups(lambda v: grid.asset_index.get(v, -1) if v is not None
                           else -1)[ast.which[0]]
        for slot, window in enumerate(windows):
            if not (wslot == slot).any():
                continue
            m = grid.matrices[window]
            # The cells this batch writes, and their values before.
            r = (ts - grid.grid_start) // NS_PER_HOUR
            c = acol[ast.indices[0]]
            on = ((wslot[win.indices[0]] == slot) & (ts % NS_PER_HOUR == 0) & (r >= 0)
                  & (r < grid.n_rows) & (c >= 0))
            r, c = r[on], c[on]
            before_values = m[r, c]
            changed, before, after = patch_hourly_nb(
                ts, win.indices[0], wslot, ast.indices[0], acol, price, grid.grid_start, slot, m)
            grid.counts["bad_price"] = grid.counts.get("bad_price", 0) + after - before
            if changed:
                now = m[r, c]
                moved = before_values.view(np.int64) != now.view(np.int64)
                rows, cols = touched.get(window, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
                touched[window] = (np.concatenate([rows, r[moved]]),
                                   np.concatenate([cols, c[moved]]))
                if kept is not None and window in kept:
                    kept[window].add(r[moved], c[moved], now[moved])
    grid._filled.clear()
    return touched
