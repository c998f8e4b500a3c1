"""The output directory of a backfill (SPEC §6.3): levels, constituents, reviews and manifest,
written under a temporary name and renamed into place only when complete (SPEC §6.2).
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import platform
from pathlib import Path

import numpy as np

from daix import __version__
from daix.io import DataSet
from daix.memory import gc_paused
from daix.schemas import INPUTS, arrow_schema
from daix.timeutil import ns_to_iso
from daix.writing import atomic_output_dir

FIRM, INDICATIVE = "firm", "indicative"


@gc_paused()
def build_tables(series: list, books: dict, start_ns: int | None, end_ns: int | None):
    """Arrow tables of SPEC §6.3 from level series and review books."""
    import pyarrow as pa

    from daix.catalogue import CATALOGUE

    # Canonical order: catalogue order of the indices, then time. A run split by index (or
    # merged from partitions) gives the same tables.
    position = {iid: k for k, iid in enumerate(CATALOGUE)}
    series = sorted(series, key=lambda s: position.get(s.index, len(position)))
    books = dict(sorted(books.items(), key=lambda kv: position.get(kv[0], len(position))))
    ts_type = pa.timestamp("ns", tz="UTC")
    parts = []
    for s in series:
        keep = np.ones(len(s.ts), dtype=bool)
        if start_ns is not None:
            keep &= s.ts >= start_ns
        if end_ns is not None:
            keep &= s.ts <= end_ns
        n = int(keep.sum())
        # Text columns built as dictionary arrays (one value, two values) and decoded by
        # Arrow: no Python string per row.
        index = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                               pa.array([s.index], pa.string()))
        status = pa.DictionaryArray.from_arrays(
            pa.array(s.indicative[keep].astype(np.int32)),
            pa.array([FIRM, INDICATIVE], pa.string()))
        parts.append(pa.table({
            "index": index.cast(pa.string()),
            "ts": pa.array(s.ts[keep], ts_type),
            "level": pa.array(s.level[keep], pa.float64()),
            "divisor": pa.array(s.divisor[keep], pa.float64()),
            "status": status.cast(pa.string()),
        }))
    levels_schema = arrow_schema("levels", outputs=True)
    levels = (pa.concat_tables(parts).cast(levels_schema) if parts
              else levels_schema.empty_table())

    names = ("index", "effective", "asset", "rank", "market_value", "supply", "factor",
             "weight")
    records = [(s.index, s.first, s.asset, 1, None, None, 1.0, 1.0) for s in series
               if s.asset is not None and s.first is not None]  # single asset (SPEC §8.6)
    for book in books.values():
        for b in book.baskets:
            rank, mv, supply, factor, weight = (b.rank, b.market_value, b.supply, b.factor,
                                                b.weight)
            records += [(b.index, b.effective, a, rank.get(a), mv[a], supply[a], factor[a],
                         weight[a])
                        for a in sorted(b.members, key=lambda x: (rank.get(x, 0), x))]
    records.sort(key=lambda r: position.get(r[0], len(position)))  # stable: keeps order
    columns = list(zip(*records, strict=True)) if records else [()] * len(names)
    constituents = pa.table(dict(zip(names, map(list, columns), strict=True)),
                            schema=arrow_schema("constituents", outputs=True))

    fields = ("index", "review", "asset", "action", "reason")
    get = operator.attrgetter(*fields)
    records = [get(r) for book in books.values() for r in book.rows]
    columns = list(zip(*records, strict=True)) if records else [()] * len(fields)
    reviews = pa.table(dict(zip(fields, map(list, columns), strict=True)),
                       schema=arrow_schema("reviews", outputs=True))
    return levels, constituents, reviews


def _table_hash(table) -> str:
    """32 hex digits (blake2b) over an in-memory table's Arrow buffers."""
    h = hashlib.blake2b(digest_size=16)
    for batch in table.to_batches():
        for col in batch.columns:
            for buf in col.buffers():
                if buf is not None:
                    h.update(buf)
    return h.hexdigest()


class InputHashes:
    """Content hashes of the input tables (SPEC §6.3): for a file, the 128-bit digest of all
    its bytes that a recalc compares (:func:`daix.engine.digests.content_digest`), computed in
    a background thread from construction on; :meth:`result` waits for them.

    With ``start=False`` (a recalc) nothing starts: :meth:`result` takes the digests from the
    file descriptions the recalc made anyway (:meth:`DataSet.parts`)."""

    def __init__(self, ds: DataSet, start: bool = True) -> None:
        self.ds = ds
        self.files = {name: ds.path(name) for name in INPUTS if ds.has(name)}
        self._future = None
        if start:
            from daix.background import in_background

            self._future = in_background(self._compute, name="hash")

    def _compute(self) -> dict[str, dict]:
        from daix.engine.digests import content_digest

        out = {}
        for name, path in self.files.items():
            if path is not None:
                parts = self.ds.parts(name) if path.is_file() else None
                out[name] = {"file": str(path), "digest": content_digest(path, parts)}
            else:
                table = self.ds.table(name)
                out[name] = {"file": None, "digest": _table_hash(table), "rows": table.num_rows}
        return out

    def result(self) -> dict[str, dict]:
        return self._future.result() if self._future is not None else self._compute()


