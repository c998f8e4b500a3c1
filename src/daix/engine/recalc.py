"""``recalc``: recompute after a data correction, only what the change can reach (SPEC §7).

1. Hash the new inputs per table, key and month (:mod:`daix.engine.state`) and compare with
   the hashes the previous run kept: the changed slices.
2. Decide which indices each change can reach and from when (:func:`reach`): a price of a
   window reaches the indices of that window (single asset indices: of that asset only); supply,
   universe, deletions and sectors reach the multi-asset indices; volume Grayscale; a list its
   family; EUR rates the EUR indices. A change in month m reaches from the start of m: every
   review or deletion taking effect before then read only earlier data (SPEC §4.1: E falls in
   the review month; prices, supply, volume and deletions are read at or before E). A change to
   the first universe snapshot or list on record reaches back to the start, since earlier
   reviews use it (SPEC §4.2).
3. Restore each reached multi-asset index from its kept baskets and review rows with E before
   that instant, run the later reviews and deletions, and compute its levels again (the levels
   kernel is cheap; the same arithmetic on the same baskets gives the same bits). Grayscale
   indices are recomputed whole when reached (their totals share the sector screens).
4. Indices not reached keep their previous rows. The result equals a full backfill on the new
   data, bit for bit; :func:`diff` says per index what changed.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daix.catalogue import CATALOGUE, IndexDef
from daix.errors import ConfigError, InputError
from daix.io import DataSet

NEVER = math.inf
FROM_START = -math.inf


@dataclass
class RecalcResult:
    """A backfill result for the new data, the per-index diff and what was recomputed."""

    result: Any  # BackfillResult
    diff: Any  # pyarrow.Table
    reached: dict[str, float]  # index -> earliest instant reached (ns, -inf = from the start)
    changes: list[tuple[str, str, str]]


def _month_start(month: str) -> int:
    return int(np.datetime64(month, "M").astype("datetime64[ns]").astype(np.int64))


def changed_slices(old: dict, new: dict) -> list[tuple[str, str, str]]:
    """(table, key, month) whose hash differs, appeared or disappeared."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _first_months(hashes: dict, table: str, key: str | None = None) -> str | None:
    months = [m for (t, k, m) in hashes if t == table and (key is None or k == key)]
    return min(months) if months else None


def reach(changes: list[tuple[str, str, str]], defs: list[IndexDef], old: dict, new: dict,
          derived_prices: bool) -> dict[str, float]:
    """Per index, the earliest instant (ns) a change can reach; indices not reached are left
    out (SPEC §7.2)."""
    out: dict[str, float] = {}

    def mark(d: IndexDef, t: float) -> None:
        out[d.id] = min(out.get(d.id, NEVER), t)

    for table, key, month in changes:
        t = float(_month_start(month))
        for d in defs:
            multi = d.family != "single"
            if table == "prices":
                asset, window = key.split("|")
                if window == d.window and (multi or d.asset == asset):
                    mark(d, t)
            elif table in ("supply", "deletions") and multi:
                mark(d, t)
            elif table == "volume" and d.family == "grayscale":
                mark(d, t)
            elif table == "universe" and multi:
                first = min(x for x in (_first_months(old, "universe"),
                                        _first_months(new, "universe")) if x)
                mark(d, FROM_START if month <= first else t)
            elif table == "lists" and multi and _list_reaches(key, d):
                first = min(x for x in (_first_months(old, "lists", key),
                                        _first_months(new, "lists", key)) if x)
                mark(d, FROM_START if month <= first else t)
            elif table == "assets" and multi:
                mark(d, FROM_START)
            elif table == "fx" and key == "EUR" and d.currency == "EUR":
                mark(d, t)
            if derived_prices and table in ("trades", "fx", "exchanges"):
                mark(d, t if table != "exchanges" else FROM_START)
    return out


