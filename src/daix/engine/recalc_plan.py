"""The plan of a recalc (SPEC §7.2) and the recomputation of a group of its indices.

:func:`make_plan` reads what the previous run kept, finds the changed slices of the inputs
(:mod:`daix.engine.changes`), gets the price matrices (the kept ones patched, or built anew),
and decides per index whether and from when it is recomputed: ``reached`` (its levels, by the
month rule of :mod:`daix.engine.reach`) and ``resume`` (its reviews, narrowed for price changes
by :mod:`daix.engine.reads`). :func:`rerun_part` recomputes a group of the indices whose
reviews run again, on this machine or on a Dask worker (which makes the same plan from the
same files), and returns its rows as tables.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daix.catalogue import IndexDef
from daix.engine.reach import FROM_START, NEVER, _month_start, reach
from daix.errors import InputError
from daix.io import DataSet


def _load_previous(previous: Path):
    """(manifest, kept state hashes, future of :func:`_previous_tables`): the previous output's
    tables and baskets are read in a background thread while the new inputs are digested."""
    from daix.background import in_background
    from daix.engine.state import read_state

    if not (previous / "manifest.json").exists():
        raise InputError(f"{previous} is not a daix output directory (no manifest.json)")
    state = previous / "state"
    if not (state / "hashes.parquet").exists():
        raise InputError(f"{previous} has no state/ (written by daix backfill): cannot recalc")
    manifest = json.loads((previous / "manifest.json").read_text())
    kept = read_state(state)
    return manifest, kept, in_background(_previous_tables, previous, name="previous")


def _previous_tables(previous: Path):
    """(levels, constituents and reviews by name, baskets, review rows, reads or None) of
    the previous output."""
    import pyarrow.parquet as pq

    state = previous / "state"
    tables = {n: pq.read_table(previous / f"{n}.parquet")
              for n in ("levels", "constituents", "reviews")}
    baskets = pq.read_table(state / "baskets.parquet")
    rows = pq.read_table(state / "rows.parquet")
    reads = (pq.read_table(state / "reads.parquet") if (state / "reads.parquet").exists()
             else None)
    return tables, baskets, rows, reads


def restore_books(books: dict, reached: dict[str, float], baskets, rows) -> dict[str, int]:
    """Put back, into each book, its baskets and rows with E before the instant ``reached``
    gives it (all of them for ``NEVER``; a Grayscale book only whole); returns index -> that
    instant (its events from then on run again)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from daix.engine.baskets import Basket, ReviewRow

    # The Grayscale family shares its sector screens: its reviews run again for every one of
    # its books or for none, so its books are restored only when all of them stand whole.
    gs_whole = all(reached.get(i, NEVER) == NEVER for i, b in books.items()
                   if b.index.family == "grayscale")
    cuts = {i: int(min(reached.get(i, NEVER), 2**62)) for i, b in books.items()
            if reached.get(i, NEVER) != FROM_START
            and (b.index.family != "grayscale" or gs_whole)}
    if not cuts:
        return {}

    def before_cut(table):
        """Rows of the restored indices with E before their index's cut, as column lists."""
        table = table.filter(pc.is_in(table.column("index"), value_set=pa.array(sorted(cuts))))
        eff = table.column("effective").cast(pa.int64()).to_numpy()
        idx = table.column("index").to_pylist()
        keep = eff < np.array([cuts[i] for i in idx], dtype=np.int64)
        table = table.filter(pa.array(keep))
        cols = {c: table.column(c).to_pylist() for c in table.column_names
                if c not in ("effective", "close")}
        cols["effective"] = eff[keep].tolist()
        if "close" in table.column_names:
            cols["close"] = table.column("close").cast(pa.int64()).to_pylist()
        return cols, table.num_rows

    b, n = before_cut(baskets)
    groups: dict[tuple[str, int], list[int]] = {}
    for k in range(n):
        groups.setdefault((b["index"][k], b["seq"][k]), []).append(k)
    for (iid, _seq), ks in sorted(groups.items(), key=lambda kv: kv[0]):
        ks.sort(key=lambda k: b["position"][k])
        head = ks[0]
        members = [k for k in ks if b["asset"][k] is not None]
        assets = [b["asset"][k] for k in members]

        def of(column: str, members=members, assets=assets) -> dict:
            return dict(zip(assets, (b[column][k] for k in members), strict=True))

        books[iid].baskets.append(Basket(
            iid, b["month"][head], b["kind"][head], b["effective"][head],
            b["close"][head],  # None for an index's first basket
            assets, of("supply"), of("factor"), of("market_value"), of("weight"), of("rank"),
            [x for x in (b["notes"][head] or "").split("\n") if x]))
    r, n = before_cut(rows)
    for k in range(n):
        book = books[r["index"][k]]
        book.rows.append(ReviewRow(r["index"][k], r["review"][k], r["asset"][k],
                                   r["action"][k], r["reason"][k]))
        book.row_effective.append(r["effective"][k])
    return cuts


