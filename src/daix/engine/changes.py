"""What changed in the inputs since a previous run, decoding only what differs (SPEC §7.2).

The previous run kept, per input file, the digests of its parts (row groups, see
:mod:`daix.engine.digests`) and the slice hashes of each part. The new files are described the
same way; a new part with the digests of a kept part reuses that part's slice hashes; only the
others are read (one row group at a time), validated and hashed. Since a slice's hash is the
sum of its parts' (modulo 2**64), the slices that changed are exactly those whose hashes in the
parts that went away and the parts that came differ in sum: nothing else is compared.

A table whose file is not a single Parquet file, or whose schema changed, or that the previous
run kept no parts for, is hashed whole as a backfill does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daix.engine.digests import FileParts
from daix.engine.state import (
    HASH_LAYOUT,
    InputState,
    TableState,
    _wrap,
    hash_rows_table,
    hashes_table,
    table_hashes,
    table_state,
)
from daix.io import DataSet

#: The prices columns that place a row in the price matrices (SPEC §6.1).
PRICE_KEYS = ("ts", "asset", "window")


@dataclass
class Update:
    """The new data's slice hashes, what changed, and the pieces read to find out."""

    state: InputState
    changes: list[tuple[str, str, str]]
    #: (table, key, month) -> hash of the universe and lists slices, before and after (the
    #: first month on record matters to :func:`daix.engine.recalc.reach`).
    old_lists: dict[tuple[str, str, str], int]
    new_lists: dict[tuple[str, str, str], int]
    #: The changed row groups of the prices table, validated, when only their prices changed
    #: (every row keeps its instant, asset and window): a kept price matrix can be patched.
    prices_patch: list[Any] | None = None
    #: Tables whose file is byte for byte the previous one.
    same_files: set[str] = field(default_factory=set)
    #: Tables read whole (no usable parts).
    read_whole: list[str] = field(default_factory=list)


def _rows(table) -> list[tuple[str, str, str, int]]:
    cols = [table.column(c).to_pylist() for c in ("table", "key", "month", "hash")]
    return list(zip(*cols, strict=True))


def _read_part(ds: DataSet, name: str, part: int):
    """Row group ``part`` of a table's Parquet file, validated as :meth:`DataSet.table`
    validates the whole table (text columns dictionary-encoded for prices)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from daix.io import _spec, conform

    path = ds.path(name)
    spec = _spec(name)
    stored = pq.read_schema(str(path))
    columns = [c for c in spec.names if c in stored.names]
    text = [c for c in columns if pa.types.is_string(stored.field(c).type)
            or pa.types.is_large_string(stored.field(c).type)]
    pf = pq.ParquetFile(str(path), read_dictionary=text if name == "prices" else None)
    raw = pf.read_row_group(part, columns=columns)
    return conform(raw, spec, ds.label(name), keep_dictionary=name == "prices")


def _split_by_table(table) -> dict[str, Any]:
    """The rows of a (table, ...) table per value of its ``table`` column: zero-copy slices
    when each table's rows are together (as written), else gathered by a stable sort."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return {}
    codes = pc.dictionary_encode(table.column("table")).combine_chunks()
    idx = codes.indices.to_numpy(zero_copy_only=False)
    names = codes.dictionary.to_pylist()
    bounds = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1], True])
    if len(bounds) - 1 == len(names):  # one run per table
        return {names[idx[lo]]: table.slice(lo, hi - lo)
                for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)}
    order = np.argsort(idx, kind="stable")
    ends = np.searchsorted(idx[order], np.arange(len(names) + 1))
    return {name: table.take(pa.array(order[ends[k]:ends[k + 1]]))
            for k, name in enumerate(names)}


def _table_update(ds: DataSet, name: str, old_parts: FileParts | None, old_ph,
                  old_merged_rows) -> tuple[TableState, list, list, list | None, bool]:
    """(new state, removed rows, added rows, changed prices row groups or None, same file)
    of one table; removed / added are (table, key, month, hash) rows whose sums differ."""
    import pyarrow as pa
    import pyarrow.compute as pc

    new_parts = ds.parts(name)
    usable = (new_parts is not None and old_parts is not None and old_ph is not None
              and new_parts.kind == old_parts.kind and new_parts.schema == old_parts.schema
              and new_parts.columns == old_parts.columns
              and (new_parts.kind == "parquet" or new_parts.same_file(old_parts)))
    if not usable:
        fresh = table_state(name, ds)
        removed = _rows(old_ph) if old_ph is not None else old_merged_rows
        return fresh, removed, _rows(fresh.part_hashes), None, False
    assert new_parts is not None and old_parts is not None
    pool: dict[tuple, list[int]] = defaultdict(list)
    for k in range(len(old_parts.rows)):
        pool[old_parts.key(k)].append(k)
    mapping = np.full(len(old_parts.rows), -1, dtype=np.int64)  # old part -> new part
    fresh_parts: list[int] = []
    old_first = np.cumsum([0, *old_parts.rows])
    new_first = np.cumsum([0, *new_parts.rows])
    for g in range(len(new_parts.rows)):
        free = pool.get(new_parts.key(g))
        if free and name == "trades":
            # a trades part's hashes hold its rows' positions: reused only where it was
            free = [k for k in free if old_first[k] == new_first[g]]
        if free:
            k = free[0]
            pool[new_parts.key(g)].remove(k)
            mapping[k] = g
        else:
            fresh_parts.append(g)
    gone = [int(k) for k in np.flatnonzero(mapping < 0)]
    # Kept parts' hashes, renumbered to their new positions.
    old_part_col = old_ph.column("part").to_numpy()
    kept = old_ph.filter(pa.array(mapping[old_part_col] >= 0))
    kept = kept.set_column(kept.schema.get_field_index("part"), "part",
                           pa.array(mapping[kept.column("part").to_numpy()].astype(np.int32)))
    removed = _rows(old_ph.filter(pc.is_in(old_ph.column("part"),
                                           value_set=pa.array(gone, pa.int32())))) if gone else []
    added: list[tuple[str, str, str, int]] = []
    where: list[int] = []
    pieces = []
    for g in fresh_parts:
        piece = _read_part(ds, name, g)
        pieces.append(piece)
        got = table_hashes(name, piece, int(new_first[g]))
        added += got
        where += [g] * len(got)
    ph = pa.concat_tables([kept, hash_rows_table(added, where)]) if added else kept
    patch = None
    if name == "prices" and sorted(gone) == fresh_parts and all(
            old_parts.rows[g] == new_parts.rows[g]
            and all(old_parts.column_digest(g, c) == new_parts.column_digest(g, c)
                    for c in PRICE_KEYS if c in new_parts.columns)
            for g in fresh_parts):
        patch = pieces
    return TableState(name, new_parts, ph), removed, added, patch, new_parts.same_file(old_parts)