def _list_reaches(name: str, d: IndexDef) -> bool:
    """Whether a named list (SPEC §6.1) is read by index ``d``."""
    if name.startswith("hashkey_"):
        return d.exclusion_list == name
    if name.startswith("21shares_"):
        return d.family == "select"
    if name == "grayscale_access":
        return d.id == "GS_SCP_INVESTIBLE"
    if name.startswith("grayscale_"):
        return d.family == "grayscale" and name.rsplit("_", 1)[-1] in d.grayscale
    return d.family != "single"


def _load_previous(previous: Path):
    import pyarrow.parquet as pq

    from daix.engine.state import read_state

    if not (previous / "manifest.json").exists():
        raise InputError(f"{previous} is not a daix output directory (no manifest.json)")
    state = previous / "state"
    if not (state / "hashes.parquet").exists():
        raise InputError(f"{previous} has no state/ (written by daix backfill): cannot recalc")
    manifest = json.loads((previous / "manifest.json").read_text())
    tables = {n: pq.read_table(previous / f"{n}.parquet")
              for n in ("levels", "constituents", "reviews")}
    kept = read_state(state)
    baskets = pq.read_table(state / "baskets.parquet")
    rows = pq.read_table(state / "rows.parquet")
    reads = (pq.read_table(state / "reads.parquet") if (state / "reads.parquet").exists()
             else None)
    return manifest, tables, kept, baskets, rows, reads