def _reach_span(reached: dict[str, float], defs: list[IndexDef], data: dict, grid) -> None:
    """A price matrix over other hours than before reaches every index: calculation times run
    to the end of the data and reviews need their times inside it (SPEC §8.3). From the start
    when the first hour moved, else from the month of the earlier last hour."""
    from daix.timeutil import ns_to_iso, parse_instant

    if grid is None or not data.get("grid_end"):
        return
    if ns_to_iso(grid.grid_start) == data.get("grid_start") and ns_to_iso(
            grid.grid_end) == data["grid_end"]:
        return
    if ns_to_iso(grid.grid_start) != data.get("grid_start"):
        at = FROM_START
    else:
        end = min(grid.grid_end, parse_instant(data["grid_end"]))
        at = float(_month_start(str(np.datetime64(end, "ns").astype("datetime64[M]"))))
    for d in defs:
        reached[d.id] = min(reached.get(d.id, NEVER), at)


def _kept_grid(previous: Path, patch: list | None):
    """The previous run's price matrices with the corrected row groups laid over them, what
    each window's matrix is made of (for the new ``state/``) and the cells that changed per
    window; (None, {}, None) when there are none."""
    from daix.engine.grid_store import load_grid, patch_grid

    loaded = load_grid(previous / "state")
    if loaded is None:
        return None, {}, None
    grid, kept = loaded
    touched: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for piece in patch or []:
        for window, (r, c) in patch_grid(grid, piece, kept).items():
            old_r, old_c = touched.get(window, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
            touched[window] = (np.concatenate([old_r, r]), np.concatenate([old_c, c]))
    return grid, kept, touched


def _resume(reached: dict[str, float], changes: list, defs: list[IndexDef], update, grid,
            touched, reads) -> dict[str, float]:
    """Per reached multi-asset index, the instant from which its reviews run again (SPEC
    §7.2): by the month rule of :func:`reach`, narrowed for price changes to the first review
    step that read a changed price (:mod:`daix.engine.reads`) when the changed cells are known.
    ``NEVER``: every kept basket stands; a Grayscale index is rerun whole or not at all."""
    from daix.engine.reads import GRAYSCALE, affected_rows, first_affected, steps_before
    from daix.timeutil import NS_PER_HOUR

    if touched is None or reads is None or grid is None:
        return dict(reached)
    other = reach([c for c in changes if c[0] != "prices"], defs, update.old_lists,
                  update.new_lists, False)
    affected = {w: affected_rows(grid.matrices[w], r, c) for w, (r, c) in touched.items()}
    first = first_affected(reads, affected, grid.grid_start, NS_PER_HOUR)
    out = dict(reached)
    for d in defs:
        if d.family == "single" or d.id not in reached:
            continue
        key = GRAYSCALE if d.family == "grayscale" else d.id
        at = NEVER
        if key in first:
            before = None if key == GRAYSCALE else steps_before(reads, key, first[key])
            at = FROM_START if before is None else float(before + 1)
        out[d.id] = min(at, other.get(d.id, NEVER))
    return out




@dataclass
class Plan:
    """Everything a recalc decided before recomputing (see the module docstring)."""

    previous: Path
    manifest: dict
    params: dict
    defs: list[IndexDef]
    ds: DataSet
    update: Any  # daix.engine.changes.Update
    prev_tables: dict
    baskets: Any  # state/baskets.parquet
    rows: Any  # state/rows.parquet
    prev_reads: Any  # state/reads.parquet, or None
    reached: dict[str, float]
    resume: dict[str, float]
    grid: Any
    grid_source: dict
    hashes: Any = None  # daix.engine.outputs.InputHashes of the new files
    timings: dict[str, float] = field(default_factory=dict)
    rerun: list[IndexDef] = field(default_factory=list)  # reviews run again
    standing: list[IndexDef] = field(default_factory=list)  # kept baskets, new levels
    singles: list[IndexDef] = field(default_factory=list)
    fix_report: dict | None = None  # fixes derived from trades (SPEC §8.2): their report

    @property
    def hourly(self) -> bool:
        return bool(self.params.get("hourly"))


def make_plan(data: Any, previous: str | Path, hash_files: bool = True) -> Plan:
    """Decide what a recalc of ``previous`` on ``data`` recomputes (SPEC §7.2). With
    ``hash_files`` the manifest's content hashes of the inputs are kept for the result."""
    from daix.engine.backfill import _has_hourly, _prices, select_indices
    from daix.engine.changes import update_state
    from daix.engine.outputs import InputHashes

    t0 = time.perf_counter()
    previous = Path(previous)
    manifest, kept, pending = _load_previous(previous)
    params = manifest["parameters"]
    derived = bool(params.get("derived_prices"))
    defs = select_indices(params.get("indices"), None)
    ds = DataSet(data)
    hashes = InputHashes(ds, start=False) if hash_files else None

    update = update_state(ds, *kept)
    ds.checked = set(update.same_files)  # validated by the previous run, byte for byte
    changes = update.changes
    reached = reach(changes, defs, update.old_lists, update.new_lists, derived)
    timings = {"hash_and_compare": time.perf_counter() - t0}
    t = time.perf_counter()
    grid, grid_source, touched = None, {}, None
    fix_report = None
    prices_changed = derived or any(c[0] == "prices" for c in changes)
    if not derived and "prices" not in update.read_whole and (
            not prices_changed or update.prices_patch is not None):
        grid, grid_source, touched = _kept_grid(previous, update.prices_patch)
    # The levels of every multi-asset index are computed again from the grid, changed or not
    # (the kept grid is missing when the previous prices were read whole or held in memory).
    if grid is None and (reached or prices_changed or any(d.family != "single" for d in defs)):
        from daix.engine.market import build_price_grid

        prices, _, fix_report = _prices(ds)
        if _has_hourly(prices):
            grid = build_price_grid(prices, ds.label("prices"))
        grid_source = {}
    timings["read_prices"] = time.perf_counter() - t
    _reach_span(reached, defs, manifest.get("data", {}), grid)
    prev_tables, baskets, rows, prev_reads = pending.result()
    resume = _resume(reached, changes, defs, update, grid, touched, prev_reads)
    plan = Plan(previous, manifest, params, defs, ds, update, prev_tables, baskets, rows,
                prev_reads, reached, resume, grid, grid_source, hashes, timings,
                fix_report=fix_report)
    todo = [d for d in defs if d.id in reached]
    multi = [d for d in todo if d.family != "single"]
    gs = [d for d in defs if d.family == "grayscale"]
    if any(d.family == "grayscale" for d in multi):  # the family shares its sector screens
        multi = [d for d in multi if d.family != "grayscale"] + gs
    # Indices none of whose review steps the changes reach keep every basket and review row:
    # only their levels are computed, from the kept baskets. Grayscale: all or none.
    standing = {d.id for d in multi if resume.get(d.id, NEVER) == NEVER}
    if any(d.family == "grayscale" and d.id not in standing for d in multi):
        standing -= {d.id for d in gs}
    plan.rerun = [d for d in multi if d.id not in standing]
    plan.standing = [d for d in multi if d.id in standing]
    plan.singles = [d for d in todo if d.family == "single"]
    return plan


@dataclass
class Part:
    """The recomputed rows of a group of indices whose reviews ran again."""

    levels: Any
    constituents: Any
    reviews: Any
    baskets: Any  # their state/ baskets and review rows
    rows: Any
    reads: Any  # what their review steps read
    skipped: dict[str, str | None]  # index -> why it has no levels (None: it has)


def rerun_part(plan: Plan, ids: list[str]) -> Part:
    """Rerun the reviews of the indices ``ids`` (of ``plan.rerun``) from their resume
    instants, restoring the kept baskets before, and compute their levels."""
    from daix.engine.backfill import _bound, multi_levels, run_reviews
    from daix.engine.outputs import build_tables
    from daix.engine.reads import ReadLog
    from daix.engine.state import baskets_tables

    defs = [d for d in plan.rerun if d.id in set(ids)]
    reads = ReadLog()
    books = run_reviews(plan.ds, plan.grid, defs, restore=lambda bks: restore_books(
        bks, plan.resume, plan.baskets, plan.rows), reads=reads)
    series = multi_levels(plan.grid, defs, books, plan.hourly)
    start_ns = _bound(plan.params.get("start"))
    end_ns = _bound(plan.params.get("end"), end_of_day=True)
    levels, constituents, reviews = build_tables(series, books, start_ns, end_ns)
    baskets, rows = baskets_tables(books)
    skipped = {d.id: (None if books[d.id].baskets else
                      "no review with its cut-off and price time inside the data (SPEC §4.1)")
               for d in defs}
    return Part(levels, constituents, reviews, baskets, rows, reads.table(), skipped)


def rerun_part_tables(data: str, previous: str, ids: list[str]) -> tuple:
    """:func:`rerun_part` from the files (on a Dask worker): the plan made again from the
    same files, then the part as a tuple of tables."""
    plan = make_plan(data, previous, hash_files=False)
    p = rerun_part(plan, ids)
    return (p.levels, p.constituents, p.reviews, p.baskets, p.rows, p.reads, p.skipped)
