"""The output directory of a backfill (SPEC §6.3): levels, constituents, reviews and manifest,
written under a temporary name and renamed into place only when complete (SPEC §6.2).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np

from daix import __version__
from daix.io import DataSet, atomic_output_dir
from daix.schemas import INPUTS, arrow_schema
from daix.timeutil import ns_to_iso

FIRM, INDICATIVE = "firm", "indicative"


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
        status = np.where(s.indicative[keep], INDICATIVE, FIRM)
        parts.append(pa.table({
            "index": pa.array([s.index] * n, pa.string()),
            "ts": pa.array(s.ts[keep], ts_type),
            "level": pa.array(s.level[keep], pa.float64()),
            "divisor": pa.array(s.divisor[keep], pa.float64()),
            "status": pa.array(status, pa.string()),
        }))
    levels_schema = arrow_schema("levels", outputs=True)
    levels = (pa.concat_tables(parts).cast(levels_schema) if parts
              else levels_schema.empty_table())

    rows: dict[str, list] = {k: [] for k in ("index", "effective", "asset", "rank",
                                             "market_value", "supply", "factor", "weight")}
    for s in series:
        if s.asset is not None and s.first is not None:  # single asset: one row (SPEC §8.6)
            for k, v in (("index", s.index), ("effective", s.first), ("asset", s.asset),
                         ("rank", 1), ("market_value", None), ("supply", None),
                         ("factor", 1.0), ("weight", 1.0)):
                rows[k].append(v)
    for book in books.values():
        for b in book.baskets:
            for a in sorted(b.members, key=lambda x: (b.rank.get(x, 0), x)):
                for k, v in (("index", b.index), ("effective", b.effective), ("asset", a),
                             ("rank", b.rank.get(a)), ("market_value", b.market_value[a]),
                             ("supply", b.supply[a]), ("factor", b.factor[a]),
                             ("weight", b.weight[a])):
                    rows[k].append(v)
    constituents = pa.table(rows, schema=arrow_schema("constituents", outputs=True))

    review_rows: dict[str, list] = {k: [] for k in ("index", "review", "asset", "action",
                                                    "reason")}
    for book in books.values():
        for r in book.rows:
            for k in review_rows:
                review_rows[k].append(getattr(r, k))
    reviews = pa.table(review_rows, schema=arrow_schema("reviews", outputs=True))
    return levels, constituents, reviews


def file_hash(path: Path) -> str:
    """sha256 of a file, or of every file below a directory in name order."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def input_hashes(ds: DataSet) -> dict[str, dict]:
    """Content hashes of the input tables (files, or the in-memory tables' Arrow data)."""
    out = {}
    for name in INPUTS:
        if not ds.has(name):
            continue
        path = ds.path(name)
        if path is not None:
            out[name] = {"file": str(path), "sha256": file_hash(path)}
        else:
            table = ds.table(name)
            h = hashlib.sha256()
            for batch in table.to_batches():
                for col in batch.columns:
                    for buf in col.buffers():
                        if buf is not None:
                            h.update(buf)
            out[name] = {"file": None, "sha256": h.hexdigest(), "rows": table.num_rows}
    return out


def manifest_for(ds: DataSet, defs, levels, constituents, reviews, timings: dict,
                 skipped: dict, params: dict, grid) -> dict:
    """The manifest of SPEC §6.3: inputs with hashes, parameters, version, counts, timings."""
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
        "inputs": input_hashes(ds),
        "data": {
            "grid_start": ns_to_iso(grid.grid_start) if grid is not None else None,
            "grid_end": ns_to_iso(grid.grid_end) if grid is not None else None,
            "price_rows": grid.counts if grid is not None else {},
        },
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


def write_backfill(result, out_dir: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write the SPEC §6.3 files atomically: all of them, or nothing."""
    import pyarrow.parquet as pq

    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        for name in ("levels", "constituents", "reviews"):
            pq.write_table(getattr(result, name), tmp / f"{name}.parquet", compression="zstd")
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, indent=2, default=str))
    return Path(out_dir)