def restore_books(books: dict, reached: dict[str, float], baskets, rows) -> dict[str, int]:
    """Put back, into each book, its baskets and rows with E before the instant ``reached``
    gives it (all of them for ``NEVER``; a Grayscale book only whole); returns index -> that
    instant (its events from then on run again)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from daix.engine.baskets import Basket, ReviewRow

    cuts = {i: int(min(reached.get(i, NEVER), 2**62)) for i, b in books.items()
            if reached.get(i, NEVER) != FROM_START
            and (b.index.family != "grayscale" or reached.get(i, NEVER) == NEVER)}
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


def recalc(data: Any, previous: str | Path) -> RecalcResult:
    """Recompute the previous output's indices on new data, only where changes reach."""
    from daix.engine.backfill import (
        BackfillResult,
        _bound,
        _prices,
        multi_levels,
        run_reviews,
        select_indices,
    )
    from daix.engine.changes import update_state
    from daix.engine.market import AsOf
    from daix.engine.outputs import InputHashes, build_tables, manifest_for
    from daix.engine.reads import ReadLog
    from daix.engine.single import TickStream, single_levels
    from daix.engine.state import kept_books

    t_start = time.perf_counter()
    previous = Path(previous)
    manifest, prev_tables, kept, baskets, rows, prev_reads = _load_previous(previous)
    params = manifest["parameters"]
    derived = bool(params.get("derived_prices"))
    defs = select_indices(params.get("indices"), None)
    ds = DataSet(data)
    old_inputs = manifest.get("inputs", {})
    hashes = InputHashes(ds, start=False)

    def same(name: str) -> None:  # the previous run's sha256 stands
        if old_inputs.get(name, {}).get("file") and old_inputs[name].get("sha256"):
            hashes.know(name, old_inputs[name]["sha256"])

    update = update_state(ds, *kept, on_same=same, on_changed=hashes.submit)
    ds.checked = set(update.same_files)  # validated by the previous run, byte for byte
    changes = update.changes
    reached = reach(changes, defs, update.old_lists, update.new_lists, derived)
    hourly = bool(params.get("hourly"))
    start_ns, end_ns = _bound(params.get("start")), _bound(params.get("end"), end_of_day=True)
    timings: dict[str, float] = {"hash_and_compare": time.perf_counter() - t_start}
    series: list = []
    books: dict = {}
    grid = None
    grid_source: dict = {}
    standing: set[str] = set()
    skipped: dict[str, str] = dict(manifest.get("skipped", {}))
    prices_changed = derived or any(t == "prices" for t, _, _ in changes)
    todo = [d for d in defs if d.id in reached]
    t = time.perf_counter()
    touched = None  # the price cells that changed, when laid over the kept matrices
    if not derived and "prices" not in update.read_whole and (
            not prices_changed or update.prices_patch is not None):
        grid, grid_source, touched = _kept_grid(previous, update.prices_patch)
    if grid is None and (todo or prices_changed):
        prices, _ = _prices(ds)
        from daix.engine.backfill import _has_hourly
        from daix.engine.market import build_price_grid

        if _has_hourly(prices):
            grid = build_price_grid(prices, ds.label("prices"))
        grid_source = {}
    timings["read_prices"] = time.perf_counter() - t
    _reach_span(reached, defs, manifest.get("data", {}), grid)
    todo = [d for d in defs if d.id in reached]
    resume = _resume(reached, changes, defs, update, grid, touched, prev_reads)
    if todo:
        fx = AsOf.from_table(ds.table("fx", required=False), "currency", "usd_per_unit")
        multi = [d for d in todo if d.family != "single"]
        if multi:
            t = time.perf_counter()
            # Grayscale indices are restored or rerun whole, with every requested one of the
            # family (their totals share the sector screens).
            gs = [d for d in defs if d.family == "grayscale"]
            if any(d.family == "grayscale" for d in multi):
                multi = [d for d in multi if d.family != "grayscale"] + gs
            # Indices none of whose review steps the changes reach keep every basket and
            # review row: only their levels are computed, from the kept baskets.
            standing = {d.id for d in multi if resume.get(d.id, NEVER) == NEVER}
            if any(d.family == "grayscale" and d.id not in standing for d in multi):
                standing -= {d.id for d in gs}
            rerun = [d for d in multi if d.id not in standing]
            reads = ReadLog()
            books = run_reviews(ds, grid, rerun, restore=lambda bks: restore_books(
                bks, resume, baskets, rows), reads=reads) if rerun else {}
            series += multi_levels(grid, rerun, books, hourly)
            series += multi_levels(grid, [d for d in multi if d.id in standing],
                                   kept_books(baskets, standing, grid.asset_index), hourly)
            timings["reviews_and_levels"] = time.perf_counter() - t
            for d in rerun:
                skipped.pop(d.id, None)
                if not books[d.id].baskets:
                    skipped[d.id] = ("no review with its cut-off and price time inside the data "
                                     "(SPEC §4.1)")
        singles = [d for d in todo if d.family == "single"]
        ticks = TickStream(_prices(ds)[0] if any(d.window == "15s" for d in singles) else None)
        for d in singles:
            skipped.pop(d.id, None)
            s = single_levels(d, grid, ticks, fx, hourly)
            if s is None:
                skipped[d.id] = f"no {d.window} fix of {d.asset} in the prices table"
            else:
                series.append(s)
    recomputed = {s.index for s in series} | set(books)
    levels, constituents, reviews = build_tables(series, books, start_ns, end_ns)
    # Levels of every reached index are new; constituents and review rows only of those whose
    # reviews ran again (and the single asset indices'), the others' stand as kept.
    rebuilt = (recomputed | set(reached)) - standing
    levels = _merge(levels, prev_tables["levels"], recomputed | set(reached))
    constituents = _merge(constituents, prev_tables["constituents"], rebuilt)
    reviews = _merge(reviews, prev_tables["reviews"], rebuilt)
    timings["total"] = time.perf_counter() - t_start
    new_manifest = manifest_for(ds, defs, levels, constituents, reviews, timings, skipped,
                                params, grid, inputs=hashes.result())
    new_manifest["recalc"] = {
        "previous": str(previous),
        "changes": [list(c) for c in changes[:1000]],
        "n_changes": len(changes),
        "recomputed": sorted(recomputed),
        "reached_from": {i: ("start" if v == FROM_START else _iso(v))
                         for i, v in sorted(reached.items())},
        # Reviews run again from (SPEC §7.2); "none": every kept basket stands.
        "reviews_from": {i: ("start" if resume.get(i, NEVER) == FROM_START else "none"
                             if i in standing or resume.get(i, NEVER) == NEVER
                             else _iso(resume[i]))
                         for i in sorted(set(books) | standing)},
    }
    result = BackfillResult(levels, constituents, reviews, new_manifest, books, ds)
    result.state_hashes = _Done(update.state)  # state/ of the new output: hashed once, above
    result.grid, result.grid_source = grid, grid_source
    result.kept_books = tuple(_without(t, set(books)) for t in (baskets, rows))
    result.reads = _merge_reads(prev_reads, reads.table() if books else None, books, resume)
    from daix.engine.diff import diff

    outputs = {"levels": levels, "constituents": constituents, "reviews": reviews}
    return RecalcResult(result, diff(prev_tables, outputs, indices=recomputed | set(reached)),
                        reached, changes)


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


