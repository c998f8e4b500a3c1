"""``recalc``: recompute after a data correction, only what the change can reach (SPEC §7).

1. Find the changed slices of the inputs per table, key and month, reading only the row groups
   whose bytes changed (:mod:`daix.engine.changes`), and get the price matrices (the kept ones
   with the corrected cells laid over them, when only prices changed in place).
2. Decide which indices each change can reach and from when (:mod:`daix.engine.reach`), and
   from which review step their reviews must run again (:mod:`daix.engine.reads`):
   :func:`daix.engine.recalc_plan.make_plan`.
3. Indices whose reviews run again are restored from their kept baskets and review rows up to
   that step, their later reviews and deletions run, and their levels are computed, group by
   group (:func:`daix.engine.recalc_plan.rerun_part`), here or on a Dask cluster. Indices
   reached whose reviews stand keep their baskets and rows: only their levels are computed
   (the levels kernel is cheap; the same arithmetic on the same baskets gives the same bits).
4. Indices not reached keep their previous rows. The result equals a full backfill on the new
   data, bit for bit; :func:`daix.engine.diff.diff` says per index what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daix.catalogue import CATALOGUE
from daix.engine.reach import FROM_START, NEVER, reach
from daix.errors import ConfigError


@dataclass
class RecalcResult:
    """A backfill result for the new data, the per-index diff and what was recomputed."""

    result: Any  # BackfillResult
    diff: Any  # pyarrow.Table
    reached: dict[str, float]  # index -> earliest instant reached (ns, -inf = from the start)
    changes: list[tuple[str, str, str]]


def recalc(data: Any, previous: str | Path, client: Any = None) -> RecalcResult:
    """Recompute the previous output's indices on new data, only where changes reach.

    With a Dask ``client`` the indices whose reviews run again are recomputed on its workers,
    group by group (the Grayscale family together, each other index alone); the workers read
    ``data`` and ``previous`` from the same paths."""
    import time

    import pyarrow as pa

    from daix.engine.backfill import BackfillResult, _bound, _prices, multi_levels
    from daix.engine.market import AsOf
    from daix.engine.outputs import build_tables, manifest_for
    from daix.engine.recalc_plan import make_plan, rerun_part
    from daix.engine.single import TickStream, single_series
    from daix.engine.state import kept_books

    t_start = time.perf_counter()
    plan = make_plan(data, previous)
    ds, grid, hourly = plan.ds, plan.grid, plan.hourly
    timings = dict(plan.timings)
    skipped: dict[str, str] = dict(plan.manifest.get("skipped", {}))
    t = time.perf_counter()
    parts = []
    if plan.rerun:
        if client is not None:
            parts = _parts_on_cluster(plan, data, client)
        else:
            p = rerun_part(plan, [d.id for d in plan.rerun])
            parts = [(p.levels, p.constituents, p.reviews, p.baskets, p.rows, p.reads,
                      p.skipped)]
    for part in parts:
        for iid, why in part[6].items():
            skipped.pop(iid, None)
            if why is not None:
                skipped[iid] = why
    series = multi_levels(grid, plan.standing,
                          kept_books(plan.baskets, {d.id for d in plan.standing},
                                     grid.asset_index if grid is not None else {}), hourly)
    # The 15s rows are read again when a real-time index is recomputed, or to count them
    # again when they changed (SPEC §8.2); otherwise their counts stand.
    realtime = plan.manifest.get("data", {}).get("realtime_rows")
    ticks = None
    if any(d.window == "15s" for d in plan.singles) or (realtime is not None and any(
            c[0] == "prices" and c[1].endswith("|15s") for c in plan.update.changes)):
        ticks = TickStream(_prices(ds)[0])
        realtime = ticks.counts
    if plan.singles:
        fx = AsOf.from_table(ds.table("fx", required=False), "currency", "usd_per_unit")
        ticks = ticks or TickStream(None)
        for d in plan.singles:
            skipped.pop(d.id, None)
            s, why = single_series(d, grid, ticks, fx, hourly)
            if s is None:
                skipped[d.id] = why
            else:
                series.append(s)
    timings["reviews_and_levels"] = time.perf_counter() - t
    rerun = {d.id for d in plan.rerun}
    standing = {d.id for d in plan.standing}
    recomputed = {s.index for s in series} | rerun
    start_ns = _bound(plan.params.get("start"))
    end_ns = _bound(plan.params.get("end"), end_of_day=True)
    local = build_tables(series, {}, start_ns, end_ns)
    new = [pa.concat_tables([local[k], *(p[k].cast(local[k].schema) for p in parts)])
           for k in range(3)]
    # Levels of every reached index are new; constituents and review rows only of those whose
    # reviews ran again (and the single asset indices'), the others' stand as kept.
    replaced = recomputed | set(plan.reached)
    levels = _merge(new[0], plan.prev_tables["levels"], replaced)
    constituents = _merge(new[1], plan.prev_tables["constituents"], replaced - standing)
    reviews = _merge(new[2], plan.prev_tables["reviews"], replaced - standing)
    timings["total"] = time.perf_counter() - t_start
    manifest = manifest_for(ds, plan.defs, levels, constituents, reviews, timings, skipped,
                            plan.params, grid, inputs=plan.hashes.result(), realtime=realtime,
                            derived_fixes=plan.fix_report)
    resume = plan.resume
    manifest["recalc"] = {
        "previous": str(plan.previous),
        "changes": [list(c) for c in plan.update.changes[:1000]],
        "n_changes": len(plan.update.changes),
        "recomputed": sorted(recomputed),
        "reached_from": {i: ("start" if v == FROM_START else _iso(v))
                         for i, v in sorted(plan.reached.items())},
        # Reviews run again from (SPEC §7.2); "none": every kept basket stands.
        "reviews_from": {i: ("none" if i in standing else "start"
                             if resume.get(i, NEVER) == FROM_START else _iso(resume[i])
                             if resume.get(i, NEVER) != NEVER else "none")
                         for i in sorted(rerun | standing)},
    }
    if client is not None:
        manifest["recalc"]["dask"] = {"partitions": len(parts)}
    result = BackfillResult(levels, constituents, reviews, manifest, {}, ds)
    result.state_hashes = _Done(plan.update.state)  # state/ of the new output, hashed once
    result.grid, result.grid_source = grid, plan.grid_source
    result.kept_books = tuple(
        pa.concat_tables([_without(t, rerun), *(p[k].cast(t.schema) for p in parts)])
        for k, t in ((3, plan.baskets), (4, plan.rows)))
    result.reads = _merge_reads(plan.prev_reads,
                                pa.concat_tables([p[5] for p in parts]) if parts else None,
                                plan.rerun, resume)
    if not plan.rerun:  # no review ran again: the kept books and reads stand as they are
        state = plan.previous / "state"
        result.same_state = {n: state / n for n in ("baskets.parquet", "rows.parquet",
                                                    "reads.parquet") if (state / n).exists()}
    from daix.engine.diff import diff

    outputs = {"levels": levels, "constituents": constituents, "reviews": reviews}
    return RecalcResult(result, diff(plan.prev_tables, outputs, indices=replaced),
                        plan.reached, plan.update.changes)


def _parts_on_cluster(plan, data: Any, client: Any) -> list[tuple]:
    """The rerun groups on the cluster's workers (:func:`rerun_part_tables`)."""
    from daix.distributed import data_root, index_groups, prepare_workers, run_partitions
    from daix.engine.recalc_plan import rerun_part_tables

    root = data_root(data)
    prepare_workers(client)
    groups = index_groups(plan.rerun)
    return run_partitions(client, rerun_part_tables,
                          [(root, str(plan.previous.resolve()), g) for g in groups], "recalc")