def input_hashes(ds: DataSet) -> dict[str, dict]:
    """Content hashes of the input tables (files, or the in-memory tables' Arrow data)."""
    return InputHashes(ds).result()


def manifest_for(ds: DataSet, defs, levels, constituents, reviews, timings: dict,
                 skipped: dict, params: dict, grid, inputs: dict | None = None,
                 realtime: dict | None = None, derived_fixes: dict | None = None) -> dict:
    """The manifest of SPEC §6.3: inputs with hashes, parameters, version, counts, timings.

    Row counts of the prices (SPEC §8.2): ``price_rows`` of the hourly grid and, when the
    real-time stream was read, ``realtime_rows`` of the 15s window; ``derived_fixes`` is the
    report of fixes derived from trades (SPEC §2.3: trades rejected by reason).

    ``inputs`` are the hashes of :class:`InputHashes` when already computed."""
    import pyarrow.compute as pc

    per_index: dict[str, dict] = {}
    if levels.num_rows:
        counts = levels.group_by("index").aggregate([([], "count_all")])
        for i, n in zip(counts.column("index").to_pylist(),
                        counts.column("count_all").to_pylist(), strict=True):
            per_index[i] = {"levels": n}
        ind = levels.filter(pc.equal(levels.column("status"), INDICATIVE))
        if ind.num_rows:
            c2 = ind.group_by("index").aggregate([([], "count_all")])
            for i, n in zip(c2.column("index").to_pylist(), c2.column("count_all").to_pylist(),
                            strict=True):
                per_index[i]["indicative"] = n
    return {
        "daix_version": __version__,
        "python": platform.python_version(),
        "parameters": params,
        "inputs": inputs if inputs is not None else input_hashes(ds),
        "data": {
            "grid_start": ns_to_iso(grid.grid_start) if grid is not None else None,
            "grid_end": ns_to_iso(grid.grid_end) if grid is not None else None,
            "price_rows": grid.counts if grid is not None else {},
            **({"realtime_rows": realtime} if realtime is not None else {}),
        },
        **({"derived_fixes": derived_fixes} if derived_fixes is not None else {}),
        "counts": {
            "indices": len(defs),
            "levels": levels.num_rows,
            "constituents": constituents.num_rows,
            "reviews": reviews.num_rows,
            "per_index": per_index,
        },
        "skipped": skipped,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }


def write_backfill(result, out_dir: str | os.PathLike, overwrite: bool = True,
                   extra=None) -> Path:
    """Write the SPEC §6.3 files atomically: all of them, or nothing.

    With the data set the result came from (``result.dataset``), ``state/`` is written too:
    the input hashes and review state a later ``recalc`` restarts from (SPEC §7). ``extra``
    may add files to the temporary directory before it is renamed into place.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp, ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="daix-write") as pool:
        # The three tables and the Parquet files of state/ are encoded in threads (Arrow
        # releases the GIL) while the rest of state/ is laid out here.
        writing = [pool.submit(pq.write_table, getattr(result, name), tmp / f"{name}.parquet",
                               compression="zstd")
                   for name in ("levels", "constituents", "reviews")]
        if getattr(result, "dataset", None) is not None:
            from daix.engine.state import write_state

            write_state(result, result.dataset, tmp, pool)
            result.manifest["state"] = {
                "hashes": "state/hashes.parquet (content hash per input table, key, month)",
                "part_hashes": "state/part_hashes.parquet (the same per row group of the "
                               "input files)",
                "parts": "state/parts.json (digests of every column chunk of every row group "
                         "of the input files)",
                "baskets": "state/baskets.parquet (every basket of every index: checkpoints)",
                "rows": "state/rows.parquet (review rows with the E that wrote them)",
                "reads": "state/reads.parquet (the prices each review step read)",
                "grid": "state/grid.json, state/grid.npy or grid_<window>.npy (hourly price "
                        "matrices; grid_<window>.cells.npz: cells changed since)",
            }
        for job in writing:
            job.result()  # raises a writer's error here, before the directory is renamed
        if extra is not None:
            extra(tmp)
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, indent=2, default=str))
    return Path(out_dir)