def update_state(ds: DataSet, old_merged, old_parts: dict[str, FileParts | None],
                 old_part_hashes) -> Update:
    """The new data's :class:`InputState` and the slices that changed (SPEC §7.2)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tables: dict[str, TableState] = {}
    delta: dict[tuple[str, str, str], int] = defaultdict(int)
    patch = None
    same: set[str] = set()
    whole: list[str] = []
    merged_by = _split_by_table(old_merged)
    parts_by = _split_by_table(old_part_hashes) if old_part_hashes is not None else {}
    for name in HASH_LAYOUT:
        if not ds.has(name):
            if name in merged_by:  # the table went away: every slice of it changed
                for t, k, m, h in _rows(merged_by[name]):
                    delta[t, k, m] -= h
            continue
        old_ph = None
        if old_part_hashes is not None and name in old_parts:
            old_ph = parts_by.get(name, old_part_hashes.schema.empty_table())
        old_rows = _rows(merged_by[name]) if old_ph is None and name in merged_by else []
        state, removed, added, piece_patch, same_file = _table_update(
            ds, name, old_parts.get(name), old_ph, old_rows)
        tables[name] = state
        if state.parts is None or old_ph is None or old_parts.get(name) is None:
            whole.append(name)
        if same_file:
            same.add(name)
        if name == "prices":
            patch = piece_patch
        for t, k, m, h in removed:
            delta[t, k, m] -= h
        for t, k, m, h in added:
            delta[t, k, m] += h
    touched = {key: _wrap(d) for key, d in delta.items() if _wrap(d)}
    # The new merged hashes: the old ones with the touched slices replaced, table by table
    # (only the rows of a touched key are looked at).
    now: list[tuple[str, str, str, int]] = []
    pieces = []
    touched_tables = {t for t, _, _ in touched}
    for name, part in merged_by.items():
        if name not in touched_tables:
            pieces.append(part)
            continue
        mine = {(k, m): d for (t, k, m), d in touched.items() if t == name}
        candidates = np.flatnonzero(pc.is_in(part.column("key"), value_set=pa.array(
            sorted({k for k, _ in mine}), pa.string())).to_numpy(zero_copy_only=False))
        cand = part.take(pa.array(candidates, pa.int64()))
        hit = np.zeros(part.num_rows, dtype=bool)
        before: dict[tuple[str, str], int] = {}
        for j, k, m, h in zip(candidates.tolist(), *(cand.column(c).to_pylist()
                                                      for c in ("key", "month", "hash")),
                              strict=True):
            if (k, m) in mine:
                hit[j] = True
                before[k, m] = h
        updated = [(name, k, m, _wrap(before.get((k, m), 0) + d)) for (k, m), d in mine.items()]
        now += updated
        # The table's rows stay together (the next recalc splits them without a sort).
        pieces += [part.filter(pa.array(~hit)), hashes_table([r for r in updated if r[3]])]
    for name in touched_tables - set(merged_by):  # a table new in the data
        updated = [(t, k, m, d) for (t, k, m), d in touched.items() if t == name]
        now += updated
        pieces.append(hashes_table(updated))
    merged = pa.concat_tables(pieces) if touched else old_merged
    changes = sorted(touched)
    small = ("universe", "lists")
    old_lists = {(t, k, m): h for t, k, m, h in _rows(old_merged.filter(
        pc.is_in(old_merged.column("table"), value_set=pa.array(small))))}
    new_lists = dict(old_lists)
    for t, k, m, h in now:
        if t in small:
            if h:
                new_lists[t, k, m] = h
            else:
                new_lists.pop((t, k, m), None)
    return Update(InputState(tables, merged), changes, old_lists, new_lists, patch, same, whole)