def _merge_reads(previous, new, rerun: list, resume: dict[str, float]):
    """The reads of the new ``state/``: the kept steps' and those that ran again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from daix.engine.reads import GRAYSCALE

    if previous is None:
        return new
    keep = previous
    for d in rerun:
        if d.family == "grayscale":  # rerun whole
            keep = keep.filter(pc.not_equal(keep.column("index"), GRAYSCALE))
            continue
        cut = resume.get(d.id, NEVER)
        drop = pc.equal(keep.column("index"), d.id)
        if cut != FROM_START:
            drop = pc.and_(drop, pc.greater_equal(keep.column("step"), int(min(cut, 2**62))))
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


def check_out_dir(out_dir: str | Path, previous: str | Path,
                  data_dir: str | Path | None = None) -> None:
    """Refuse an output directory that is the previous one, holds it or lies inside it: a
    recalc never touches the previous output (SPEC §7.1), and writing the new one replaces
    whatever is at ``out_dir``, so it must not be or hold ``data_dir`` either."""
    out, prev = Path(out_dir).resolve(), Path(previous).resolve()
    if out == prev or out in prev.parents or prev in out.parents:
        raise ConfigError(f"--out {out_dir} must differ from --previous {previous}, lie outside "
                          "it and not hold it: recalc never touches the previous output "
                          "(SPEC §7.1)")
    if data_dir is not None:
        from daix.writing import check_output_dir

        check_output_dir(out_dir, [data_dir])


def write_recalc(res: RecalcResult, out_dir: str | Path, previous: str | Path) -> Path:
    """Write the new output directory (never the previous one) with ``diff.parquet``."""
    import pyarrow.parquet as pq

    from daix.engine.outputs import write_backfill

    check_out_dir(out_dir, previous)
    return write_backfill(res.result, out_dir,
                          extra=lambda tmp: pq.write_table(res.diff, tmp / "diff.parquet"))


__all__ = ["RecalcResult", "check_out_dir", "reach", "recalc", "write_recalc"]