def _merge_reads(previous, new, books: dict, resume: dict[str, float]):
    """The reads of the new ``state/``: the kept steps' and those that ran again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from daix.engine.reads import GRAYSCALE

    if previous is None:
        return new
    keep = previous
    for iid, book in books.items():
        if book.index.family == "grayscale":
            if resume.get(iid, NEVER) < NEVER:  # rerun whole
                keep = keep.filter(pc.not_equal(keep.column("index"), GRAYSCALE))
            continue
        cut = resume.get(iid, NEVER)
        if cut == NEVER:
            cut = float(2**62)
        drop = pc.equal(keep.column("index"), iid)
        if cut != FROM_START:
            drop = pc.and_(drop, pc.greater_equal(keep.column("step"), int(cut)))
        keep = keep.filter(pc.invert(drop))
    both = pa.concat_tables([keep, new]) if new is not None else keep
    return both.group_by(both.column_names).aggregate([])  # distinct notes


class _Done:
    """A finished result with the ``result()`` method of :class:`daix.engine.state.StateHashes`."""

    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


def _without(table, indices: set[str]):
    """The rows of ``table`` whose ``index`` is not one of ``indices``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return table.filter(pc.invert(pc.is_in(table.column("index"),
                                           value_set=pa.array(sorted(indices), pa.string()))))


def _iso(ns: float) -> str:
    from daix.timeutil import ns_to_iso

    return ns_to_iso(int(ns))


def _merge(new_t, prev_t, replaced: set[str]):
    """Rows of recomputed indices from ``new_t``, others from ``prev_t``, in catalogue order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keep = prev_t.filter(pc.invert(pc.is_in(prev_t.column("index"),
                                            value_set=pa.array(sorted(replaced), pa.string()))))
    both = pa.concat_tables([keep, new_t.cast(keep.schema)])
    position = {iid: k for k, iid in enumerate(CATALOGUE)}
    pos = np.concatenate([np.zeros(0, np.int64)] + [
        np.array([position.get(v, len(position)) for v in c.dictionary.to_pylist()],
                 np.int64)[c.indices.to_numpy(zero_copy_only=False)]
        for c in pc.dictionary_encode(both.column("index")).chunks])
    order = np.argsort(pos, kind="stable")  # within an index both parts keep their order
    return both.take(pa.array(order))


def write_recalc(res: RecalcResult, out_dir: str | Path, previous: str | Path) -> Path:
    """Write the new output directory (never the previous one) with ``diff.parquet``."""
    import pyarrow.parquet as pq

    from daix.engine.outputs import write_backfill

    if Path(out_dir).resolve() == Path(previous).resolve():
        raise ConfigError("--out must differ from --previous: recalc never overwrites it")
    return write_backfill(res.result, out_dir,
                          extra=lambda tmp: pq.write_table(res.diff, tmp / "diff.parquet"))


__all__ = ["RecalcResult", "reach", "recalc", "write_recalc"]
